"""The bad CSR corpus is refused with a reason; openssl's good CSRs pass with a correct review."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from ceremony.errors import CeremonyError, InputError, PolicyError
from ceremony.media.transfer import read_candidate
from ceremony.pgpwords import words
from ceremony.x509.csr import CsrPolicy, check_csr, load_and_check, parse_csr, spki_sha256

GENERATOR = Path(__file__).parent / "data" / "csr" / "make_bad_csrs.py"

BAD: dict[str, tuple[type[CeremonyError], str]] = {
    "garbage.csr": (InputError, "neither a PEM nor a DER"),
    "truncated.csr": (InputError, "truncated"),
    "truncated.der": (InputError, "truncated"),
    "two-csrs.csr": (InputError, "contains 2 PEM blocks"),
    "trailing-garbage.csr": (InputError, "data after the PEM END line"),
    "trailing-garbage.der": (InputError, "2 bytes of trailing data"),
    "bad-signature.csr": (PolicyError, "self-signature is invalid"),
    "sha1-signature.csr": (PolicyError, "signed with SHA1"),
    "rsa-1024.csr": (PolicyError, "RSA key of 1024 bits; at least 3072"),
    "rsa-2048.csr": (PolicyError, "RSA key of 2048 bits; at least 3072"),
    "rsa-exponent-3.csr": (PolicyError, "RSA public exponent 3 is not accepted"),
    "p192.csr": (PolicyError, "curve P-192 is not accepted"),
    "explicit-curve.csr": (PolicyError, "explicit (non-named) curve parameters"),
    "ed25519.csr": (PolicyError, "Ed25519 keys are not enabled"),
    "empty-subject.csr": (PolicyError, "the subject is empty"),
    "long-cn.csr": (PolicyError, "commonName is 10240 characters; RFC 5280 allows 64"),
    "non-utf8-subject.csr": (PolicyError, "commonName is not valid UTF-8"),
    "bmpstring-subject.csr": (PolicyError, "commonName is a BMPString"),
    "control-char-subject.csr": (PolicyError, "contains U+000A, a control character"),
    "zero-width-subject.csr": (PolicyError, "U+200B ZERO WIDTH SPACE"),
    "two-cns.csr": (PolicyError, "2 commonNames; at most one"),
    "country-xx.csr": (PolicyError, "not an ISO 3166-1 country code"),
    "unknown-attribute.csr": (PolicyError, "1.3.6.1.4.1.55555.2.1 is not one the CA profile"),
    "email-subject.csr": (PolicyError, "emailAddress is not one the CA profile allows"),
    "ca-false.csr": (PolicyError, "asks for CA:FALSE"),
    "root-name.csr": (PolicyError, "the root's own name"),
    "many-extensions.csr": (PolicyError, "requests 300 extensions; at most 16"),
    "unknown-extension.csr": (PolicyError, "extension 1.3.6.1.4.1.55555.1.0"),
    "ca-pathlen-5.csr": (PolicyError, "CA:TRUE with pathLen 5"),
    "fermat-weak.csr": (PolicyError, "Fermat"),
    "roca.csr": (PolicyError, "ROCA fingerprint"),
    "small-factor.csr": (PolicyError, "divisible by the small prime 3"),
    "root-key.csr": (PolicyError, "already certified"),
    "issued-key.csr": (PolicyError, "already certified"),
    "huge.csr": (InputError, "larger than"),
}

GOOD = {
    "rsa-3072.csr": "RSA 3072",
    "rsa-4096.csr": "RSA 4096",
    "p256.csr": "ECDSA P-256",
    "p384.csr": "ECDSA P-384",
    "p384.der": "ECDSA P-384",
}


def _generate(folder: Path, *args: str) -> Path:
    subprocess.run([sys.executable, str(GENERATOR), str(folder), *args], check=True)
    return folder


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("csr") / "bad")


@pytest.fixture(scope="module")
def good_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("csr") / "good", "--good")


@pytest.fixture(scope="module")
def policy(bad_dir: Path) -> CsrPolicy:
    """The root's key and an already issued key are forbidden, as in a real bundle."""
    certs = [
        x509.load_pem_x509_certificate((bad_dir / n).read_bytes())
        for n in ("root.pem", "issued.pem")
    ]
    return CsrPolicy(
        forbidden_spki_sha256=frozenset(spki_sha256(c.public_key()) for c in certs),
        forbidden_subject=certs[0].subject.public_bytes(),
    )


def _refusal(path: Path, policy: CsrPolicy) -> CeremonyError:
    with pytest.raises(CeremonyError) as info:
        data, _ = read_candidate(path)
        load_and_check(data, policy, path.name)
    return info.value


def test_every_generated_file_is_in_the_table(bad_dir: Path) -> None:
    generated = {p.name for p in bad_dir.iterdir() if p.suffix in (".csr", ".der")}
    assert generated == set(BAD)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_csr_is_refused_with_its_reason(name: str, bad_dir: Path, policy: CsrPolicy) -> None:
    kind, reason = BAD[name]
    error = _refusal(bad_dir / name, policy)
    assert type(error) is kind, error.message
    assert error.exit_code == 2
    assert reason in error.message
    assert "\n" not in error.message
    assert name in error.message


def test_huge_file_is_refused_by_parse_too(bad_dir: Path) -> None:
    with pytest.raises(InputError, match="larger than the 1048576 allowed"):
        parse_csr((bad_dir / "huge.csr").read_bytes(), "huge.csr")


@pytest.mark.parametrize(
    ("name", "relaxed"),
    [
        ("ed25519.csr", CsrPolicy(allow_ed25519=True)),
        ("ca-pathlen-5.csr", CsrPolicy(max_path_length=None)),
        ("root-key.csr", CsrPolicy()),
        ("rsa-2048.csr", CsrPolicy(rsa_min_bits=2048)),
    ],
)
def test_refusal_comes_from_the_policy(name: str, relaxed: CsrPolicy, bad_dir: Path) -> None:
    _, review = load_and_check((bad_dir / name).read_bytes(), relaxed, name)
    assert review.source == name


def test_pathlen_request_is_shown_when_allowed(bad_dir: Path) -> None:
    data = (bad_dir / "ca-pathlen-5.csr").read_bytes()
    _, review = load_and_check(data, CsrPolicy(max_path_length=5), "ca-pathlen-5.csr")
    (ext,) = review.requested_extensions
    assert (ext.name, ext.critical, ext.value) == ("basicConstraints", True, "CA:TRUE, pathLen:5")


def _openssl_spki_sha256(path: Path) -> str:
    form = "DER" if path.suffix == ".der" else "PEM"
    pub = subprocess.run(
        ["openssl", "req", "-inform", form, "-in", str(path), "-pubkey", "-noout"],
        check=True,
        capture_output=True,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True, capture_output=True
    ).stdout
    return hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_csr_from_openssl_is_accepted(name: str, good_dir: Path, policy: CsrPolicy) -> None:
    path = good_dir / name
    data = path.read_bytes()
    csr, review = load_and_check(data, policy, name)
    assert review.key_description == GOOD[name]
    assert review.subject == "CN=Example Issuing CA 1,O=Example Issuing,C=DE"
    assert [(e.name, e.critical, e.value) for e in review.requested_extensions] == [
        ("basicConstraints", True, "CA:TRUE, pathLen:0"),
        ("keyUsage", True, "keyCertSign, cRLSign"),
    ]
    assert review.csr_sha256 == hashlib.sha256(data).hexdigest()
    assert review.spki_sha256 == _openssl_spki_sha256(path)
    assert review.csr_sha256_words == words(hashlib.sha256(data).digest())
    assert len(review.spki_sha256_words.split()) == 32
    assert review.confirmation_phrase == f"sign {review.spki_sha256[:8]}"
    assert review.is_confirmed(f"  sign {review.spki_sha256[:8]}\n")
    assert not review.is_confirmed(f"sign {review.spki_sha256[:7]}")
    assert not review.is_confirmed("yes")
    text = "\n".join(review.lines())
    assert review.confirmation_phrase in text and review.spki_sha256_words in text
    assert csr.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).critical


def test_pem_and_der_of_one_csr_share_the_key_hash_not_the_file_hash(good_dir: Path) -> None:
    pem = (good_dir / "p384.csr").read_bytes()
    der = (good_dir / "p384.der").read_bytes()
    _, from_pem = load_and_check(pem, CsrPolicy(), "p384.csr")
    _, from_der = load_and_check(der, CsrPolicy(), "p384.der")
    assert from_pem.spki_sha256 == from_der.spki_sha256
    assert from_pem.csr_sha256 != from_der.csr_sha256
    assert (
        check_csr(parse_csr(pem, "x"), CsrPolicy(), "x").csr_sha256
        == hashlib.sha256(der).hexdigest()
    )
