"""Crash injection at every step of sign-csr, crl and restore, closing documents included:
the process dies at the point (as kill -9 or a power cut would), the same command is run
again, and the bundle verifies with every step recorded exactly once. Disk full during
each closing document: tests/test_disk_full_closing.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509

from ceremony.faults import FAULT_ENV, FAULT_EXIT
from ceremony.flow.scripts import CRL, RECOVERY, SIGN_CSR
from tests.crash import bundle_events, copy_bundle, verified
from tests.helpers import make_csr, run_cli

pytestmark = pytest.mark.crash

# Every point in the order one run meets it: each run of a chain dies at the next point,
# so every point is met once by a run that resumes what the run before left.
CLOSING = [
    ("close.transcript", "before"),
    ("write:transcript.pdf", "partial"),
    ("close.transcript", "after"),
    ("close.cps", "before"),
    ("write:cps-appendix.pdf", "partial"),
    ("close.cps", "after"),
    ("close.manifest", "before"),
    ("write:SHA256SUMS", "partial"),
]


def _chain(steps: Sequence[str], writes: dict[str, Sequence[str]], events: Sequence[str]) -> list:
    points = [(steps[0], "before")]
    for step in steps:
        points += [(f"write:{w}", "partial") for w in writes.get(step, ())]
        points.append((step, "action"))
        if step in events:
            points.append((step, "event"))
    return points + CLOSING


SIGN_POINTS = _chain(
    [s.name for s in SIGN_CSR],
    {"csr.review": ["ops.csr"], "intermediate.sign": ["ops.pem"]},
    ["csr.review", "intermediate.sign", "media.export", "ceremony.close"],
)
CRL_POINTS = _chain(
    [s.name for s in CRL],
    {"crl.issue": ["root-ca-2.crl", "root-ca.crl"]},
    ["crl.issue", "media.export", "ceremony.close"],
)
RESTORE_POINTS = _chain(
    [s.name for s in RECOVERY],
    {"signer.certificate": ["transcript-signer-003.pem"]},
    ["token.init", "recovery.unwrap", "signer.key", "ceremony.close"],
)


def _crash_at_every_point(args: Sequence[str | Path], points: list) -> None:
    """Run ``args`` once per point, each run dying there; then once to the end."""
    for name, point in points:
        crashed = run_cli(*args, env={FAULT_ENV: f"{name}:{point}"})
        assert crashed.returncode == FAULT_EXIT, (f"{name}:{point}", crashed.stderr)
    rerun = run_cli(*args)
    assert rerun.returncode == 0, rerun.stderr


def _once_in_order(bundle: Path, kind: str, steps: Sequence[str]) -> list[dict]:
    events = bundle_events(bundle, kind)
    assert [e["step"] for e in events if e["event"] == "step"] == list(steps)
    assert not list(bundle.rglob("*.partial")), "no temporary file left"
    removed = [e for e in events if "temporary file" in e["payload"].get("description", "")]
    assert removed, "a temporary file an interruption left is removed on record"
    return events


def test_sign_csr_resumes_from_every_point(demo_bundle: Path, tmp_path: Path) -> None:
    bundle = copy_bundle(demo_bundle, tmp_path)
    media = tmp_path / "usb"
    media.mkdir()
    csr = make_csr(tmp_path / "ops.csr", "Ops Issuing CA")
    _crash_at_every_point(("sign-csr", bundle, csr, "--name", "ops", "--media", media), SIGN_POINTS)
    verified(bundle)
    _once_in_order(bundle, "sign-csr", [s.name for s in SIGN_CSR])
    assert sorted(p.name for p in (bundle / "transcripts").iterdir())[-1] == "003-sign-csr"
    [export] = media.iterdir()
    assert (export / "ops.pem").read_bytes() == (bundle / "issued/ops.pem").read_bytes()


def test_crl_with_revocation_resumes_from_every_point(demo_bundle: Path, tmp_path: Path) -> None:
    bundle = copy_bundle(demo_bundle, tmp_path)
    media = tmp_path / "usb"
    media.mkdir()
    serial = x509.load_pem_x509_certificate(
        (bundle / "issued/sample-intermediate.pem").read_bytes()
    ).serial_number
    args = ("crl", bundle, "--revoke", f"{serial:x}", "--reason", "superseded")
    _crash_at_every_point((*args, "--media", media), CRL_POINTS)
    verified(bundle)
    _once_in_order(bundle, "crl", [s.name for s in CRL])
    crl = x509.load_der_x509_crl((bundle / "root/root-ca.crl").read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert len(list((bundle / "root").glob("root-ca-*.crl"))) == 2
    assert len(list(media.iterdir())) == 1


def test_restore_resumes_from_every_point(demo_bundle: Path, tmp_path: Path) -> None:
    bundle = copy_bundle(demo_bundle, tmp_path)
    lines = (bundle / "rehearsal/backup-shares.txt").read_text().splitlines()[:3]
    shares = tmp_path / "shares.txt"
    shares.write_text("\n".join(lines) + "\n")
    _crash_at_every_point(
        ("restore", bundle, "--shares", shares, "--to-token", "restored"), RESTORE_POINTS
    )
    verified(bundle)
    events = _once_in_order(bundle, "recovery", [s.name for s in RECOVERY])
    from ceremony.hsm.module import Hsm

    hsm = Hsm(softhsm_home=bundle / "rehearsal")
    hsm.reload()
    assert sorted(hsm.labels()) == ["restored", "root-ca"], "one new token, no orphan"
    unwrap = next(e for e in events if e["step"] == "recovery.unwrap")
    assert unwrap["payload"]["proof"]["signature_verified_with_root_certificate"] is True
