"""Shared by the crash and disk-full tests of the later ceremonies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ceremony.hsm.module import SoftHsmHome


def copy_bundle(demo_bundle: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(demo_bundle, dst)
    SoftHsmHome(dst / "rehearsal").ensure()
    return dst


def bundle_events(bundle: Path, kind: str) -> list[dict]:
    [folder] = sorted((bundle / "transcripts").glob(f"*-{kind}"))[-1:]
    return [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]


def verified(bundle: Path) -> None:
    from ceremony.audit.verify import verify_bundle

    failed = [c.line() for c in verify_bundle(bundle) if not c.ok]
    assert not failed, failed
