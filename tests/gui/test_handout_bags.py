"""The hand-out panel takes the serial of the tamper-evident bag each card goes into."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from ceremony.config.ceremonyfile import Participant, Role
from ui.panels.handout import HandOutPanel
from ui.prompter import HAND_OUT, PromptRequest

MNEMONICS = ["alpha " * 19 + "end", "beta " * 19 + "end"]
HOLDERS = [
    Participant("Cleo Custodian", Role.CUSTODIAN),
    Participant("Dan Custodian", Role.CUSTODIAN),
]


def _panel(qtbot: QtBot, **extra: object) -> tuple[HandOutPanel, PromptRequest]:
    request = PromptRequest(
        HAND_OUT, purpose="activation", mnemonics=MNEMONICS, custodians=HOLDERS, **extra
    )
    panel = HandOutPanel(request)
    qtbot.addWidget(panel)
    panel.show()
    return panel, request


def _card(panel: HandOutPanel, serial: str) -> None:
    panel.show_button.click()
    panel.written.setChecked(True)
    panel.bag.setText(serial)


def test_each_card_gets_its_own_bag_and_the_serials_are_the_answer(qtbot: QtBot) -> None:
    panel, request = _panel(qtbot)
    panel.show_button.click()
    panel.written.setChecked(True)
    assert not panel.done_button.isEnabled(), "no bag serial yet"
    panel.bag.setText("  TEB 0001 ")
    panel.done_button.click()
    _card(panel, "TEB 0001")
    panel.done_button.click()
    assert not request.answered
    assert "already given for Cleo Custodian's card" in panel.bag_problem.text()
    assert panel.word_labels, "the share stays on screen until the serial is right"
    panel.bag.setText("TEB\u202e0002")
    panel.done_button.click()
    assert "bag serial" in panel.bag_problem.text() and not request.answered
    panel.bag.setText("TEB 0002")
    panel.done_button.click()
    assert request.answered
    assert request.wait() == {"Cleo Custodian": "TEB 0001", "Dan Custodian": "TEB 0002"}


def test_a_share_shown_again_asks_no_new_bag(qtbot: QtBot) -> None:
    panel, request = _panel(qtbot, index=1)
    panel._mnemonics = MNEMONICS[:1]
    panel.show_button.click()
    assert not panel.bag.isVisible()
    panel.written.setChecked(True)
    panel.done_button.click()
    assert request.answered and request.wait() is None
