"""The CRL ceremony: next number, revocation of an intermediate, refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509

from tests.helpers import assert_refused, run_cli


def _serial(bundle: Path) -> str:
    cert = x509.load_pem_x509_certificate((bundle / "issued/sample-intermediate.pem").read_bytes())
    return f"{cert.serial_number:x}"


def test_revocation_lands_in_the_next_crl_and_openssl_rejects_the_intermediate(
    bundle_copy: Path, tmp_path: Path
) -> None:
    serial = _serial(bundle_copy)
    r = run_cli("crl", bundle_copy, "--revoke", serial, "--reason", "key-compromise")
    assert r.returncode == 0, r.stderr
    crl = x509.load_der_x509_crl((bundle_copy / "root/root-ca.crl").read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    assert (bundle_copy / "root/root-ca-1.crl").exists(), "the old CRL is kept"
    pem = tmp_path / "crl.pem"
    subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", bundle_copy / "root/root-ca.crl", "-out", pem],
        check=True,
    )
    check = subprocess.run(
        [
            "openssl",
            "verify",
            "-crl_check",
            "-CAfile",
            bundle_copy / "root/root-ca.pem",
            "-CRLfile",
            pem,
            bundle_copy / "issued/sample-intermediate.pem",
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode != 0 and "revoked" in check.stdout + check.stderr
    assert run_cli("verify", bundle_copy).returncode == 0

    again = run_cli("crl", bundle_copy, "--revoke", serial, "--reason", "superseded")
    assert_refused(again, 2, serial, "already revoked")


def test_revocation_refusals_write_nothing(demo_bundle: Path) -> None:
    before = sorted(p.as_posix() for p in demo_bundle.rglob("*"))
    assert_refused(
        run_cli("crl", demo_bundle, "--revoke", "abc", "--reason", "key-compromise"),
        2,
        "serial 0abc",  # as the bundle writes serials: an even number of hex digits
        "not an intermediate CA or transcript-signing certificate",
    )
    assert_refused(
        run_cli("crl", demo_bundle, "--revoke", "xyz", "--reason", "superseded"),
        2,
        "xyz",
        "hexadecimal",
    )
    assert_refused(run_cli("crl", demo_bundle, "--revoke", "abc"), 2, "--revoke needs --reason")
    assert_refused(
        run_cli("crl", demo_bundle, "--revoke", _serial(demo_bundle), "--reason", "bored"),
        2,
        "reason 'bored'",
    )
    assert_refused(run_cli("crl", demo_bundle, "--reason", "superseded"), 2, "--revoke")
    assert sorted(p.as_posix() for p in demo_bundle.rglob("*")) == before


def test_crl_on_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    assert_refused(run_cli("crl", tmp_path), 2, "not a rehearsal bundle")
