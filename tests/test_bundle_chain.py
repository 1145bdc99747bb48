"""One chain across the whole bundle, and the head an auditor keeps.

Every ceremony's log opens on the final event hash of the one before; verify
checks that folders are contiguous, named as the ceremony inside, linked, and
that nothing outside rehearsal/ exists that no event produced. What an insider
with the PIN can still rewrite consistently, the head kept out of band
(``--expect-head``) catches.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ceremony.hsm.module import SoftHsmHome
from tests.helpers import assert_refused, run_cli
from tests.insider import csr_with_own_key, read_log, resign_documents, rewrite_manifest, write_log

REHEARSAL_LINE = "REHEARSAL: this bundle is a rehearsal, not the record of a real ceremony"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    SoftHsmHome(dst / "rehearsal").ensure()
    return dst


@pytest.fixture(scope="module")
def three(demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo bundle (root, sign-csr) plus a CRL ceremony."""
    out = _copy(demo_bundle, tmp_path_factory.mktemp("chain") / "bundle")
    r = run_cli("crl", out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture
def bundle(three: Path, tmp_path: Path) -> Path:
    return _copy(three, tmp_path / "bundle")


def _head(stdout: str) -> str:
    m = re.search(r"^head: (\d+) ceremonies, final event hash ([0-9a-f]{64})$", stdout, re.M)
    assert m, stdout
    return m.group(2)


def _failed(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("FAIL")]


def _verify_fails(bundle: Path, *words: str) -> list[str]:
    r = run_cli("verify", bundle)
    assert r.returncode == 1, r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    failed = _failed(r.stdout)
    for w in words:
        assert any(w in line for line in failed), (w, failed)
    return failed


def test_each_log_opens_on_the_previous_final_hash(three: Path) -> None:
    folders = sorted((three / "transcripts").iterdir())
    assert [f.name for f in folders] == ["001-root", "002-sign-csr", "003-crl"]
    logs = [read_log(f) for f in folders]
    assert logs[0][0]["prev"] == "0" * 64
    assert logs[0][0]["payload"]["previous"] is None
    for before, after, folder in zip(logs, logs[1:], folders, strict=False):
        assert after[0]["prev"] == before[-1]["hash"]
        previous = after[0]["payload"]["previous"]
        assert previous["ceremony"] == before[0]["ceremony"]
        assert previous["final_hash"] == before[-1]["hash"]
        transcript = folder / "transcript.pdf"
        assert previous["transcript_sha256"] == hashlib.sha256(transcript.read_bytes()).hexdigest()
    r = run_cli("verify", three)
    assert r.returncode == 0, r.stdout
    assert any(
        line.startswith("ok    ceremony chain: 3 ceremonies") for line in r.stdout.splitlines()
    )


def test_verify_ends_with_the_head_the_last_transcript_prints(three: Path) -> None:
    r = run_cli("verify", three)
    assert r.returncode == 0, r.stdout
    head = _head(r.stdout)
    assert head == read_log(three / "transcripts/003-crl")[-1]["hash"]
    root_fp = re.search(r"^root certificate SHA-256 fingerprint ([0-9a-f]{64})$", r.stdout, re.M)
    assert root_fp, r.stdout
    text = subprocess.run(
        ["pdftotext", three / "transcripts/003-crl/transcript.pdf", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = "".join(text.split())
    assert "Headoftheevidencebundle" in flat
    assert head in flat and root_fp.group(1) in flat
    words = r.stdout.splitlines()[
        r.stdout.splitlines().index(f"head: 3 ceremonies, final event hash {head}") + 1
    ]
    assert "".join(words.split()) in flat
    assert "read aloud" in r.stdout


def test_a_dropped_middle_ceremony_fails_verify(bundle: Path) -> None:
    shutil.rmtree(bundle / "transcripts/002-sign-csr")
    rewrite_manifest(bundle)
    _verify_fails(
        bundle,
        "ceremony 002 is missing before it",
        "does not link to the final event of 001-root",
        "issued/sample-intermediate.pem: no ceremony of this bundle recorded this file",
    )


def test_a_dropped_middle_ceremony_renumbered_and_resigned_fails_verify(bundle: Path) -> None:
    """The insider removes 002 with its outputs, moves 003 into its place with its ids
    rewritten and its log rehashed, and re-signs everything with the genuine signer."""
    shutil.rmtree(bundle / "transcripts/002-sign-csr")
    (bundle / "issued/sample-intermediate.pem").unlink()
    (bundle / "requests/sample-intermediate.csr").unlink()
    moved = bundle / "transcripts/002-crl"
    (bundle / "transcripts/003-crl").rename(moved)
    events = read_log(moved)
    for e in events:
        e["ceremony"] = e["ceremony"].replace("003-crl", "002-crl")
    write_log(moved, events)
    resign_documents(bundle, [moved])
    _verify_fails(bundle, "002-crl: its first event does not link to the final event of 001-root")


def test_a_renumbered_folder_fails_verify(bundle: Path) -> None:
    (bundle / "transcripts/003-crl").rename(bundle / "transcripts/004-crl")
    rewrite_manifest(bundle)
    _verify_fails(
        bundle,
        "ceremony 003 is missing before it",
        "transcripts/004-crl: event 1 belongs to ceremony '003-crl-",
    )


def test_a_stray_folder_or_file_fails_verify(bundle: Path) -> None:
    (bundle / "transcripts/notes").mkdir()
    shutil.copy(bundle / "root/root-ca-1.crl", bundle / "requests/extra.csr")
    rewrite_manifest(bundle)
    _verify_fails(
        bundle,
        "transcripts/notes is not a ceremony folder",
        "requests/extra.csr: no ceremony of this bundle recorded this file",
    )


def test_a_rolled_back_bundle_fails_against_the_kept_head(three: Path, demo_bundle: Path) -> None:
    kept = _head(run_cli("verify", three).stdout)
    earlier = _head(run_cli("verify", demo_bundle).stdout)
    r = run_cli("verify", demo_bundle, "--expect-head", kept)
    assert r.returncode == 1, r.stdout
    assert any("the expected head is not in this bundle" in x for x in _failed(r.stdout))
    r = run_cli("verify", three, "--expect-head", earlier)
    assert r.returncode == 1, r.stdout
    assert any("ahead of the expected head" in x and "003-crl" in x for x in _failed(r.stdout))
    r = run_cli("verify", three, "--expect-head", kept.upper())
    assert r.returncode == 0, r.stdout
    assert "ok    expected head: the bundle ends at the expected head" in r.stdout
    assert_refused(run_cli("verify", three, "--expect-head", "abc"), 2, "--expect-head")


def test_a_consistent_rewrite_by_an_insider_is_caught_by_the_kept_head(bundle: Path) -> None:
    """Rewriting the last ceremony (what a step said) and re-signing with the genuine
    signer yields a bundle that verifies on its own; the head kept out of band differs.
    (A witness renamed to someone not signed in is caught by the evidence check.)"""
    kept = _head(run_cli("verify", bundle).stdout)
    folder = bundle / "transcripts/003-crl"
    original = read_log(folder)
    events = read_log(folder)
    for e in events:
        if e["actor"]["role"] == "witness":
            e["actor"]["name"] = "Mallory"
    write_log(folder, events)
    resign_documents(bundle, [folder])
    assert any(
        "Mallory acted but was not signed in as present" in x
        for x in _failed(run_cli("verify", bundle).stdout)
    )
    events = original
    events[-1]["payload"]["activity"] = "Close the ceremony (nothing unusual happened)"
    write_log(folder, events)
    resign_documents(bundle, [folder])
    assert run_cli("verify", bundle).returncode == 0
    r = run_cli("verify", bundle, "--expect-head", kept)
    assert r.returncode == 1, r.stdout
    assert any("the expected head is not in this bundle" in x for x in _failed(r.stdout))


@pytest.mark.parametrize("keep_rehearsal_folder", [True, False])
def test_rehearsal_is_said_first_and_last(bundle: Path, keep_rehearsal_folder: bool) -> None:
    if not keep_rehearsal_folder:
        shutil.rmtree(bundle / "rehearsal")
    r = run_cli("verify", bundle)
    assert r.returncode == 0, r.stdout
    lines = r.stdout.splitlines()
    assert lines[0] == REHEARSAL_LINE and lines[-1] == REHEARSAL_LINE


def test_a_new_ceremony_is_refused_while_another_is_unfinished(bundle: Path) -> None:
    r = run_cli("crl", bundle, env={"CEREMONY_FAULT_INJECT": "crl.issue:before"})
    assert r.returncode == 86
    before = sorted(p.name for p in (bundle / "transcripts").iterdir())
    csr = bundle.parent / "new.csr"
    csr.write_bytes(csr_with_own_key("Example Second Issuing CA")[1])
    r = run_cli("sign-csr", bundle, csr, "--name", "second")
    assert r.returncode == 2, r.stderr
    assert "004-crl" in r.stderr and "unfinished" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in (bundle / "transcripts").iterdir()) == before
    assert run_cli("crl", bundle).returncode == 0
    assert run_cli("verify", bundle).returncode == 0
