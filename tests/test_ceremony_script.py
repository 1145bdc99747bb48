"""``ceremony script``: the printed script of each ceremony, and its hash in the log at open."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from ceremony.config import ceremonyfile
from ceremony.flow import scripts
from ceremony.flow.roomscript import script_for
from tests.helpers import assert_refused, run_cli


def _text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, check=True)
    return re.sub(r"\s+", " ", out.stdout.decode())


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def ceremony_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("script") / "ceremony.toml"
    path.write_bytes(ceremonyfile.render(ceremonyfile.rehearsal_definition()))
    return path


@pytest.mark.parametrize("kind", ["root", "sign-csr", "crl", "recovery"])
def test_the_script_holds_every_step_as_the_wizard_reads_it(
    kind: str, ceremony_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / f"{kind}.pdf"
    r = run_cli("script", "--ceremony", ceremony_file, "--kind", kind, "--out", out)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() in r.stdout
    text = _text(out)
    definition, _ = ceremonyfile.load(ceremony_file)
    for participant in definition.participants:
        assert participant.name in text
    for heading in ("Roles and participants", "Sign-in sheet", "Tamper-evident bags", "Sign-off"):
        assert heading in text
    for number, step in enumerate(scripts.BY_KIND[kind], 1):
        said = script_for(step, definition)
        assert f"{number}. {_flat(step.activity_for(definition))}" in text
        assert _flat(said.read_aloud) in text, step.name
        for duty in said.duties:
            assert _flat(duty.does) in text, (step.name, duty.does)
    assert text.count("Time (UTC)") == len(scripts.BY_KIND[kind]), "initials and time boxes"
    assert "REHEARSAL" not in text


def test_the_log_records_the_hash_of_the_script_the_room_printed(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    r = run_cli("demo", "--out", bundle)
    assert r.returncode == 0, r.stderr
    for folder, kind in (("001-root", "root"), ("002-sign-csr", "sign-csr")):
        printed = tmp_path / f"{kind}.pdf"
        made = run_cli(
            "script",
            "--ceremony",
            bundle / "ceremony.toml",
            "--kind",
            kind,
            "--rehearsal",
            "--out",
            printed,
        )
        assert made.returncode == 0, made.stderr
        assert "REHEARSAL" in _text(printed)
        events = (bundle / "transcripts" / folder / "events.jsonl").read_text().splitlines()
        opened = json.loads(events[0])
        assert opened["step"] == "ceremony.open"
        assert (
            opened["payload"]["script_sha256"] == hashlib.sha256(printed.read_bytes()).hexdigest()
        )


def test_refusals_write_nothing(ceremony_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "script.pdf"
    out.write_bytes(b"kept")
    r = run_cli("script", "--ceremony", ceremony_file, "--kind", "root", "--out", out)
    assert_refused(r, 2, str(out), "never overwritten")
    assert out.read_bytes() == b"kept"
    r = run_cli(
        "script",
        "--ceremony",
        tmp_path / "none.toml",
        "--kind",
        "root",
        "--out",
        tmp_path / "a.pdf",
    )
    assert_refused(r, 2, "none.toml")
    r = run_cli(
        "script", "--ceremony", ceremony_file, "--kind", "root", "--out", tmp_path / "no" / "a.pdf"
    )
    assert_refused(r, 2, "no such folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["script.pdf"]
