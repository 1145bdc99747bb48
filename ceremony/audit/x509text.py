"""Certificates and CRLs as text an auditor can read: every field and extension.

Shared by the transcript (summaries) and the CPS appendix (full profiles).
Values are deterministic strings; multi-line values use ``\\n``.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from ceremony.x509.serial import serial_text

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")

_EXTRA_OID_NAMES = {
    DOCUMENT_SIGNING.dotted_string: "documentSigning",
    "2.5.29.32.0": "anyPolicy",
    "2.23.140.1.2.1": "CA/B domain-validated",
    "2.23.140.1.2.2": "CA/B organization-validated",
}

_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

_KEY_USAGE_BITS = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)


def oid_name(oid: x509.ObjectIdentifier) -> str:
    """Readable name of ``oid``, or its dotted form when unknown."""
    known = _EXTRA_OID_NAMES.get(oid.dotted_string)
    if known:
        return known
    name = oid._name
    return oid.dotted_string if name == "Unknown OID" else name


def oid_text(oid: x509.ObjectIdentifier) -> str:
    """Name and dotted form, e.g. ``basicConstraints (2.5.29.19)``."""
    name = oid_name(oid)
    return name if name == oid.dotted_string else f"{name} ({oid.dotted_string})"


def time_text(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def name_text(name: x509.Name) -> str:
    return name.rfc4514_string() or "(empty)"


def short_name(name: x509.Name) -> str:
    """The common name, or the whole distinguished name when there is none."""
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else name_text(name)


def fingerprint(obj: x509.Certificate | x509.CertificateRevocationList) -> str:
    """SHA-256 over the DER encoding, lowercase hex."""
    return obj.fingerprint(hashes.SHA256()).hex()


def key_algorithm(key: CertificatePublicKeyTypes) -> tuple[str, int]:
    """Algorithm name and key size in bits, e.g. ``("ECDSA P-384", 384)``."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = key.curve.name
        return f"ECDSA {_CURVE_NAMES.get(curve, curve)}", key.curve.key_size
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, 0


def public_key_text(key: CertificatePublicKeyTypes) -> str:
    algorithm, size = key_algorithm(key)
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {size} bits, exponent {key.public_numbers().e}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"{algorithm} ({key.curve.name}, {size} bits)"
    return algorithm


def period_text(start: datetime, end: datetime) -> str:
    days = (end - start).days
    years, rest = divmod(days, 365)
    if years and rest <= years // 4 + 1:
        return f"{days} days (about {years} year{'s' if years != 1 else ''})"
    return f"{days} days"


def general_name_text(gn: x509.GeneralName) -> str:
    if isinstance(gn, x509.DNSName):
        return f"DNS:{gn.value}"
    if isinstance(gn, x509.UniformResourceIdentifier):
        return f"URI:{gn.value}"
    if isinstance(gn, x509.RFC822Name):
        return f"email:{gn.value}"
    if isinstance(gn, x509.DirectoryName):
        return f"DirName:{name_text(gn.value)}"
    if isinstance(gn, x509.IPAddress):
        value = gn.value
        if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
            return f"IP:{value.with_prefixlen}"
        return f"IP:{value}"
    if isinstance(gn, x509.RegisteredID):
        return f"RID:{oid_text(gn.value)}"
    if isinstance(gn, x509.OtherName):
        return f"otherName:{oid_text(gn.type_id)}:{gn.value.hex()}"
    return str(gn)


def _names(gns: object) -> str:
    if gns is None:
        return "none"
    return "\n".join(general_name_text(g) for g in gns)  # type: ignore[attr-defined]


def _key_usage(ku: x509.KeyUsage) -> str:
    used = [label for attr, label in _KEY_USAGE_BITS if getattr(ku, attr)]
    if ku.key_agreement:
        if ku.encipher_only:
            used.append("encipherOnly")
        if ku.decipher_only:
            used.append("decipherOnly")
    return ", ".join(used) or "none"


def _distribution_point(dp: x509.DistributionPoint) -> str:
    parts: list[str] = []
    if dp.full_name:
        parts.append(_names(dp.full_name))
    if dp.relative_name is not None:
        parts.append(f"relative name: {dp.relative_name.rfc4514_string()}")
    if dp.reasons:
        parts.append("reasons: " + ", ".join(sorted(r.value for r in dp.reasons)))
    if dp.crl_issuer:
        parts.append("CRL issuer: " + _names(dp.crl_issuer).replace("\n", ", "))
    return "\n".join(parts) or "(empty)"


def _policy(p: x509.PolicyInformation) -> str:
    lines = [oid_text(p.policy_identifier)]
    for q in p.policy_qualifiers or ():
        if isinstance(q, str):
            lines.append(f"  CPS: {q}")
        else:
            if q.notice_reference is not None:
                numbers = ", ".join(str(n) for n in q.notice_reference.notice_numbers)
                lines.append(f"  notice: {q.notice_reference.organization} {numbers}")
            if q.explicit_text:
                lines.append(f"  user notice: {q.explicit_text}")
    return "\n".join(lines)


def _subtrees(label: str, trees: list[x509.GeneralName] | None) -> list[str]:
    if trees is None:
        return []
    return [f"{label}: " + (", ".join(general_name_text(g) for g in trees) or "none")]


def extension_text(value: x509.ExtensionType) -> str:
    """The value of one extension, one item per line."""
    if isinstance(value, x509.BasicConstraints):
        text = f"CA: {'true' if value.ca else 'false'}"
        if value.path_length is not None:
            text += f", path length: {value.path_length}"
        return text
    if isinstance(value, x509.KeyUsage):
        return _key_usage(value)
    if isinstance(value, x509.ExtendedKeyUsage):
        return "\n".join(oid_text(o) for o in value)
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest.hex()
    if isinstance(value, x509.AuthorityKeyIdentifier):
        lines = []
        if value.key_identifier is not None:
            lines.append(f"key id: {value.key_identifier.hex()}")
        if value.authority_cert_issuer:
            lines.append("issuer: " + _names(value.authority_cert_issuer).replace("\n", ", "))
        if value.authority_cert_serial_number is not None:
            lines.append(f"serial: {serial_text(value.authority_cert_serial_number)}")
        return "\n".join(lines) or "(empty)"
    if isinstance(value, x509.CRLDistributionPoints | x509.FreshestCRL):
        return "\n".join(_distribution_point(dp) for dp in value)
    if isinstance(value, x509.AuthorityInformationAccess | x509.SubjectInformationAccess):
        return "\n".join(
            f"{oid_name(d.access_method)}: {general_name_text(d.access_location)}" for d in value
        )
    if isinstance(value, x509.CertificatePolicies):
        return "\n".join(_policy(p) for p in value)
    if isinstance(value, x509.SubjectAlternativeName | x509.IssuerAlternativeName):
        return _names(value)
    if isinstance(value, x509.NameConstraints):
        lines = _subtrees("permitted", value.permitted_subtrees)
        lines += _subtrees("excluded", value.excluded_subtrees)
        return "\n".join(lines) or "(empty)"
    if isinstance(value, x509.PolicyConstraints):
        return (
            f"requireExplicitPolicy: {value.require_explicit_policy}\n"
            f"inhibitPolicyMapping: {value.inhibit_policy_mapping}"
        )
    if isinstance(value, x509.InhibitAnyPolicy):
        return f"skip certs: {value.skip_certs}"
    if isinstance(value, x509.CRLNumber | x509.DeltaCRLIndicator):
        return str(value.crl_number)
    if isinstance(value, x509.IssuingDistributionPoint):
        lines = []
        if value.full_name:
            lines.append(_names(value.full_name))
        flags = {
            "only user certificates": value.only_contains_user_certs,
            "only CA certificates": value.only_contains_ca_certs,
            "indirect CRL": value.indirect_crl,
            "only attribute certificates": value.only_contains_attribute_certs,
        }
        lines += [k for k, v in flags.items() if v]
        if value.only_some_reasons:
            lines.append("reasons: " + ", ".join(sorted(r.value for r in value.only_some_reasons)))
        return "\n".join(lines) or "(empty)"
    if isinstance(value, x509.CRLReason):
        return value.reason.value
    if isinstance(value, x509.InvalidityDate):
        return time_text(value.invalidity_date_utc)
    if isinstance(value, x509.UnrecognizedExtension):
        return f"DER {value.value.hex()}"
    try:
        return f"DER {value.public_bytes().hex()}"
    except NotImplementedError:
        return repr(value)


def extension_rows(extensions: x509.Extensions) -> list[tuple[str, str, str]]:
    """(extension, criticality, value) for every extension, in encoded order."""
    return [
        (oid_text(e.oid), "critical" if e.critical else "non-critical", extension_text(e.value))
        for e in extensions
    ]


def certificate_fields(cert: x509.Certificate) -> list[tuple[str, str]]:
    """Every field of the TBS certificate except the extensions."""
    return [
        ("Version", f"v{cert.version.value + 1}"),
        ("Serial number", serial_text(cert.serial_number)),
        ("Signature algorithm", oid_text(cert.signature_algorithm_oid)),
        ("Issuer", name_text(cert.issuer)),
        ("Not before", time_text(cert.not_valid_before_utc)),
        ("Not after", time_text(cert.not_valid_after_utc)),
        ("Subject", name_text(cert.subject)),
        ("Subject public key", public_key_text(cert.public_key())),
    ]


def crl_fields(crl: x509.CertificateRevocationList) -> list[tuple[str, str]]:
    """Every field of the TBS CRL except the extensions and the revoked list."""
    next_update = crl.next_update_utc
    return [
        ("Version", "v2" if len(crl.extensions) or _has_entry_extensions(crl) else "v1"),
        ("Signature algorithm", oid_text(crl.signature_algorithm_oid)),
        ("Issuer", name_text(crl.issuer)),
        ("This update", time_text(crl.last_update_utc)),
        ("Next update", time_text(next_update) if next_update else "(none)"),
        ("Revoked certificates", str(len(crl))),
    ]


def _has_entry_extensions(crl: x509.CertificateRevocationList) -> bool:
    return any(len(r.extensions) for r in crl)


def certificate_summary(cert: x509.Certificate) -> list[tuple[str, str]]:
    """The lines of a certificate a transcript reader checks."""
    return [
        ("Subject", name_text(cert.subject)),
        ("Issuer", name_text(cert.issuer)),
        ("Serial number", serial_text(cert.serial_number)),
        (
            "Validity",
            f"{time_text(cert.not_valid_before_utc)} to {time_text(cert.not_valid_after_utc)}",
        ),
        ("Public key", public_key_text(cert.public_key())),
        ("Signature", oid_name(cert.signature_algorithm_oid)),
        ("SHA-256 fingerprint", fingerprint(cert)),
    ]


def crl_summary(crl: x509.CertificateRevocationList) -> list[tuple[str, str]]:
    number: str = "(none)"
    try:
        number = str(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        pass
    next_update = crl.next_update_utc
    return [
        ("Issuer", name_text(crl.issuer)),
        ("CRL number", number),
        ("This update", time_text(crl.last_update_utc)),
        ("Next update", time_text(next_update) if next_update else "(none)"),
        ("Revoked certificates", str(len(crl))),
        ("SHA-256 fingerprint", fingerprint(crl)),
    ]


def revoked_rows(crl: x509.CertificateRevocationList) -> list[tuple[str, str, str]]:
    """(serial, revocation date, entry extensions) for each revoked certificate."""
    rows = []
    for r in sorted(crl, key=lambda r: r.serial_number):
        ext = "\n".join(f"{oid_name(e.oid)}: {extension_text(e.value)}" for e in r.extensions)
        rows.append((serial_text(r.serial_number), time_text(r.revocation_date_utc), ext or "-"))
    return rows
