"""The wizard works with the keyboard alone: a whole rehearsal without one mouse click."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from tests.gui.driver import KeyboardDriver
from tests.helpers import run_cli
from ui.window import CeremonyWindow


def test_rehearsal_root_ceremony_by_keyboard_alone(
    window: CeremonyWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    k = KeyboardDriver(window, qtbot)
    window.activateWindow()
    out = tmp_path / "bundle"
    assert k.rehearse_root(out, threshold=2, shares=2), k.page.report.toPlainText()
    assert run_cli("verify", out).returncode == 0
