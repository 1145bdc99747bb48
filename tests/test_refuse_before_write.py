"""Refusals come before anything is written: each case leaves the bundle, its tokens and the
folders around it exactly as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from ceremony.hsm.module import Hsm
from tests.helpers import assert_refused, make_csr, run_cli, tree


def _shares_file(bundle: Path, tmp_path: Path) -> Path:
    lines = (bundle / "rehearsal/backup-shares.txt").read_text().splitlines()[:3]
    path = tmp_path / "shares.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "label, reason",
    [
        ("root-ca ", "ends with a space"),
        ("root-ca", "exists already"),
        ("a\nb", "control character"),
        ("", "is empty"),
        ("x" * 40, "at most 32"),
    ],
)
def test_restore_token_label_refused_before_anything(
    label: str, reason: str, demo_bundle: Path, tmp_path: Path
) -> None:
    shares = _shares_file(demo_bundle, tmp_path)
    before = tree(demo_bundle)
    r = run_cli("restore", demo_bundle, "--shares", shares, "--to-token", label)
    assert_refused(r, 2, "--to-token" if reason != "exists already" else "root-ca", reason)
    assert tree(demo_bundle) == before


def test_a_padded_label_names_the_same_token(hsm: Hsm) -> None:
    hsm.init_token("root-ca")
    assert hsm.has_token("root-ca")
    with pytest.raises(Exception, match="ends with a space"):
        hsm.init_token("root-ca ")
    assert hsm.labels() == ["root-ca"]
    assert hsm.token("root-ca").label.rstrip() == "root-ca"


# --- 1: what the lint gate refuses is refused before anything is written


def _expired_ca(path: Path) -> Path:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP384R1())
    old = ec.generate_private_key(ec.SECP384R1())
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    cert = (
        x509.CertificateBuilder()
        .subject_name(name("Expired Issuing CA"))
        .issuer_name(name("Old Root"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now - dt.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(old, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize(
    "case, words",
    [
        ("dc-subject", ("lint refused", "domainComponents")),
        ("email-subject", ("emailAddress is not one the CA profile allows",)),
        ("expired-cross", ("expired on", "not cross-signed")),
    ],
)
def test_a_request_the_gate_refuses_leaves_the_bundle_usable(
    case: str, words: tuple[str, ...], bundle_copy: Path, tmp_path: Path
) -> None:
    args: list[str | Path]
    if case == "dc-subject":
        args = [make_csr(tmp_path / "r.csr", "DC CA", domain_component="example")]
    elif case == "email-subject":
        args = [make_csr(tmp_path / "r.csr", "Mail CA", email_address="ca@example.test")]
    else:
        args = [_expired_ca(tmp_path / "r.pem"), "--profile", "cross-certificate"]
    before = tree(bundle_copy)
    assert_refused(run_cli("sign-csr", bundle_copy, *args, "--name", "refused"), 2, *words)
    assert tree(bundle_copy) == before
    good = make_csr(tmp_path / "good.csr", "Good Issuing CA")
    r = run_cli("sign-csr", bundle_copy, good, "--name", "good")
    assert r.returncode == 0, r.stderr
    assert run_cli("verify", bundle_copy).returncode == 0


# --- 7, 13: ceremony-file and locator errors found before the bundle folder exists


def _root_files(tmp_path: Path, old: bytes = b"", new: bytes = b"", locator: str = "") -> tuple:
    from ceremony.config import ceremonyfile

    data = ceremonyfile.render(ceremonyfile.rehearsal_definition())
    if old:
        assert data.count(old) == 1, old
        data = data.replace(old, new)
    cfile = tmp_path / "ceremony.toml"
    cfile.write_bytes(data)
    loc = tmp_path / "locator.toml"
    loc.write_text(locator or "rehearsal = true\n")
    return cfile, loc


ROOT_FILE_CASES = {
    "root shorter than the CRL": (
        b"validity_days = 7305",
        b"validity_days = 100",
        "crl.validity_days 365 is longer than root.validity_days 100",
    ),
    "root shorter than intermediates": (
        b"validity_days = 7305",
        b"validity_days = 1000",
        "intermediate.validity_days 1826 is longer than root.validity_days 1000",
    ),
    "kind sign-csr": (b'kind = "root"', b'kind = "sign-csr"', "`ceremony sign-csr`"),
}


@pytest.mark.parametrize("case", sorted(ROOT_FILE_CASES))
def test_ceremony_file_refused_before_the_root_key_exists(case: str, tmp_path: Path) -> None:
    old, new, words = ROOT_FILE_CASES[case]
    cfile, loc = _root_files(tmp_path, old, new)
    out = tmp_path / "bundle"
    assert_refused(run_cli("root", "--ceremony", cfile, "--locator", loc, "--out", out), 2, words)
    assert not out.exists()


def test_threshold_one_refused_outside_a_rehearsal_before_anything(tmp_path: Path) -> None:
    data_old = b"[backup]\nthreshold = 3"
    cfile, loc = _root_files(
        tmp_path,
        data_old,
        b"[backup]\nthreshold = 1",
        locator=f'[hsm]\nsofthsm_home = "{tmp_path / "hsm"}"\n',
    )
    out = tmp_path / "bundle"
    r = _in_a_terminal_without_network(
        ["root", "--ceremony", str(cfile), "--locator", str(loc), "--out", str(out)], tmp_path
    )
    assert "backup 1 of 5" in r and "allowed only in a rehearsal" in r, r
    assert not out.exists()
    assert not (tmp_path / "hsm/tokens").exists() or not any((tmp_path / "hsm/tokens").iterdir())


def _in_a_terminal_without_network(args: list[str], tmp_path: Path) -> str:
    """Run ``ceremony ARGS`` on a pseudo-terminal, in a network namespace with no interface
    up, with an ``lp`` that prints into ``tmp_path/printed``; return what the terminal showed."""
    from tests.terminal import run_on_terminal

    return run_on_terminal(args, tmp_path).output


LOCATOR_CASES = {
    "an executable": ('[hsm]\nmodule = "/bin/ls"\n', "not a PKCS#11 module"),
    "a text file": ('[hsm]\nmodule = "/etc/hostname"\n', "not a PKCS#11 module"),
    "another library": ("libz", "not a PKCS#11 module (it exports no C_GetFunctionList)"),
    "a softhsm home that is a file": (
        '[hsm]\nsofthsm_home = "/etc/passwd"\n',
        "exists and is not a folder",
    ),
}


@pytest.mark.parametrize("case", sorted(LOCATOR_CASES))
def test_locator_refused_before_anything(case: str, tmp_path: Path) -> None:
    text, words = LOCATOR_CASES[case]
    if text == "libz":
        import ctypes.util

        found = ctypes.util.find_library("z")
        libz = next(
            (
                p
                for p in Path("/usr/lib").rglob(found or "libz.so.1")
                if p.is_file() and not p.is_symlink()
            ),
            None,
        )
        if libz is None:
            libz = next(Path("/").glob("usr/lib/*/libz.so.1*"))
        text = f'[hsm]\nmodule = "{libz}"\n'
    cfile, loc = _root_files(tmp_path, locator=text)
    out = tmp_path / "bundle"
    r = run_cli("root", "--ceremony", cfile, "--locator", loc, "--out", out)
    assert_refused(r, 2, str(loc), words)
    assert not out.exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (("--threshold", "1", "--shares", "2"), "SLIP-39 allows threshold 1 only"),
        (("--shares", "99999999999999999999"), "need 1 <= M <= N <= 16"),
        (("--threshold", "7"), "need 1 <= M <= N <= 16"),
    ],
)
def test_demo_refused_before_its_folder_exists(
    args: tuple[str, ...], words: str, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    assert_refused(run_cli("demo", "--out", out, *args, timeout=60), 2, words)
    assert not out.exists()


# --- 11: hostile input files: FIFOs, devices, huge files


@pytest.mark.parametrize("kind", ["fifo", "zero", "huge"])
@pytest.mark.parametrize("which", ["--ceremony", "--locator", "--shares", "csr"])
def test_input_files_are_regular_and_bounded(
    kind: str, which: str, demo_bundle: Path, tmp_path: Path
) -> None:
    import os

    if kind == "fifo":
        hostile = tmp_path / "pipe"
        os.mkfifo(hostile)
    elif kind == "zero":
        hostile = Path("/dev/zero")
    else:
        hostile = tmp_path / "huge"
        with hostile.open("wb") as f:
            f.truncate(1 << 30)
    cfile, loc = _root_files(tmp_path)
    out = tmp_path / "bundle"
    if which == "--ceremony":
        args: tuple[str | Path, ...] = ("root", "--ceremony", hostile, "--locator", loc)
        args += ("--out", out)
    elif which == "--locator":
        args = ("root", "--ceremony", cfile, "--locator", hostile, "--out", out)
    elif which == "--shares":
        args = ("restore", demo_bundle, "--shares", hostile, "--to-token", "new")
    else:
        args = ("sign-csr", demo_bundle, hostile, "--name", "hostile")
    before = tree(demo_bundle)
    words = {"fifo": "a FIFO, not a regular file", "zero": "a device", "huge": "larger than"}
    assert_refused(run_cli(*args, timeout=30), 2, str(hostile), words[kind])
    assert not out.exists()
    assert tree(demo_bundle) == before


# --- 15: the smaller ones


def test_share_file_with_a_byte_order_mark_is_read(bundle_copy: Path, tmp_path: Path) -> None:
    lines = (bundle_copy / "rehearsal/backup-shares.txt").read_text().splitlines()[:3]
    shares = tmp_path / "shares.txt"
    shares.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    r = run_cli("restore", bundle_copy, "--shares", shares, "--to-token", "restored")
    assert r.returncode == 0, r.stderr


def test_a_misspelled_share_word_gets_the_nearest_word(demo_bundle: Path, tmp_path: Path) -> None:
    lines = (demo_bundle / "rehearsal/backup-shares.txt").read_text().splitlines()[:3]
    words = lines[1].split()
    target = next(i for i, w in enumerate(words) if len(w) >= 6)
    typo = words[target][:2] + words[target][3:]
    from ceremony.backup.shares import suggest_word

    if suggest_word(typo) != words[target]:
        pytest.skip("this share's long word has no unique nearest word")
    words[target] = typo
    shares = tmp_path / "shares.txt"
    shares.write_text("\n".join([lines[0], " ".join(words), lines[2]]) + "\n")
    before = tree(demo_bundle)
    r = run_cli("restore", demo_bundle, "--shares", shares, "--to-token", "restored")
    assert_refused(r, 2, f'"{typo}" is not in the SLIP-39 word list', 'did you mean "')
    assert tree(demo_bundle) == before


def test_an_empty_revocation_serial_is_named(demo_bundle: Path) -> None:
    before = tree(demo_bundle)
    r = run_cli("crl", demo_bundle, "--revoke", "", "--reason", "superseded")
    assert_refused(r, 2, "serial ''", "not a hexadecimal serial")
    r = run_cli("crl", demo_bundle, "--revoke", "")
    assert_refused(r, 2, "--revoke needs --reason")
    assert tree(demo_bundle) == before


def test_tokens_does_not_create_a_softhsm_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    assert_refused(run_cli("tokens", "--softhsm-home", missing), 2, "not a SoftHSM2 folder")
    assert not missing.exists()
    assert_refused(run_cli("tokens", "--pkcs11-module", "/bin/ls"), 2, "not a PKCS#11 module")


def test_a_closed_standard_input_is_one_clean_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfile, loc = _root_files(tmp_path)
    p = subprocess.run(
        [sys.executable, "-m", "ceremony", "root", "--ceremony", cfile, "--locator", loc],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "usage" in p.stderr  # no --out: usage first
    out = tmp_path / "bundle"
    command = [sys.executable, "-m", "ceremony", "root", "--ceremony", cfile, "--locator", loc]
    p = subprocess.run(
        [*command, "--out", out],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("error: standard input is closed"), p.stderr
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1


# --- 8, 9: a real ceremony needs its printer and a terminal, checked before anything


def _real_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    cfile, loc = _root_files(tmp_path, locator=f'[hsm]\nsofthsm_home = "{tmp_path / "hsm"}"\n')
    return cfile, loc, tmp_path / "bundle"


def _no_tokens(home: Path) -> bool:
    tokens = home / "tokens"
    return not tokens.exists() or not any(tokens.iterdir())


def test_shares_never_go_to_a_pipe(tmp_path: Path) -> None:
    cfile, loc, out = _real_files(tmp_path)
    r = run_cli("root", "--ceremony", cfile, "--locator", loc, "--out", out)
    assert_refused(r, 2, "standard output is not a terminal", "| tee")
    assert not out.exists() and _no_tokens(tmp_path / "hsm")
    assert "SHARE" not in r.stdout


def test_a_missing_printer_is_found_before_the_root_key(tmp_path: Path) -> None:
    import shutil

    from tests.terminal import run_on_terminal

    if shutil.which("lp", path="/usr/sbin:/usr/bin:/sbin:/bin"):
        pytest.skip("this machine has a printer command")
    cfile, loc, out = _real_files(tmp_path)
    args = ["root", "--ceremony", str(cfile), "--locator", str(loc), "--out", str(out)]
    run = run_on_terminal(args, tmp_path, printer=False)
    assert run.returncode == 2, run.output
    assert "error: share cards: no printer command (lp)" in run.output
    assert not out.exists() and _no_tokens(tmp_path / "hsm")


# --- 12: the operator's media is checked before the root signs


@pytest.fixture
def stick(tmp_path: Path):  # type: ignore[no-untyped-def]
    import subprocess

    mount = tmp_path / "stick"
    mount.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", mount], check=False)


def test_read_only_or_full_media_refused_before_signing(
    stick: Path, bundle_copy: Path, tmp_path: Path
) -> None:
    import subprocess

    csr = make_csr(tmp_path / "ops.csr", "Ops Issuing CA")
    subprocess.run(["mount", "-o", "remount,ro", stick], check=True)
    before = tree(bundle_copy)
    r = run_cli("sign-csr", bundle_copy, csr, "--name", "ops", "--media", stick)
    assert_refused(r, 3, "read-only")
    assert tree(bundle_copy) == before
    subprocess.run(["mount", "-o", "remount,rw", stick], check=True)
    (stick / "filler").write_bytes(b"x" * (250 * 1024))
    r = run_cli("sign-csr", bundle_copy, csr, "--name", "ops", "--media", stick)
    assert_refused(r, 3, "not enough space")
    assert tree(bundle_copy) == before
    assert sorted(p.name for p in stick.iterdir()) == ["filler"]


def test_an_existing_export_folder_is_refused_before_signing(
    bundle_copy: Path, tmp_path: Path
) -> None:
    import hashlib

    from ceremony.bundle import Bundle

    media = tmp_path / "usb"
    media.mkdir()
    csr = make_csr(tmp_path / "ops.csr", "Ops Issuing CA")
    bundle = Bundle(bundle_copy)
    digest = hashlib.sha256((bundle_copy / "ceremony.toml").read_bytes()).hexdigest()[:8]
    taken = media / f"ops-{bundle.next_transcript('sign-csr').name}-{digest}"
    taken.mkdir()
    before = tree(bundle_copy)
    r = run_cli("sign-csr", bundle_copy, csr, "--name", "ops", "--media", media)
    assert_refused(r, 2, str(taken), "already exists")
    assert tree(bundle_copy) == before


def test_an_interrupted_export_needs_its_media_again(bundle_copy: Path, tmp_path: Path) -> None:
    media = tmp_path / "usb"
    media.mkdir()
    csr = make_csr(tmp_path / "ops.csr", "Ops Issuing CA")
    args = ("sign-csr", bundle_copy, csr, "--name", "ops")
    crashed = run_cli(*args, "--media", media, env={"CEREMONY_FAULT_INJECT": "media.export:before"})
    assert crashed.returncode == 86
    assert_refused(run_cli(*args), 2, "exports its outputs to removable media", "--media")
    r = run_cli(*args, "--media", media)
    assert r.returncode == 0, r.stderr
    [folder] = media.iterdir()
    assert (folder / "ops.pem").read_bytes() == (bundle_copy / "issued/ops.pem").read_bytes()
    assert run_cli("verify", bundle_copy).returncode == 0
