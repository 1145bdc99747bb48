"""Cross-certificates: an existing CA's subject, key and SKI certified by our root."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import assert_refused, run_cli

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ca(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool = True,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=900))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(issuer_key, hashes.SHA256())
    )


def _write(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_cross_signed_ca_builds_a_path_to_our_root(bundle_copy: Path, tmp_path: Path) -> None:
    old_key = ec.generate_private_key(ec.SECP384R1())
    old_root = _name("Old Root", "Example Org")
    ca_key = ec.generate_private_key(ec.SECP384R1())
    existing = _ca(_name("Issuing CA 7", "Example Org"), ca_key, old_root, old_key)
    src = _write(tmp_path / "existing.pem", existing)

    r = run_cli("sign-csr", bundle_copy, src, "--profile", "cross-certificate", "--name", "x7")
    assert r.returncode == 0, r.stderr
    cross = x509.load_pem_x509_certificate((bundle_copy / "issued/x7.pem").read_bytes())
    assert cross.subject.public_bytes() == existing.subject.public_bytes()
    ski = x509.SubjectKeyIdentifier
    assert cross.extensions.get_extension_for_class(ski).value == (
        existing.extensions.get_extension_for_class(ski).value
    )
    assert cross.not_valid_before_utc >= existing.not_valid_before_utc

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("leaf", "Example Org"))
        .issuer_name(existing.subject)
        .public_key(leaf_key.public_key())
        .serial_number(5)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(ca_key, hashes.SHA256())
    )
    ok = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            bundle_copy / "root/root-ca.pem",
            "-untrusted",
            bundle_copy / "issued/x7.pem",
            _write(tmp_path / "leaf.pem", leaf),
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert run_cli("verify", bundle_copy).returncode == 0


@pytest.mark.parametrize(
    "org, ca, words",
    [("Other Org", True, "differs from the root's"), ("Example Org", False, "not a CA")],
)
def test_cross_certificate_refusals(
    demo_bundle: Path, tmp_path: Path, org: str, ca: bool, words: str
) -> None:
    k = ec.generate_private_key(ec.SECP384R1())
    cert = _ca(_name("Foreign CA", org), k, _name("Elsewhere", org), k, ca=ca)
    before = sorted(p.as_posix() for p in demo_bundle.rglob("*"))
    r = run_cli(
        "sign-csr", demo_bundle, _write(tmp_path / "c.pem", cert), "--profile", "cross-certificate"
    )
    assert_refused(r, 2, words)
    assert sorted(p.as_posix() for p in demo_bundle.rglob("*")) == before
