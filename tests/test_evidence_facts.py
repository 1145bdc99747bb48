"""The evidence an auditor asks of every ceremony: the HSM and its library, the software,
who attended, who presented shares, the bag of every share card, a recording reference,
and after a recovery the new token and what became of the old one."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ceremony import software
from ceremony.audit.facts import ceremony_facts, problems
from tests.helpers import assert_refused, run_cli


def _events(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]


def _text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True)
    return " ".join(out.stdout.split())


def test_every_ceremony_records_hsm_library_software_and_attendance(demo_bundle: Path) -> None:
    for folder in sorted((demo_bundle / "transcripts").iterdir()):
        events = _events(folder)
        facts = ceremony_facts(events)
        assert facts.software is not None and facts.library is not None, folder
        library = facts.library
        resolved = Path(str(library["resolved"]))
        assert library["sha256"] == hashlib.sha256(resolved.read_bytes()).hexdigest()
        assert facts.software["ceremony"]["sha256"] == software.package_hash()
        assert facts.software["python"]["version"] == platform.python_version()
        assert facts.software["kernel"]["release"] == platform.release()
        assert any(d.startswith("cryptography==") for d in facts.software["distributions"])
        os_name = software.os_release().get("PRETTY_NAME")
        assert facts.token is not None and facts.token["serial"]
        assert facts.present is not None and facts.absent == ()
        assert problems(events, None) == []
        text = _text(folder / "transcript.pdf")
        for shown in (
            str(facts.token["serial"]),
            str(library["sha256"]),
            facts.software["ceremony"]["sha256"],
            platform.release(),
            os_name or "not recorded",
            "Signed in",
        ):
            assert " ".join(shown.split()) in text, (folder.name, shown)


def test_rehearsal_bags_are_recorded_for_every_card(demo_bundle: Path) -> None:
    root = _events(next((demo_bundle / "transcripts").glob("*-root")))
    facts = ceremony_facts(root)
    by_purpose = {b.purpose: b.serials for b in facts.bags}
    custodians = [n for n, r in facts.participants if r == "custodian"]
    for purpose in ("activation", "recovery"):
        serials = by_purpose[purpose]
        assert serials is not None and list(serials) == custodians
        assert all(s.startswith(f"REHEARSAL-{purpose.upper()}-") for s in serials.values())
    text = _text(next((demo_bundle / "transcripts").glob("*-root")) / "transcript.pdf")
    assert "REHEARSAL-RECOVERY-05" in text and "Tamper-evident bag serial" in text


def test_recovery_names_the_new_token_and_the_old_tokens_fate(
    bundle_copy: Path, tmp_path: Path
) -> None:
    shares = tmp_path / "shares.txt"
    lines = (bundle_copy / "rehearsal/backup-shares.txt").read_text().splitlines()
    shares.write_text("\n".join(lines[:3]) + "\n")
    before = [e for f in sorted((bundle_copy / "transcripts").iterdir()) for e in _events(f)]
    old = next(e for e in before if e["step"] == "token.init")["payload"]["token"]
    r = run_cli(
        "restore",
        bundle_copy,
        "--shares",
        shares,
        "--to-token",
        "root-ca-new",
        "--old-token",
        "destroyed",
        "--recording",
        "tape 7, camera B",
    )
    assert r.returncode == 0, r.stderr
    folder = next((bundle_copy / "transcripts").glob("*-recovery"))
    facts = ceremony_facts(_events(folder))
    assert facts.new_token is not None and facts.new_token["label"] == "root-ca-new"
    assert facts.old_token == {
        "label": old["label"],
        "serial": old["serial"],
        "manufacturer": old["manufacturer"],
        "model": old["model"],
        "fate": "destroyed",
    }
    assert facts.recording == "tape 7, camera B"
    assert facts.old_signer == {
        "certificate": "issued/transcript-signer.pem",
        "superseded_by": f"issued/transcript-signer-{folder.name[:3]}.pem",
        "key_on_old_token": True,
    }
    text = _text(folder / "transcript.pdf")
    assert "destroyed in the room" in text and str(old["serial"]) in text
    assert str(facts.new_token["serial"]) in text and "tape 7, camera B" in text
    assert "issued/transcript-signer.pem, superseded by issued/transcript-signer-" in text
    cps = _text(bundle_copy / "cps/cps-appendix.pdf")
    assert f"serial {facts.new_token['serial']}" in cps and "holds the root key" in cps
    assert "replaced; destroyed in the room" in cps
    v = run_cli("verify", bundle_copy)
    assert v.returncode == 0, v.stdout


def test_a_rehearsal_recovery_keeps_the_old_token_unless_told(
    bundle_copy: Path, tmp_path: Path
) -> None:
    shares = tmp_path / "shares.txt"
    lines = (bundle_copy / "rehearsal/backup-shares.txt").read_text().splitlines()
    shares.write_text("\n".join(lines[1:4]) + "\n")
    bad = run_cli(
        "restore", bundle_copy, "--shares", shares, "--to-token", "x", "--old-token", "gone"
    )
    assert bad.returncode == 2 and "--old-token" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli(
        "restore", bundle_copy, "--shares", shares, "--to-token", "x", "--recording", "a\u202eb"
    )
    assert_refused(bad, 2, "--recording")
    r = run_cli("restore", bundle_copy, "--shares", shares, "--to-token", "root-ca-2")
    assert r.returncode == 0, r.stderr
    folder = next((bundle_copy / "transcripts").glob("*-recovery"))
    old = ceremony_facts(_events(folder)).old_token
    assert old is not None and old["fate"] == "kept" and old["label"] == "root-ca"
    assert "holds the root key" in _text(bundle_copy / "cps/cps-appendix.pdf")


def _event(seq: int, step: str, payload: dict[str, Any], actor: str = "Ada") -> dict[str, Any]:
    return {"seq": seq, "step": step, "actor": {"name": actor, "role": "x"}, "payload": payload}


def _opened(present: list[str], absent: list[str]) -> list[dict[str, Any]]:
    people = [("Ada", "ceremony-administrator"), ("Wim", "witness")]
    people += [(f"C{i}", "custodian") for i in range(1, 4)]
    return [
        _event(
            1,
            "ceremony.open",
            {
                "participants": [{"name": n, "role": r} for n, r in people],
                "attendance": {"present": present, "absent": absent},
                "software": {"ceremony": {}},
            },
        ),
        _event(2, "preflight", {"library": {"path": "x"}}),
    ]


def test_facts_that_contradict_the_attendance_are_named() -> None:
    everyone = ["Ada", "Wim", "C1", "C2", "C3"]
    assert problems(_opened(everyone, []), 2) == []
    short = [*_opened(["Ada", "Wim", "C1", "C2"], ["C3"])]
    short.append(_event(3, "activation", {"presented_by": ["C1", "C3"]}))
    short.append(_event(4, "activation", {"presented_by": ["C1"]}))
    short.append(_event(5, "root.key", {}, actor="C3"))
    short.append(_event(6, "token.init", {"bag_serials": {"Wim": "B-1"}}))
    found = problems(short, 2)
    assert any("shares presented by C3, not a custodian signed in as present" in p for p in found)
    assert any("1 custodians presented shares, the quorum needs 2" in p for p in found)
    assert any("event 5: C3 acted but was not signed in as present" in p for p in found)
    assert any("bag serials for Wim, not custodians" in p for p in found)
    split = problems(_opened(["Ada", "Wim", "C1"], ["C1"]), None)
    assert any("do not split the participants" in p for p in split)
    recovery = [
        *_opened(everyone, []),
        {**_event(3, "token.init", {"token": {"label": "new"}}), "kind": "recovery"},
    ]
    assert problems(recovery, None) == []
    assert problems(recovery, None, real=True) == [
        "the recovery does not record what became of the token it replaces"
    ]
    recovery.append(_event(4, "recovery.old-token", {"old_token": {"fate": "lost"}}))
    assert problems(recovery, None, real=True) == []
    bare = problems([_event(1, "ceremony.open", {})], None)
    assert "the opening event records no software identity" in bare
    assert "the preflight records no PKCS#11 library identity" in bare


@pytest.mark.parametrize("missing", ["software", "library"])
def test_verify_names_a_ceremony_without_its_evidence(bundle_copy: Path, missing: str) -> None:
    """A log re-written without the facts (and re-chained) still fails, naming what is missing."""
    from ceremony.audit.eventlog import event_hash

    folder = next((bundle_copy / "transcripts").glob("*-sign-csr"))
    events = _events(folder)
    for e in events:
        e["payload"].pop(missing, None)
    prev = events[0]["prev"]
    for e in events:
        e["prev"] = prev
        e["hash"] = event_hash(e)
        prev = e["hash"]
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    v = run_cli("verify", bundle_copy)
    assert v.returncode == 1
    what = "software identity" if missing == "software" else "PKCS#11 library identity"
    assert f"transcripts/{folder.name} evidence" in v.stdout and what in v.stdout, v.stdout
