"""A complete rehearsal root ceremony driven through the wizard only, on SoftHSM2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from tests.gui.driver import WizardDriver
from tests.helpers import run_cli
from ui.window import CeremonyWindow

NAMES = ["Ada Lovelace", "Wim de Wit", "Cleo Custodian", "Dan Custodian", "Eve Custodian"]


def test_rehearsal_root_ceremony_through_the_wizard_verifies(
    driver: WizardDriver,
    window: CeremonyWindow,
    qtbot: QtBot,
    tmp_path: Path,
) -> None:
    out = tmp_path / "bundle"

    driver.choose("root", rehearsal=True)
    driver.setup(out, threshold=2, shares=3)
    driver.sign_in(NAMES)
    driver.preflight()

    # the witness records an exception on a step page, before running it
    assert driver.key == "step:token.init"
    window.exception_button.click()
    dialog = window.exception_dialog
    assert dialog is not None
    driver.type(dialog.description, "The ceremony room door was found unlocked")
    driver.type(dialog.remediation, "Door locked; the witness checked the room")
    driver.shot("exception-dialog")
    driver.click(dialog.ok)
    qtbot.waitUntil(lambda: "recorded in the event log" in window.status.text(), timeout=10_000)

    driver.run_steps()
    assert driver.summary() is True, driver.page.report.toPlainText()

    verify = run_cli("verify", out)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    events = [
        json.loads(x) for x in (out / "transcripts/001-root/events.jsonl").read_text().splitlines()
    ]
    opened = next(e for e in events if e["step"] == "ceremony.open")
    assert [p["name"] for p in opened["payload"]["participants"]] == NAMES
    noted = [e["payload"] for e in events if e["event"] == "exception"]
    assert {
        "description": "The ceremony room door was found unlocked",
        "remediation": "Door locked; the witness checked the room",
    } in noted
    serials = {e["step"]: e["payload"].get("bag_serials") for e in events if e["event"] == "step"}
    custodians = NAMES[2:]
    assert serials["token.init"] == {n: f"TEB-{i:04}" for i, n in enumerate(custodians, 1)}
    assert serials["backup.create"] == {n: f"TEB-{i + 3:04}" for i, n in enumerate(custodians, 1)}
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps[0] == "ceremony.open" and steps[-1] == "ceremony.close"

    # shares were handed out and written down, never logged nor left on the clipboard
    log_text = "".join(p.read_text() for p in out.rglob("*.jsonl"))
    assert len(driver.cards) == 6
    for words in driver.cards.values():
        assert " ".join(words.split()[3:9]) not in log_text
    assert not QGuiApplication.clipboard().text()
    assert "PySide6.QtNetwork" not in sys.modules, "the wizard must not load Qt's network stack"
