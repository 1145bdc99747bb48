"""verify stays inside the bundle: it follows no path out of it, opens no link, FIFO,
device or socket, reads nothing without a size cap, and trusts the root it is given."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.insider import rewrite_manifest

PASSWD = Path("/etc/passwd")


def _verify(bundle: Path, *args: str | Path, timeout: int = 120) -> tuple[int, str]:
    r = run_cli("verify", bundle, *args, timeout=timeout)
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert r.stderr == "", r.stderr
    return r.returncode, r.stdout


def _failed(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("FAIL")]


@pytest.mark.parametrize(
    "path", [str(PASSWD), "../../../../etc/passwd", "issued/../../x", "./SHA256SUMS"]
)
def test_a_manifest_line_naming_a_path_outside_fails(bundle_copy: Path, path: str) -> None:
    digest = hashlib.sha256(PASSWD.read_bytes()).hexdigest()
    with (bundle_copy / "SHA256SUMS").open("a") as f:
        f.write(f"{digest}  {path}\n")
    code, out = _verify(bundle_copy)
    assert code == 1, out
    assert any("not a normalised path inside the bundle" in x and path in x for x in _failed(out))


def test_an_event_naming_a_path_outside_fails(bundle_copy: Path) -> None:
    from tests.insider import read_log, write_log

    folder = bundle_copy / "transcripts/002-sign-csr"
    events = read_log(folder)
    digest = hashlib.sha256(PASSWD.read_bytes()).hexdigest()
    events[0]["payload"]["inputs"].append(
        {"path": "../../../../etc/passwd", "sha256": digest, "size": PASSWD.stat().st_size}
    )
    write_log(folder, events)
    rewrite_manifest(bundle_copy)
    code, out = _verify(bundle_copy)
    assert code == 1
    assert any(
        "'../../../../etc/passwd' is not a path inside the bundle" in x for x in _failed(out)
    )


def test_a_symlink_fails_without_being_followed(bundle_copy: Path) -> None:
    (bundle_copy / "issued/passwd.pem").symlink_to(PASSWD)
    (bundle_copy / "issued/etc").symlink_to("/etc")
    code, out = _verify(bundle_copy)
    assert code == 1
    failed = _failed(out)
    assert (
        "FAIL  issued/passwd.pem: is a symbolic link; a bundle holds only plain files (not opened)"
        in failed
    )
    assert (
        "FAIL  issued/etc: is a symbolic link; a bundle holds only plain files (not opened)"
        in failed
    )
    assert not any("root:" in x for x in out.splitlines())


def test_a_non_pem_file_in_issued_fails_cleanly(bundle_copy: Path) -> None:
    (bundle_copy / "issued/garbage.pem").write_bytes(b"\x00not a certificate\xff")
    rewrite_manifest(bundle_copy)
    code, out = _verify(bundle_copy)
    assert code == 1
    assert "FAIL  issued/garbage.pem: issued/garbage.pem: not a PEM certificate" in _failed(out)


def test_a_fifo_socket_or_device_fails_without_hanging(bundle_copy: Path) -> None:
    os.mkfifo(bundle_copy / "issued/fifo.pem")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(bundle_copy / "root/socket"))
    try:
        start = time.monotonic()
        code, out = _verify(bundle_copy, timeout=60)
        assert time.monotonic() - start < 60
    finally:
        sock.close()
    assert code == 1
    failed = _failed(out)
    assert any(x.startswith("FAIL  issued/fifo.pem: is a FIFO") for x in failed), failed
    assert any(x.startswith("FAIL  root/socket: is a socket") for x in failed), failed


def test_a_huge_file_is_not_read(bundle_copy: Path) -> None:
    with (bundle_copy / "root/root-ca-1.crl").open("r+b") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB
    code, out = _verify(bundle_copy, timeout=120)
    assert code == 1
    assert any("root/root-ca-1.crl" in x and "more than" in x for x in _failed(out)), out


def test_root_pins_the_trust_anchor(
    demo_bundle: Path, bundle_copy: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A whole substitute bundle with the same root DN fails against the auditor's root."""
    other = tmp_path_factory.mktemp("substitute") / "bundle"
    assert run_cli("demo", "--out", other).returncode == 0
    code, out = _verify(other, "--root", demo_bundle / "root/root-ca.pem")
    assert code == 1
    assert any("is not the root given with --root" in x for x in _failed(out)), out
    assert any("cps/cps-appendix.pdf" in x for x in _failed(out)), out
    code, out = _verify(bundle_copy, "--root", demo_bundle / "root/root-ca.pem")
    assert code == 0, out
    assert "the root given with --root" in out
    shutil.rmtree(other)


def test_the_root_fingerprint_is_printed_to_compare_with_the_one_read_aloud(
    demo_bundle: Path,
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from ceremony.pgpwords import words

    root = x509.load_pem_x509_certificate((demo_bundle / "root/root-ca.pem").read_bytes())
    fp = root.fingerprint(hashes.SHA256())
    code, out = _verify(demo_bundle)
    assert code == 0
    lines = out.splitlines()
    i = lines.index(f"root certificate SHA-256 fingerprint {fp.hex()}")
    assert lines[i + 1].split() == words(fp).split()
    assert any("read aloud" in x for x in lines[i + 2 :])


@pytest.mark.parametrize("damage", ["truncate", "signature", "garbage"])
def test_a_damaged_pdf_is_one_line_reasons_without_library_output(
    bundle_copy: Path, damage: str
) -> None:
    pdf = bundle_copy / "transcripts/001-root/transcript.pdf"
    data = pdf.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "signature":
        start = data.index(b"/Contents <") + len(b"/Contents <")
        data = data[: start + 40] + b"0" * 200 + data[start + 240 :]
    else:
        data = b"%PDF-1.7\n" + os.urandom(4096)
    pdf.write_bytes(data)
    rewrite_manifest(bundle_copy)
    code, out = _verify(bundle_copy)
    assert code == 1
    failed = [x for x in _failed(out) if "transcripts/001-root/transcript.pdf" in x]
    assert failed, out
    assert all("\n" not in x for x in failed)
