"""VERIFYING.txt: its commands, run as an auditor would copy them, check the bundle."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import run_cli

GUIDE = "VERIFYING.txt"


def _blocks(text: str) -> list[str]:
    """The indented command blocks of the guide, in order."""
    blocks, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("    "):
            current.append(line[4:])
        elif current and line.strip() == "":
            current.append("")
        else:
            if current:
                blocks.append("\n".join(current).strip() + "\n")
            current = []
    return blocks


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True
    )


def test_the_bundle_carries_the_guide_and_lists_it(demo_bundle: Path) -> None:
    assert (demo_bundle / GUIDE).is_file()
    assert re.search(rf"^[0-9a-f]{{64}}  {GUIDE}$", (demo_bundle / "SHA256SUMS").read_text(), re.M)
    v = run_cli("verify", demo_bundle)
    assert f"ok    {GUIDE}: how to check the bundle without this tool" in v.stdout


def test_the_guides_commands_check_a_genuine_bundle(bundle_copy: Path, tmp_path: Path) -> None:
    blocks = _blocks((bundle_copy / GUIDE).read_text())
    manifest, fingerprint, signatures, nss, _pyhanko, embedded, script, run = blocks
    assert "sha256sum -c SHA256SUMS" in manifest
    r = _bash(manifest, bundle_copy)
    assert r.returncode == 0 and r.stdout.count(": OK") > 10, r.stdout + r.stderr
    r = _bash(fingerprint, bundle_copy)
    root = run_cli("verify", bundle_copy).stdout
    fp = re.search(r"root certificate SHA-256 fingerprint ([0-9a-f]{64})", root)
    assert fp and fp.group(1).upper() in r.stdout.replace(":", "")
    r = _bash(signatures, bundle_copy)
    assert r.returncode == 0 and r.stdout.count(": OK") >= 2 and "verify OK" in r.stderr, r
    r = _bash(nss, bundle_copy)
    documents = len(list(bundle_copy.glob("transcripts/*/transcript.pdf"))) + 1
    assert r.stdout.count("Certificate is Trusted") == documents, r.stdout + r.stderr
    assert r.stdout.count("Signature is Valid") == documents
    r = _bash(embedded, bundle_copy)
    assert r.stdout.count("embedded log matches") == documents - 1, r.stdout + r.stderr
    assert run == "python3 chain.py .\n"
    (tmp_path / "chain.py").write_text(script)
    chain = subprocess.run(
        [sys.executable, "-I", str(tmp_path / "chain.py"), "."],
        cwd=bundle_copy,
        capture_output=True,
        text=True,
    )
    assert chain.returncode == 0, chain.stdout + chain.stderr
    head = re.search(r"final event hash ([0-9a-f]{64})", root)
    assert head and chain.stdout.strip().endswith(head.group(1)), chain.stdout


def test_the_guides_script_finds_a_broken_or_renumbered_chain(
    bundle_copy: Path, tmp_path: Path
) -> None:
    script = _blocks((bundle_copy / GUIDE).read_text())[6]
    (tmp_path / "chain.py").write_text(script)

    def chain() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-I", str(tmp_path / "chain.py"), str(bundle_copy)],
            capture_output=True,
            text=True,
        )

    log = bundle_copy / "transcripts/002-sign-csr/events.jsonl"
    lines = log.read_text().splitlines()
    event = json.loads(lines[3])
    event["actor"]["name"] = "Mallory"
    log.write_text("\n".join([*lines[:3], json.dumps(event), *lines[4:]]) + "\n")
    r = chain()
    assert r.returncode == 1 and "002-sign-csr event 4: breaks the chain" in r.stdout, r.stdout
    log.write_text("\n".join(lines) + "\n")
    assert chain().returncode == 0
    (bundle_copy / "transcripts/002-sign-csr").rename(bundle_copy / "transcripts/003-sign-csr")
    r = chain()
    assert r.returncode == 1 and "003-sign-csr: expected ceremony 002 here" in r.stdout, r.stdout


def test_following_the_guide_writes_nothing_into_the_bundle(bundle_copy: Path) -> None:
    for block in _blocks((bundle_copy / GUIDE).read_text())[:6]:
        if not block.startswith("pyhanko"):
            _bash(block, bundle_copy)
    assert run_cli("verify", bundle_copy).returncode == 0
