"""Readable on a high-DPI screen: the wizard rendered at twice the pixel density."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.gui.conftest import ARTIFACTS, ROOT

SCRIPT = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from tests.gui.checks import layout_problems
from ui.style import apply_style
from ui.window import CeremonyWindow
app = QApplication([])
apply_style(app)
w = CeremonyWindow()
w.resize(1366, 768)
w.show()
app.processEvents()
image = w.grab()
problems = layout_problems(w)
image.save(sys.argv[1])
print(image.width(), image.height(), image.devicePixelRatio(), len(problems))
w.shutdown()
"""


def test_first_page_renders_sharp_at_twice_the_pixel_density() -> None:
    out = ARTIFACTS / "high-dpi"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": "2"}
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out / "choose-2x.png")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    width, height, ratio, problems = p.stdout.split()
    assert (int(width), int(height), float(ratio)) == (2732, 1536, 2.0)
    assert problems == "0"
    warnings = [line for line in p.stderr.splitlines() if "propagateSizeHints" not in line]
    assert not warnings, warnings
    assert Path(out / "choose-2x.png").stat().st_size > 10_000
