"""Certificate signing requests brought to a signing ceremony.

:func:`parse_csr` turns the bytes of one file into exactly one CSR whose
self-signature verifies. :func:`check_csr` applies a :class:`CsrPolicy` and
returns the :class:`CsrReview` the custodians compare with what the requester
reads aloud. Nothing from a CSR is copied into a certificate here: the profile
takes the public key and decides about the subject and every extension itself.

Every refusal is an :class:`~ceremony.errors.InputError` (the file is not one
well-formed, correctly self-signed CSR) or a
:class:`~ceremony.errors.PolicyError` (it is, but the policy refuses it), with
a one-line message that starts with the file's name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtensionOID, NameOID

from ceremony import text
from ceremony.errors import InputError, PolicyError
from ceremony.pgpwords import words
from ceremony.x509 import weakkeys
from ceremony.x509.countries import country_problem
from ceremony.x509.profiles import CA_SUBJECT_ATTRIBUTES

MAX_CSR_BYTES = 1 << 20
"""Largest CSR file accepted; a real CSR is a few kilobytes."""

SIGNATURE_HASHES = frozenset({"sha256", "sha384", "sha512"})
"""Hashes accepted in a CSR's self-signature (Ed25519 signs without a separate hash)."""

_PEM_LABELS = (b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([ -~]*?)-----\r?\n(.*?)-----END ([ -~]*?)-----[ \t]*(?:\r?\n)?", re.S
)
_PEM_BEGIN = re.compile(rb"-----BEGIN [ -~]*?-----")

_OID_RSA = "1.2.840.113549.1.1.1"
_OID_EC = "1.2.840.10045.2.1"
_OID_ED25519 = "1.3.101.112"

_CURVE_NAMES = {
    "secp192r1": "P-192",
    "secp224r1": "P-224",
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
}

_ATTRIBUTE_NAMES = {
    "2.5.4.3": "commonName",
    "2.5.4.4": "surname",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "countryName",
    "2.5.4.7": "localityName",
    "2.5.4.8": "stateOrProvinceName",
    "2.5.4.9": "streetAddress",
    "2.5.4.10": "organizationName",
    "2.5.4.11": "organizationalUnitName",
    "2.5.4.12": "title",
    "2.5.4.17": "postalCode",
    "2.5.4.42": "givenName",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "2.5.4.97": "organizationIdentifier",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "domainComponent",
    "0.9.2342.19200300.100.1.1": "userId",
}

# RFC 5280 appendix A upper bounds, in characters.
_UPPER_BOUNDS = {
    "2.5.4.3": 64,
    "2.5.4.5": 64,
    "2.5.4.6": 2,
    "2.5.4.7": 128,
    "2.5.4.8": 128,
    "2.5.4.10": 64,
    "2.5.4.11": 64,
    "2.5.4.12": 64,
    "2.5.4.17": 40,
    "2.5.4.65": 128,
    "1.2.840.113549.1.9.1": 255,
    "0.9.2342.19200300.100.1.25": 63,
}

_IA5_ATTRIBUTES = frozenset({"1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25"})

_TAG_UTF8 = 0x0C
_TAG_PRINTABLE = 0x13
_TAG_IA5 = 0x16
_STRING_TAG_NAMES = {
    0x0C: "UTF8String",
    0x12: "NumericString",
    0x13: "PrintableString",
    0x14: "TeletexString",
    0x15: "VideotexString",
    0x16: "IA5String",
    0x19: "GraphicString",
    0x1A: "VisibleString",
    0x1B: "GeneralString",
    0x1C: "UniversalString",
    0x1E: "BMPString",
}
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")

_EXTENSION_NAMES = {
    ExtensionOID.BASIC_CONSTRAINTS: "basicConstraints",
    ExtensionOID.KEY_USAGE: "keyUsage",
    ExtensionOID.EXTENDED_KEY_USAGE: "extendedKeyUsage",
    ExtensionOID.SUBJECT_KEY_IDENTIFIER: "subjectKeyIdentifier",
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: "authorityKeyIdentifier",
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME: "subjectAltName",
    ExtensionOID.NAME_CONSTRAINTS: "nameConstraints",
    ExtensionOID.CERTIFICATE_POLICIES: "certificatePolicies",
    ExtensionOID.CRL_DISTRIBUTION_POINTS: "cRLDistributionPoints",
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS: "authorityInfoAccess",
    ExtensionOID.POLICY_CONSTRAINTS: "policyConstraints",
    ExtensionOID.INHIBIT_ANY_POLICY: "inhibitAnyPolicy",
}

_KEY_USAGES = (
    ("digitalSignature", "digital_signature"),
    ("contentCommitment", "content_commitment"),
    ("keyEncipherment", "key_encipherment"),
    ("dataEncipherment", "data_encipherment"),
    ("keyAgreement", "key_agreement"),
    ("keyCertSign", "key_cert_sign"),
    ("cRLSign", "crl_sign"),
)

DEFAULT_ALLOWED_EXTENSIONS = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    }
)


@dataclass(frozen=True)
class CsrPolicy:
    """What a CSR may contain to be considered for signing by the root."""

    rsa_min_bits: int = 3072
    """Smallest RSA modulus accepted."""
    rsa_max_bits: int = 8192
    """Largest RSA modulus accepted."""
    rsa_exponents: frozenset[int] = frozenset({65537})
    """Accepted RSA public exponents."""
    ec_curves: frozenset[str] = frozenset({"P-256", "P-384"})
    """Accepted named curves, by NIST name (P-256, P-384, P-521)."""
    allow_ed25519: bool = False
    """Whether an Ed25519 key is accepted."""
    max_subject_length: int = 512
    """Largest DER encoding of the subject name, in bytes."""
    max_extensions: int = 16
    """Most extensions a CSR may request."""
    allowed_extensions: frozenset[x509.ObjectIdentifier] = DEFAULT_ALLOWED_EXTENSIONS
    """Extensions a CSR may request. Allowing one does not copy it: the profile decides."""
    max_path_length: int | None = 0
    """Largest pathLen a CSR may ask for with CA:TRUE (``None``: any). The profile sets its own."""
    forbidden_spki_sha256: frozenset[str] = frozenset()
    """SHA-256 (hex) of SubjectPublicKeyInfos that must not be certified again:
    the root's and every key the root already certified."""
    allowed_attributes: frozenset[str] = CA_SUBJECT_ATTRIBUTES
    """Dotted OIDs of the subject attribute types a CSR may use (the profile's list)."""
    forbidden_subject: bytes | None = None
    """DER of a subject no CSR may take: the root's own (compared as RFC 5280 name matching
    does, case and spacing folded)."""

    def __post_init__(self) -> None:
        if self.rsa_min_bits < 2048 or self.rsa_max_bits < self.rsa_min_bits:
            raise ValueError("rsa_min_bits must be at least 2048 and at most rsa_max_bits")
        if not self.rsa_exponents or any(e < 3 or e % 2 == 0 for e in self.rsa_exponents):
            raise ValueError("rsa_exponents must be odd numbers of at least 3")
        unknown = set(self.ec_curves) - set(_CURVE_NAMES.values())
        if unknown:
            raise ValueError(f"unknown curve names: {', '.join(sorted(unknown))}")
        if self.max_subject_length < 1 or self.max_extensions < 0:
            raise ValueError("max_subject_length must be positive, max_extensions not negative")
        if self.max_path_length is not None and self.max_path_length < 0:
            raise ValueError("max_path_length must not be negative")
        for digest in self.forbidden_spki_sha256:
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"forbidden_spki_sha256: {digest!r} is not lowercase SHA-256 hex")


@dataclass(frozen=True)
class RequestedExtension:
    """One extension a CSR asks for, as shown to the custodians."""

    name: str
    oid: str
    critical: bool
    value: str


@dataclass(frozen=True)
class CsrReview:
    """What the custodians check before the root signs a CSR."""

    source: str
    subject: str
    """RFC 4514 string of the requested subject."""
    key_description: str
    """For example ``ECDSA P-384`` or ``RSA 4096``."""
    requested_extensions: tuple[RequestedExtension, ...]
    csr_sha256: str
    """SHA-256 (hex) of the CSR file as brought (of its DER if no file bytes were given)."""
    spki_sha256: str
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo; equals
    ``openssl req -in F -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum``."""
    csr_sha256_words: str = field(init=False)
    spki_sha256_words: str = field(init=False)
    confirmation_phrase: str = field(init=False)
    """The exact text the operator types to approve signing."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "csr_sha256_words", words(bytes.fromhex(self.csr_sha256)))
        object.__setattr__(self, "spki_sha256_words", words(bytes.fromhex(self.spki_sha256)))
        object.__setattr__(self, "confirmation_phrase", f"sign {self.spki_sha256[:8]}")

    def is_confirmed(self, typed: str) -> bool:
        """Return whether ``typed`` is the confirmation phrase (surrounding blanks ignored)."""
        return typed.strip() == self.confirmation_phrase

    def lines(self) -> list[str]:
        """Return the review as lines of text for a terminal or a transcript."""
        out = [
            f"CSR file:      {self.source}",
            f"Subject:       {self.subject}",
            f"Key:           {self.key_description}",
            f"CSR SHA-256:   {self.csr_sha256}",
            f"               {self.csr_sha256_words}",
            f"Key SHA-256:   {self.spki_sha256}",
            f"               {self.spki_sha256_words}",
        ]
        if not self.requested_extensions:
            out.append("Requested extensions: none")
        else:
            out.append("Requested extensions (the profile decides what the certificate gets):")
            for ext in self.requested_extensions:
                flag = "critical" if ext.critical else "non-critical"
                out.append(f"  {ext.name} ({flag}): {ext.value}")
        out.append(f"To sign, type exactly: {self.confirmation_phrase}")
        return out


def spki_sha256(key: CertificatePublicKeyTypes) -> str:
    """Return the SHA-256 (hex) of the DER SubjectPublicKeyInfo of ``key``."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def parse_csr(data: bytes, source: str) -> x509.CertificateSigningRequest:
    """Parse exactly one PEM or DER CSR from ``data`` and verify its self-signature.

    :raises InputError: not exactly one well-formed CSR (garbage, truncated,
        several blocks, trailing data, too large).
    :raises PolicyError: the self-signature does not verify, or the key cannot
        be used (explicit curve parameters, unsupported algorithm).
    """
    if len(data) > MAX_CSR_BYTES:
        raise InputError(f"{source}: {len(data)} bytes, larger than the {MAX_CSR_BYTES} allowed")
    if not data.strip():
        raise InputError(f"{source}: the file is empty")
    der = _der_of(data, source)
    try:
        _single_tlv(der)
    except _DerError as ex:
        raise InputError(f"{source}: not a DER CSR: {ex}") from ex
    try:
        csr = x509.load_der_x509_csr(der)
    except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm) as ex:
        raise InputError(f"{source}: not a valid CSR: {_first_line(ex)}") from ex
    _check_spki_algorithm(csr, source)
    _check_signature_hash(csr, source)
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm) as ex:
        raise PolicyError(
            f"{source}: the self-signature cannot be checked: {_first_line(ex)}"
        ) from ex
    if not valid:
        raise PolicyError(f"{source}: the CSR's self-signature is invalid")
    return csr


def check_csr(
    csr: x509.CertificateSigningRequest,
    policy: CsrPolicy,
    source: str,
    *,
    file_bytes: bytes | None = None,
) -> CsrReview:
    """Apply ``policy`` to a parsed CSR and return the review for the custodians.

    ``file_bytes`` are the bytes of the file as brought, for ``csr_sha256``.

    :raises PolicyError: the CSR violates the policy; the message names the reason.
    """
    _check_spki_algorithm(csr, source)
    _check_signature_hash(csr, source)
    key = _public_key(csr, source)
    description = _check_key(key, policy, source)
    spki = spki_sha256(key)
    if spki in policy.forbidden_spki_sha256:
        raise PolicyError(
            f"{source}: the public key (SPKI SHA-256 {spki[:16]}...) is the root's or was "
            "already certified; a new CSR needs a new key"
        )
    _check_subject(csr, policy, source)
    _check_subject_names(csr, policy, source)
    requested = _check_extensions(csr, policy, source)
    try:
        subject = csr.subject.rfc4514_string()
    except ValueError as ex:
        raise PolicyError(f"{source}: the subject cannot be decoded: {_first_line(ex)}") from ex
    raw = file_bytes if file_bytes is not None else csr.public_bytes(serialization.Encoding.DER)
    return CsrReview(
        source=source,
        subject=subject,
        key_description=description,
        requested_extensions=requested,
        csr_sha256=hashlib.sha256(raw).hexdigest(),
        spki_sha256=spki,
    )


def load_and_check(
    data: bytes, policy: CsrPolicy, source: str
) -> tuple[x509.CertificateSigningRequest, CsrReview]:
    """:func:`parse_csr` then :func:`check_csr`, hashing the file bytes as brought."""
    csr = parse_csr(data, source)
    return csr, check_csr(csr, policy, source, file_bytes=data)


def _der_of(data: bytes, source: str) -> bytes:
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        return _pem_body(stripped, source)
    if data[:1] == b"\x30":
        return data
    if _PEM_BEGIN.search(data):
        raise InputError(f"{source}: text before the PEM block; only the CSR block is accepted")
    raise InputError(f"{source}: neither a PEM nor a DER certificate signing request")


def _pem_body(text: bytes, source: str) -> bytes:
    begins = _PEM_BEGIN.findall(text)
    if len(begins) > 1:
        raise InputError(
            f"{source}: contains {len(begins)} PEM blocks; exactly one CSR per file is accepted"
        )
    match = _PEM_BLOCK.match(text + b"\n")
    if match is None:
        raise InputError(f"{source}: truncated or malformed PEM: no END line after the BEGIN line")
    label, body, end_label = match.groups()
    if label != end_label:
        raise InputError(f"{source}: PEM BEGIN and END labels differ")
    if label not in _PEM_LABELS:
        shown = label.decode("ascii", "replace")
        raise InputError(f"{source}: PEM block is a {shown}, not a CERTIFICATE REQUEST")
    if match.end() < len(text):
        raise InputError(f"{source}: data after the PEM END line")
    if b":" in body:
        raise InputError(f"{source}: PEM headers (encrypted or annotated PEM) are not accepted")
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as ex:
        raise InputError(f"{source}: the PEM body is not valid base64: {ex}") from ex
    if not der:
        raise InputError(f"{source}: the PEM block is empty")
    return der


class _DerError(ValueError):
    pass


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Return ``(tag, content start, content end)`` of the DER element at ``pos``."""
    if pos + 2 > end:
        raise _DerError("truncated")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise _DerError("high tag numbers are not used in a CSR")
    first = buf[pos + 1]
    pos += 2
    if first == 0x80:
        raise _DerError("indefinite length (BER, not DER)")
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise _DerError("truncated or oversized length")
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise _DerError(f"truncated: an element claims {length} bytes, {end - pos} are left")
    return tag, pos, pos + length


def _single_tlv(der: bytes) -> None:
    tag, _, end = _tlv(der, 0, len(der))
    if tag != 0x30:
        raise _DerError("does not start with a SEQUENCE")
    if end != len(der):
        raise _DerError(f"{len(der) - end} bytes of trailing data after the CSR")


def _children(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    while pos < end:
        tag, content, stop = _tlv(buf, pos, end)
        yield tag, content, stop
        pos = stop


def _oid(content: bytes) -> str:
    parts: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        raise _DerError("empty OBJECT IDENTIFIER")
    first = min(parts[0] // 40, 2)
    return ".".join(str(n) for n in [first, parts[0] - 40 * first, *parts[1:]])


def _request_info(der: bytes) -> list[tuple[int, int, int]]:
    """Return the elements of CertificationRequestInfo: version, subject, SPKI, attributes."""
    _, start, end = _tlv(der, 0, len(der))
    _, info_start, info_end = _tlv(der, start, end)
    return list(_children(der, info_start, info_end))


def _check_spki_algorithm(csr: x509.CertificateSigningRequest, source: str) -> None:
    der = csr.public_bytes(serialization.Encoding.DER)
    try:
        info = _request_info(der)
        _, spki_start, spki_end = info[2]
        _, alg_start, alg_end = next(_children(der, spki_start, spki_end))
        alg = list(_children(der, alg_start, alg_end))
        oid = _oid(der[alg[0][1] : alg[0][2]])
    except (_DerError, IndexError, StopIteration) as ex:
        raise InputError(f"{source}: malformed SubjectPublicKeyInfo: {ex}") from ex
    if oid == _OID_EC:
        param_tag = alg[1][0] if len(alg) > 1 else None
        if param_tag == 0x30:
            raise PolicyError(
                f"{source}: the EC key uses explicit (non-named) curve parameters; "
                "only named curves are accepted"
            )
        if param_tag != 0x06:
            raise PolicyError(f"{source}: the EC key does not name its curve")
    elif oid not in (_OID_RSA, _OID_ED25519):
        raise PolicyError(f"{source}: public key algorithm {oid} is not accepted")


def _check_signature_hash(csr: x509.CertificateSigningRequest, source: str) -> None:
    try:
        algorithm = csr.signature_hash_algorithm
    except UnsupportedAlgorithm as ex:
        raise PolicyError(f"{source}: unsupported signature algorithm: {ex}") from ex
    if algorithm is not None and algorithm.name not in SIGNATURE_HASHES:
        raise PolicyError(
            f"{source}: the CSR is signed with {algorithm.name.upper()}; "
            f"accepted: {', '.join(sorted(h.upper() for h in SIGNATURE_HASHES))}"
        )


def _public_key(csr: x509.CertificateSigningRequest, source: str) -> CertificatePublicKeyTypes:
    try:
        return csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as ex:
        raise PolicyError(f"{source}: the public key cannot be used: {_first_line(ex)}") from ex


def _check_key(key: CertificatePublicKeyTypes, policy: CsrPolicy, source: str) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        bits = key.key_size
        if bits < policy.rsa_min_bits:
            raise PolicyError(
                f"{source}: RSA key of {bits} bits; at least {policy.rsa_min_bits} required"
            )
        if bits > policy.rsa_max_bits:
            raise PolicyError(
                f"{source}: RSA key of {bits} bits; at most {policy.rsa_max_bits} accepted"
            )
        if numbers.e not in policy.rsa_exponents:
            allowed = ", ".join(str(e) for e in sorted(policy.rsa_exponents))
            raise PolicyError(
                f"{source}: RSA public exponent {numbers.e} is not accepted (only {allowed})"
            )
        weakness = weakkeys.rsa_weakness(numbers.n)
        if weakness is not None:
            raise PolicyError(f"{source}: weak RSA key: {weakness}")
        return f"RSA {bits}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = _CURVE_NAMES.get(key.curve.name, key.curve.name)
        if curve not in policy.ec_curves:
            allowed = ", ".join(sorted(policy.ec_curves))
            raise PolicyError(f"{source}: curve {curve} is not accepted (only {allowed})")
        return f"ECDSA {curve}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        if not policy.allow_ed25519:
            raise PolicyError(f"{source}: Ed25519 keys are not enabled in this policy")
        return "Ed25519"
    raise PolicyError(f"{source}: {type(key).__name__} keys are not accepted")


def _check_subject(csr: x509.CertificateSigningRequest, policy: CsrPolicy, source: str) -> None:
    der = csr.public_bytes(serialization.Encoding.DER)
    try:
        _, subject_start, subject_end = _request_info(der)[1]
        rdns = list(_children(der, subject_start, subject_end))
        if not rdns:
            raise PolicyError(f"{source}: the subject is empty")
        for _, set_start, set_end in rdns:
            for _, atv_start, atv_end in _children(der, set_start, set_end):
                parts = list(_children(der, atv_start, atv_end))
                if len(parts) != 2 or parts[0][0] != 0x06:
                    raise _DerError("malformed attribute in the subject")
                oid = _oid(der[parts[0][1] : parts[0][2]])
                tag, start, end = parts[1]
                _check_attribute(oid, tag, der[start:end], source)
    except (_DerError, IndexError) as ex:
        raise InputError(f"{source}: malformed subject: {ex}") from ex
    length = subject_end - subject_start
    if length > policy.max_subject_length:
        raise PolicyError(
            f"{source}: the subject is {length} bytes; at most {policy.max_subject_length}"
        )


def _check_subject_names(
    csr: x509.CertificateSigningRequest, policy: CsrPolicy, source: str
) -> None:
    """One CN at most, known attribute types only, not the root's own name."""
    attrs = [a for rdn in csr.subject.rdns for a in rdn]
    for a in attrs:
        if a.oid.dotted_string not in policy.allowed_attributes:
            shown = _ATTRIBUTE_NAMES.get(a.oid.dotted_string, a.oid.dotted_string)
            raise PolicyError(
                f"{source}: subject attribute {shown} is not one the CA profile allows"
            )
    cns = [a for a in attrs if a.oid == NameOID.COMMON_NAME]
    if len(cns) > 1:
        raise PolicyError(f"{source}: the subject has {len(cns)} commonNames; at most one")
    if policy.forbidden_subject is not None and same_name(
        csr.subject.public_bytes(), policy.forbidden_subject
    ):
        raise PolicyError(
            f"{source}: the subject {csr.subject.rfc4514_string()!r} is the root's own name;"
            " an intermediate needs a name of its own"
        )


def same_name(a_der: bytes, b_der: bytes) -> bool:
    """Whether two DER names match as RFC 5280 compares them (RFC 4518 preparation)."""
    from asn1crypto import x509 as asn1_x509

    try:
        return bool(asn1_x509.Name.load(a_der) == asn1_x509.Name.load(b_der))
    except ValueError:
        return a_der == b_der


def _check_attribute(oid: str, tag: int, raw: bytes, source: str) -> None:
    name = _ATTRIBUTE_NAMES.get(oid, oid)
    allowed = {_TAG_UTF8, _TAG_PRINTABLE}
    if oid in _IA5_ATTRIBUTES:
        allowed = {_TAG_IA5}
    elif oid == NameOID.COUNTRY_NAME.dotted_string:
        allowed = {_TAG_PRINTABLE}
    if tag not in allowed:
        got = _STRING_TAG_NAMES.get(tag, f"tag 0x{tag:02x}")
        want = " or ".join(sorted(_STRING_TAG_NAMES[t] for t in allowed))
        raise PolicyError(f"{source}: subject {name} is a {got}; it must be a {want}")
    if tag == _TAG_UTF8:
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError as ex:
            raise PolicyError(f"{source}: subject {name} is not valid UTF-8") from ex
    else:
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError as ex:
            raise PolicyError(f"{source}: subject {name} has non-ASCII bytes") from ex
        if tag == _TAG_PRINTABLE and not _PRINTABLE.fullmatch(value):
            raise PolicyError(f"{source}: subject {name} has characters PrintableString forbids")
    if not value.strip():
        raise PolicyError(f"{source}: subject {name} is empty")
    bound = _UPPER_BOUNDS.get(oid)
    if bound is not None and len(value) > bound:
        raise PolicyError(
            f"{source}: subject {name} is {len(value)} characters; RFC 5280 allows {bound}"
        )
    reason = text.problem(value, bound or MAX_CSR_BYTES, x509=True)
    if reason is not None:
        raise PolicyError(f"{source}: subject {name} {value!r}: {reason}")
    if oid == NameOID.COUNTRY_NAME.dotted_string:
        reason = country_problem(value)
        if reason is not None:
            raise PolicyError(f"{source}: subject countryName {value!r}: {reason}")


def _check_extensions(
    csr: x509.CertificateSigningRequest, policy: CsrPolicy, source: str
) -> tuple[RequestedExtension, ...]:
    try:
        extensions = list(csr.extensions)
    except x509.DuplicateExtension as ex:
        raise PolicyError(f"{source}: extension {ex.oid.dotted_string} is requested twice") from ex
    except ValueError as ex:
        raise PolicyError(
            f"{source}: the requested extensions cannot be parsed: {_first_line(ex)}"
        ) from ex
    if len(extensions) > policy.max_extensions:
        raise PolicyError(
            f"{source}: requests {len(extensions)} extensions; at most {policy.max_extensions}"
        )
    requested = []
    for ext in extensions:
        name = _EXTENSION_NAMES.get(ext.oid, ext.oid.dotted_string)
        if ext.oid not in policy.allowed_extensions:
            raise PolicyError(
                f"{source}: requests extension {name}, which this profile does not allow"
            )
        value = ext.value
        if isinstance(value, x509.BasicConstraints) and not value.ca:
            raise PolicyError(
                f"{source}: asks for CA:FALSE, an end-entity certificate; the root signs only"
                " CA certificates (wrong kind of request)"
            )
        if (
            isinstance(value, x509.BasicConstraints)
            and value.ca
            and value.path_length is not None
            and policy.max_path_length is not None
            and value.path_length > policy.max_path_length
        ):
            raise PolicyError(
                f"{source}: asks for CA:TRUE with pathLen {value.path_length}; "
                f"this profile allows at most {policy.max_path_length}"
            )
        requested.append(
            RequestedExtension(
                name=name,
                oid=ext.oid.dotted_string,
                critical=ext.critical,
                value=_describe(value),
            )
        )
    return tuple(requested)


def _describe(value: x509.ExtensionType) -> str:
    if isinstance(value, x509.BasicConstraints):
        if not value.ca:
            return "CA:FALSE"
        return "CA:TRUE" + ("" if value.path_length is None else f", pathLen:{value.path_length}")
    if isinstance(value, x509.KeyUsage):
        shown = [name for name, attr in _KEY_USAGES if getattr(value, attr)]
        if value.key_agreement and value.encipher_only:
            shown.append("encipherOnly")
        if value.key_agreement and value.decipher_only:
            shown.append("decipherOnly")
        return ", ".join(shown) or "(none)"
    if isinstance(value, x509.ExtendedKeyUsage):
        return ", ".join(getattr(oid, "_name", oid.dotted_string) for oid in value)
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest.hex()
    text = value.public_bytes().hex()
    return f"DER {text[:48]}{'...' if len(text) > 48 else ''}"


def _first_line(ex: BaseException) -> str:
    text = str(ex).strip().splitlines()
    return text[0] if text else type(ex).__name__


__all__ = [
    "DEFAULT_ALLOWED_EXTENSIONS",
    "MAX_CSR_BYTES",
    "SIGNATURE_HASHES",
    "CsrPolicy",
    "CsrReview",
    "RequestedExtension",
    "check_csr",
    "load_and_check",
    "parse_csr",
    "spki_sha256",
]


def check_public_key(key: CertificatePublicKeyTypes, policy: CsrPolicy, source: str) -> str:
    """The key policy alone (type, size, curve, weak keys), for keys that come without a CSR."""
    return _check_key(key, policy, source)
