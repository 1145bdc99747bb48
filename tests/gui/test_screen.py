"""Screen and keyboard: the window fits the screen at any scale; Enter, Pause, glossary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.gui.conftest import ROOT
from ui.window import CeremonyWindow

SCRIPT = """
import sys
from PySide6.QtWidgets import QApplication
from tests.gui.checks import layout_problems
from ui.style import apply_style
from ui.window import CeremonyWindow
app = QApplication([])
apply_style(app)
w = CeremonyWindow()
w.show()
app.processEvents()
room = app.primaryScreen().availableGeometry()
frame = w.frameGeometry()
hint = w.minimumSizeHint()
print(room.width(), room.height(), frame.width(), frame.height(), hint.width(), hint.height(),
      int(w.side.isVisible()), len(layout_problems(w)))
w.shutdown()
"""


@pytest.mark.parametrize(
    ("width", "height", "scale"), [(1366, 768, "1"), (1366, 768, "1.5"), (1024, 600, "1")]
)
def test_the_window_fits_the_available_screen(
    tmp_path: Path, width: int, height: int, scale: str
) -> None:
    config = tmp_path / "screen.json"
    config.write_text(
        json.dumps(
            {
                "windowFrameMargins": True,
                "screens": [
                    {
                        "name": "s",
                        "x": 0,
                        "y": 0,
                        "width": width,
                        "height": height,
                        "logicalDpi": 96,
                        "logicalBaseDpi": 96,
                        "dpr": 1,
                    }
                ],
            }
        )
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": f"offscreen:configfile={config}",
        "QT_SCALE_FACTOR": scale,
    }
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    room_w, room_h, frame_w, frame_h, min_w, min_h, side, problems = map(int, p.stdout.split())
    assert frame_w <= room_w and frame_h + CeremonyWindow.TITLE_BAR <= room_h, p.stdout
    assert min_w <= room_w and min_h + CeremonyWindow.TITLE_BAR <= room_h, p.stdout
    assert side == (1 if room_w >= 960 else 0), "the step list folds away on a narrow screen"
    assert problems == 0
    assert not [line for line in p.stderr.splitlines() if "propagateSizeHints" not in line]


def test_enter_presses_next_pause_clears_the_screen_and_f1_opens_the_glossary(
    window: CeremonyWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    page = window.current_page
    page.rehearsal.click()
    page.rehearsal.setFocus()
    qtbot.waitUntil(window.primary.isEnabled, timeout=60_000)
    qtbot.keyClick(page.rehearsal, Qt.Key.Key_Return)
    assert window.navigator.current.key == "setup", "Enter presses Next"
    setup = window.current_page
    setup.folder.setText(str(tmp_path / "bundle"))
    qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
    assert window.central.currentWidget() is window.pause_cover
    assert not window.page_stack.isVisible() and not window.side.isEnabled()
    assert not window.primary.isEnabled() and window.title.text() == "Paused"
    qtbot.keyClick(window.resume_button, Qt.Key.Key_Space)
    assert window.central.currentWidget() is window.page_stack
    assert setup.folder.text() == str(tmp_path / "bundle"), "nothing is lost"
    assert window.primary.isEnabled() and page is not setup
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert window.glossary is not None and window.glossary.isVisible()
    assert "Quorum (M of N)" in window.glossary.text.toPlainText()
    window.glossary.close()
    shown = window.side.isVisible()
    qtbot.mouseClick(window.steps_button, Qt.MouseButton.LeftButton)
    assert window.side.isVisible() is not shown, "the step list folds and unfolds"
    qtbot.keyClick(window.primary, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.side.isVisible() is shown
    assert "UTC" in window.clock.text() and "Elapsed" in window.clock.text()
