"""Crash injection at every commit point of the root ceremony, then resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ceremony.faults import FAULT_ENV, FAULT_EXIT
from ceremony.flow.scripts import ROOT
from ceremony.hsm import keys
from ceremony.hsm.module import Hsm
from tests.helpers import run_cli

pytestmark = pytest.mark.crash

STEPS = [s.name for s in ROOT]
# "action": the step's work is done but its event is not written (the dangerous case, every
# step); "event": written but the next step not begun (where resume must not redo anything).
EVENT_POINTS = ("token.init", "root.key", "backup.create", "ceremony.close")
POINTS = [(s, "action") for s in STEPS] + [(s, "event") for s in EVENT_POINTS]
POINTS.append(("token.init", "before"))
# The root ceremony's closing documents: the first of each name the demo meets is the root's.
POINTS += [
    ("close.transcript", "before"),
    ("close.cps", "before"),
    ("close.manifest", "before"),
    ("write:transcript.pdf", "partial"),
    ("write:root-ca.pem", "partial"),
]


def _private_keys(bundle: Path, label: str) -> int:
    secrets = json.loads((bundle / "rehearsal/secrets.json").read_text())
    from ceremony.flow.quorum import recover_pins

    pin = recover_pins(secrets["activation_shares"][:3]).user_secret.hex()
    hsm = Hsm(softhsm_home=bundle / "rehearsal")
    hsm.reload()
    with hsm.session("root-ca", pin) as s:
        return keys.key_labels(s).count(label)


@pytest.mark.parametrize("step, point", POINTS, ids=[f"{s}:{p}" for s, p in POINTS])
def test_crash_then_resume_gives_a_valid_bundle_and_one_root_key(
    step: str, point: str, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    crashed = run_cli("demo", "--out", out, env={FAULT_ENV: f"{step}:{point}"})
    assert crashed.returncode == FAULT_EXIT, crashed.stderr

    resumed = run_cli("demo", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    v = run_cli("verify", out)
    assert v.returncode == 0, v.stdout

    assert _private_keys(out, "root-ca-key") == 1
    events = [
        json.loads(x) for x in (out / "transcripts/001-root/events.jsonl").read_text().splitlines()
    ]
    done = [e["step"] for e in events if e["event"] == "step"]
    assert done == STEPS, "every step recorded exactly once, in order"
    assert sorted(p.name for p in (out / "transcripts").iterdir()) == ["001-root", "002-sign-csr"]
    exceptions = [e for e in events if e["event"] == "exception"]
    if point == "action" and step in ("token.init", "root.key", "signer.key"):
        assert any("interrupted" in e["payload"]["description"] for e in exceptions)
    if point == "action" and step in ("root.certificate", "signer.certificate"):
        assert any("left by an interrupted step" in e["payload"]["description"] for e in exceptions)
