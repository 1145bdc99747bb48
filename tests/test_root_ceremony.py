"""The root ceremony end to end, per key type, checked by independent tools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.x509 import lint
from tests.helpers import assert_refused, pkcs11_tool, run_cli

KEYS = ["ecdsa-p384", "ecdsa-p256", "rsa-3072", "rsa-4096"]


@pytest.mark.parametrize("key", KEYS)
def test_demo_per_key_type_verifies_with_openssl_and_pkilint(key: str, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    r = run_cli("demo", "--out", out, "--key", key)
    assert r.returncode == 0, r.stderr

    v = run_cli("verify", out)
    assert v.returncode == 0, v.stdout
    assert "0 failed" in v.stdout

    root = out / "root/root-ca.pem"
    ok = subprocess.run(
        ["openssl", "verify", "-CAfile", root, root], capture_output=True, text=True
    )
    assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
    signer = out / "issued/transcript-signer.pem"
    ok = subprocess.run(
        ["openssl", "verify", "-CAfile", root, signer], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    crl = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            out / "root/root-ca.crl",
            "-CAfile",
            root,
            "-noout",
        ],
        capture_output=True,
        text=True,
    )
    assert crl.returncode == 0 and "verify OK" in crl.stderr + crl.stdout, crl.stderr

    cert = x509.load_pem_x509_certificate(root.read_bytes())
    der = cert.public_bytes(Encoding.DER)
    assert lint.blocking(lint.lint_certificate(der)) == []
    assert lint.blocking(lint.lint_crl((out / "root/root-ca.crl").read_bytes())) == []


def test_pkcs11_tool_sees_sensitive_root_key_with_recorded_id(demo_bundle: Path) -> None:
    events = [
        json.loads(line)
        for line in (demo_bundle / "transcripts/001-root/events.jsonl").read_text().splitlines()
    ]
    key = next(e for e in events if e["step"] == "root.key")["payload"]["key"]
    secrets = json.loads((demo_bundle / "rehearsal/secrets.json").read_text())
    from ceremony.flow.quorum import recover_pins

    pin = recover_pins(secrets["activation_shares"][:3]).user_secret.hex()
    listing = pkcs11_tool(
        demo_bundle / "rehearsal/softhsm2.conf",
        "--token-label",
        "root-ca",
        "--login",
        "--pin",
        pin,
        "--list-objects",
        "--type",
        "privkey",
    )
    block = listing.split("Private Key Object")[1:]
    root_block = next(b for b in block if "root-ca-key" in b)
    assert f"ID:         {key['id']}" in root_block
    assert "Access:     sensitive" in root_block
    assert "always sensitive" in root_block


def test_ceremony_file_and_transcript_hold_no_pin(demo_bundle: Path) -> None:
    secrets = json.loads((demo_bundle / "rehearsal/secrets.json").read_text())
    from ceremony.flow.quorum import recover_pins

    pins = recover_pins(secrets["activation_shares"][:3])
    needles = [pins.user_secret.hex(), pins.so_secret.hex()]
    needles += [" ".join(s.split()[:4]) for s in secrets["activation_shares"]]
    for path in demo_bundle.rglob("*"):
        if path.is_file() and "rehearsal" not in path.relative_to(demo_bundle).parts:
            data = path.read_bytes()
            for n in needles:
                assert n.encode() not in data, (path, "holds a secret")


def test_demo_refuses_a_non_empty_folder_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = run_cli("demo", "--out", out)
    assert_refused(r, 2, str(out), "not empty")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_demo_refuses_a_complete_bundle(demo_bundle: Path) -> None:
    before = sorted(p.as_posix() for p in demo_bundle.rglob("*"))
    r = run_cli("demo", "--out", demo_bundle)
    assert_refused(r, 2, "complete")
    assert sorted(p.as_posix() for p in demo_bundle.rglob("*")) == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["demo", "--out", "x", "--key", "dsa-1024"], ["usage", "dsa-1024"]),
        (["demo"], ["usage", "--out"]),
        (["verify"], ["usage"]),
        (["frobnicate"], ["usage", "frobnicate"]),
        (["demo", "--out", "x", "--threshold", "9", "--shares", "5"], ["quorum 9 of 5"]),
    ],
)
def test_bad_usage_is_one_error_line(args: list[str], words: list[str], tmp_path: Path) -> None:
    r = run_cli(*[a if a != "x" else str(tmp_path / "x") for a in args])
    assert_refused(r, 2, *words)
    assert not (tmp_path / "x").exists()


def test_verify_refuses_a_missing_folder(tmp_path: Path) -> None:
    assert_refused(run_cli("verify", tmp_path / "nowhere"), 2, "nowhere", "not a bundle")


def test_ed25519_root_is_refused_before_anything_is_written_where_it_cannot_be_backed_up(
    tmp_path: Path,
) -> None:
    """SoftHSM2 signs with Ed25519 but cannot wrap it: no root without its M-of-N backup. A
    scratch token shows it before the bundle folder or any token exists."""
    out = tmp_path / "bundle"
    r = run_cli("demo", "--out", out, "--key", "ed25519")
    assert_refused(r, 3, "cannot wrap Ed25519 keys", "backup", "hsm-native")
    assert not out.exists()


def test_ed25519_from_a_ceremony_file_is_refused_before_the_bundle_exists(tmp_path: Path) -> None:
    """The same for `ceremony root` rehearsing a reviewed file on the embedded SoftHSM2; with
    the hsm-native backup the file passes that check."""
    from ceremony.config import ceremonyfile
    from ceremony.config.ceremonyfile import BackupMethod
    from ceremony.hsm.keys import KeyAlgorithm

    locator = tmp_path / "locator.toml"
    locator.write_text("rehearsal = true\n")
    split = tmp_path / "split.toml"
    split.write_bytes(ceremonyfile.render(ceremonyfile.rehearsal_definition(KeyAlgorithm.ED25519)))
    out = tmp_path / "bundle"
    r = run_cli("root", "--ceremony", split, "--locator", locator, "--out", out)
    assert_refused(r, 3, "cannot wrap Ed25519 keys", "hsm-native")
    assert not out.exists()
    native = tmp_path / "native.toml"
    native.write_bytes(
        ceremonyfile.render(
            ceremonyfile.rehearsal_definition(KeyAlgorithm.ED25519, backup=BackupMethod.HSM_NATIVE)
        )
    )
    r = run_cli("root", "--ceremony", native, "--locator", locator, "--out", out)
    assert "cannot wrap" not in r.stderr
    assert (out / "ceremony.toml").read_bytes() == native.read_bytes()


def test_a_copied_bundle_works_on_its_own_token(demo_bundle: Path, tmp_path: Path) -> None:
    """An auditor's or operator's copy: the tool repoints rehearsal/softhsm2.conf at the copy."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo_bundle, copy)
    original = (demo_bundle / "rehearsal/softhsm2.conf").read_text()
    assert str(demo_bundle) in original
    assert run_cli("crl", copy).returncode == 0
    assert str(copy / "rehearsal/tokens") in (copy / "rehearsal/softhsm2.conf").read_text()
    assert (demo_bundle / "rehearsal/softhsm2.conf").read_text() == original
    assert not (demo_bundle / "root/root-ca-2.crl").exists()
