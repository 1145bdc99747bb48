"""Revocation is tied to the record: only CRLs a ceremony recorded count, a transcript
signer can be revoked in a CRL ceremony, and a revoked signer signs nothing after it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from ceremony.audit.cps import render_cps_appendix
from ceremony.bundle import Bundle
from ceremony.flow.ceremonies import load_definition
from ceremony.flow.documents import cps_facts
from ceremony.hsm.module import SoftHsmHome
from tests.helpers import ROOT, assert_refused, run_cli
from tests.insider import read_log, resign_documents, rewrite_manifest, root_signed_crl


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    SoftHsmHome(dst / "rehearsal").ensure()
    return dst


def _serial(pem: Path) -> str:
    return f"{x509.load_pem_x509_certificate(pem.read_bytes()).serial_number:x}"


def _failed(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("FAIL")]


def test_a_root_crl_no_ceremony_recorded_fails_verify(bundle_copy: Path) -> None:
    """The insider signs CRL 2 with the root key in the token (they know the PIN), puts
    it in place of the newest CRL and re-signs the CPS with the genuine signer."""
    crl = root_signed_crl(bundle_copy, 2)
    (bundle_copy / "root/root-ca-2.crl").write_bytes(crl)
    (bundle_copy / "root/root-ca.crl").write_bytes(crl)
    resign_documents(bundle_copy, [])
    r = run_cli("verify", bundle_copy)
    assert r.returncode == 1, r.stdout
    assert "FAIL  root/root-ca-2.crl: no ceremony of this bundle recorded this file" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


@pytest.fixture(scope="module")
def revoked(demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo bundle after a CRL ceremony revoking its transcript signer for key
    compromise, and a copy of the token taken before (the compromised key)."""
    base = tmp_path_factory.mktemp("revoked")
    bundle = _copy(demo_bundle, base / "bundle")
    stolen = base / "stolen-token"
    shutil.copytree(bundle / "rehearsal", stolen)
    SoftHsmHome(stolen).ensure()
    serial = _serial(bundle / "issued/transcript-signer.pem")
    r = run_cli("crl", bundle, "--revoke", serial, "--reason", "key-compromise")
    assert r.returncode == 0, r.stderr
    return bundle, stolen


def test_the_crl_ceremony_revokes_and_replaces_the_transcript_signer(
    revoked: tuple[Path, Path],
) -> None:
    bundle = revoked[0]
    events = read_log(bundle / "transcripts/003-crl")
    replace = next(e for e in events if e["step"] == "signer.replace")
    old = _serial(bundle / "issued/transcript-signer.pem")
    assert replace["payload"]["replaces"]["serial"].lstrip("0") == old
    assert replace["payload"]["replaces"]["reason"] == "keyCompromise"
    assert replace["payload"]["outputs"][0]["path"] == "issued/transcript-signer-003.pem"
    crl = x509.load_der_x509_crl((bundle / "root/root-ca.crl").read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(int(old, 16))
    assert entry is not None
    r = run_cli("verify", bundle)
    assert r.returncode == 0, r.stdout
    assert (
        "ok    transcripts/003-crl/transcript.pdf: signed by the bundle's transcript signer"
        " issued/transcript-signer-003.pem" in r.stdout
    )
    assert (
        "ok    transcripts/002-sign-csr/transcript.pdf: signed by the bundle's transcript signer"
        " issued/transcript-signer.pem" in r.stdout
    )


def test_a_document_signed_by_the_revoked_signer_fails_verify(
    revoked: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = _copy(revoked[0], tmp_path / "bundle")
    b = Bundle(bundle)
    facts = cps_facts(b, load_definition(b), True)
    cps = tmp_path / "cps.pdf"
    cps.write_bytes(render_cps_appendix(facts))
    subprocess.run(
        [
            sys.executable, "-m", "tests.insider_sign", bundle, revoked[1],
            bundle / "issued/transcript-signer.pem", cps,
            facts.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    shutil.copy(cps, bundle / "cps/cps-appendix.pdf")
    rewrite_manifest(bundle)
    r = run_cli("verify", bundle)
    assert r.returncode == 1, r.stdout
    failed = [x for x in _failed(r.stdout) if x.startswith("FAIL  cps/cps-appendix.pdf")]
    assert any("revoked (keyCompromise) by root CRL 2 of ceremony 003" in x for x in failed), failed
    assert any("replaced by ceremony 003's" in x for x in failed), failed


@pytest.mark.parametrize("reason", ["cessation-of-operation", "ca-compromise"])
def test_a_signer_is_revoked_only_for_key_compromise_or_superseded(
    demo_bundle: Path, reason: str
) -> None:
    serial = _serial(demo_bundle / "issued/transcript-signer.pem")
    before = sorted(p.name for p in (demo_bundle / "transcripts").iterdir())
    r = run_cli("crl", demo_bundle, "--revoke", serial, "--reason", reason)
    assert_refused(r, 2, "transcript signer", "key-compromise or superseded")
    assert sorted(p.name for p in (demo_bundle / "transcripts").iterdir()) == before


def test_after_a_recovery_the_old_signer_is_revoked_as_superseded(
    demo_bundle: Path, tmp_path: Path
) -> None:
    """Later ceremonies work on the recovered token; the signer the recovery replaced is
    revoked without a replacement."""
    bundle = _copy(demo_bundle, tmp_path / "bundle")
    shares = tmp_path / "shares.txt"
    shares.write_text(
        "".join((bundle / "rehearsal/backup-shares.txt").read_text().splitlines(True)[:3])
    )
    assert run_cli("restore", bundle, "--shares", shares, "--to-token", "root-ca-2").returncode == 0
    old = _serial(bundle / "issued/transcript-signer.pem")
    r = run_cli("crl", bundle, "--revoke", old, "--reason", "superseded")
    assert r.returncode == 0, r.stderr
    events = read_log(bundle / "transcripts/004-crl")
    assert (
        next(e for e in events if e["step"] == "signer.replace")["payload"]["result"] == "skipped"
    )
    activation = next(e for e in events if e["step"] == "activation")
    assert activation["payload"]["key"]["matches_root_certificate"] is True
    r = run_cli("verify", bundle)
    assert r.returncode == 0, r.stdout
    assert (
        "ok    transcripts/004-crl/transcript.pdf: signed by the bundle's transcript signer"
        " issued/transcript-signer-003.pem" in r.stdout
    )
