"""Offered when the chosen bundle holds an open ceremony: continue at its last commit point."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QCheckBox, QWidget

from ceremony.flow.wizard import OWNED_STEPS, Page
from ui.pages.base import WizardPage
from ui.widgets.facts import FactList
from ui.widgets.text import label, named, notice

if TYPE_CHECKING:
    from ui.shell import Shell


class ResumePage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        self.notice = notice("", "warning")
        self.layout_.addWidget(self.notice)
        self.facts = FactList()
        self.layout_.addWidget(self.facts)
        self.layout_.addWidget(
            label(
                "Continuing signs the room in again and repeats the preflight checks, then goes "
                "on with the first step the event log does not show as done. Nothing recorded is "
                "repeated: an HSM object or file left by the interrupted step is reported before "
                "anything touches it, and the interruption is recorded as an exception."
            )
        )
        self.confirm = named(
            QCheckBox("&Continue this ceremony at its last commit point"),
            "Continue the interrupted ceremony",
        )
        self.confirm.toggled.connect(self.notify)
        self.layout_.addWidget(self.confirm)
        self.layout_.addWidget(
            label("To start a different ceremony, go Back and choose another folder.")
        )
        self.layout_.addStretch(1)

    def title(self) -> str:
        return "Resume the interrupted ceremony"

    def enter(self) -> None:
        probe = self.shell.probe
        data = self.shell.data
        if probe is None:
            return
        steps = list(data.steps)
        pending = [s for s in steps if s not in probe.done]
        self.notice.setText(
            f"{probe.path} holds a ceremony that did not close ({self.shell.plan.title}): it "
            "was interrupted by a crash, a power loss or an abort."
        )
        next_step = next((s for s in pending if s not in OWNED_STEPS), None)
        self.facts.set_rows(
            [
                ("Transcript", str(probe.open_transcript.name if probe.open_transcript else "")),
                ("Steps recorded", ", ".join(probe.done) or "(none)"),
                ("Last event at", probe.last_time or "(none)"),
                ("Continues with", next_step or "closing the ceremony"),
            ]
        )

    def is_complete(self) -> bool:
        return self.confirm.isChecked()

    def first_focus(self) -> QWidget | None:
        return self.confirm
