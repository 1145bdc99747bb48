"""parse_csr and check_csr on crafted inputs: only domain errors, never a traceback."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ceremony.errors import CeremonyError, InputError, PolicyError
from ceremony.x509.csr import CsrPolicy, check_csr, parse_csr

KEY = ec.generate_private_key(ec.SECP384R1())


def _csr(
    subject: x509.Name | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] | None = None,
) -> x509.CertificateSigningRequest:
    name = subject or x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Example Issuing CA"),
        ]
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    for ext, critical in extensions or []:
        builder = builder.add_extension(ext, critical)
    return builder.sign(KEY, hashes.SHA384())


GOOD = _csr()
GOOD_DER = GOOD.public_bytes(serialization.Encoding.DER)
GOOD_PEM = GOOD.public_bytes(serialization.Encoding.PEM)


def test_pem_der_and_crlf_pem_parse_to_the_same_csr() -> None:
    crlf = GOOD_PEM.replace(b"\n", b"\r\n")
    for data in (GOOD_PEM, GOOD_DER, crlf, b"\n  " + GOOD_PEM + b"\n\n"):
        assert parse_csr(data, "req.csr") == GOOD


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"  \n", "the file is empty"),
        (b"Certificate Request:\n" + GOOD_PEM, "text before the PEM block"),
        (GOOD_PEM.replace(b"CERTIFICATE REQUEST", b"CERTIFICATE"), "is a CERTIFICATE, not"),
        (GOOD_PEM.replace(b"END CERTIFICATE REQUEST", b"END NEW CERTIFICATE REQUEST"), "differ"),
        (GOOD_PEM.replace(b"\n", b"\nProc-Type: 4,ENCRYPTED\n", 1), "PEM headers"),
        (GOOD_PEM[:40] + b"!!" + GOOD_PEM[42:], "not valid base64"),
        (b"-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n", "empty"),
        (b"\x30\x80" + GOOD_DER[2:], "not a DER CSR"),
        (b"\x30\x03\x02\x01\x00", "not a valid CSR"),
    ],
)
def test_malformed_input_is_an_input_error(data: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as info:
        parse_csr(data, "req.csr")
    assert type(info.value) is InputError
    assert info.value.message.startswith("req.csr: ")


def test_der_csr_in_pem_labelled_new_certificate_request_is_accepted() -> None:
    legacy = GOOD_PEM.replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
    assert parse_csr(legacy, "legacy.csr") == GOOD


def _review(csr: x509.CertificateSigningRequest, policy: CsrPolicy | None = None) -> str:
    try:
        check_csr(csr, policy or CsrPolicy(), "req.csr")
    except PolicyError as ex:
        return ex.message
    return "accepted"


def test_subject_rules() -> None:
    def one(oid: x509.ObjectIdentifier, value: str) -> str:
        return _review(_csr(x509.Name([x509.NameAttribute(oid, value)])))

    assert one(NameOID.COMMON_NAME, "x" * 64) == "accepted"
    assert "RFC 5280 allows 64" in one(NameOID.ORGANIZATION_NAME, "x" * 65)
    assert "must be written in capitals ('DE')" in one(NameOID.COUNTRY_NAME, "de")
    assert "commonName is empty" in one(NameOID.COMMON_NAME, "   ")
    assert one(NameOID.COMMON_NAME, "Zertifizierungsstelle Müller") == "accepted"
    long_subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"Unit {i}") for i in range(60)]
    )
    assert "the subject is" in _review(_csr(long_subject))


def test_extension_rules() -> None:
    ku = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    ca = x509.BasicConstraints(ca=True, path_length=0)
    csr = _csr(extensions=[(ca, True), (ku, True)])
    review = check_csr(csr, CsrPolicy(), "req.csr")
    assert [e.value for e in review.requested_extensions] == [
        "CA:TRUE, pathLen:0",
        "keyCertSign, cRLSign",
    ]
    assert _review(csr, CsrPolicy(max_extensions=1)) == "req.csr: requests 2 extensions; at most 1"
    narrow = CsrPolicy(allowed_extensions=frozenset({ExtensionOID.BASIC_CONSTRAINTS}))
    assert "extension keyUsage, which this profile does not allow" in _review(csr, narrow)
    san = x509.SubjectAlternativeName([x509.DNSName("ca.example")])
    assert "subjectAltName" in _review(_csr(extensions=[(san, False)]))
    no_limit = _csr(extensions=[(x509.BasicConstraints(ca=True, path_length=None), True)])
    assert _review(no_limit) == "accepted"


def test_policy_is_validated_eagerly() -> None:
    with pytest.raises(ValueError, match="rsa_min_bits"):
        CsrPolicy(rsa_min_bits=1024)
    with pytest.raises(ValueError, match="unknown curve"):
        CsrPolicy(ec_curves=frozenset({"P-192r"}))
    with pytest.raises(ValueError, match="SHA-256 hex"):
        CsrPolicy(forbidden_spki_sha256=frozenset({"ABCD"}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_give_a_domain_error(data: bytes) -> None:
    with pytest.raises(CeremonyError):
        parse_csr(data, "fuzz.csr")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(GOOD_DER) - 1), st.integers(1, 255)), max_size=3))
def test_mutated_csr_is_accepted_or_refused_without_traceback(
    flips: list[tuple[int, int]],
) -> None:
    der = bytearray(GOOD_DER)
    for index, mask in flips:
        der[index] ^= mask
    for data in (
        bytes(der),
        b"-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(bytes(der))
        + b"-----END CERTIFICATE REQUEST-----\n",
    ):
        try:
            check_csr(parse_csr(data, "fuzz.csr"), CsrPolicy(), "fuzz.csr")
        except CeremonyError as ex:
            assert ex.message.startswith("fuzz.csr: ") and "\n" not in ex.message


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


ECDSA_WITH_SHA384 = bytes.fromhex("300a06082a8648ce3d040303")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=3))
def test_resigned_mutations_reach_the_policy_checks_without_traceback(
    flips: list[tuple[int, int]],
) -> None:
    """Mutate the signed part and sign it again, so the checks behind the signature run."""
    csr = _csr(extensions=[(x509.BasicConstraints(ca=True, path_length=0), True)])
    info = bytearray(csr.tbs_certrequest_bytes)
    for index, mask in flips:
        info[index % len(info)] ^= mask
    signature = KEY.sign(bytes(info), ec.ECDSA(hashes.SHA384()))
    der = _tlv(0x30, bytes(info) + ECDSA_WITH_SHA384 + _tlv(0x03, b"\x00" + signature))
    try:
        check_csr(parse_csr(der, "fuzz.csr"), CsrPolicy(), "fuzz.csr")
    except CeremonyError as ex:
        assert ex.message.startswith("fuzz.csr: ") and "\n" not in ex.message
