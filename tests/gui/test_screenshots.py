"""scripts/screenshots: all four ceremonies through the real wizard, no Qt warning printed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.gui.conftest import ROOT


def test_screenshots_cover_the_four_ceremonies_without_qt_warnings(tmp_path: Path) -> None:
    out = tmp_path / "shots"
    p = subprocess.run(
        [str(ROOT / "scripts" / "screenshots"), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stderr == "", p.stderr
    for kind in ("root", "sign-csr", "crl", "recovery"):
        assert f"{kind}: " in p.stdout and "valid: True" in p.stdout
        assert len(list((out / kind).glob("*.png"))) >= 10, kind
    assert list((out / "recovery").glob("*-target.png")), "the recovery asks its new token"
