"""Recovery input: the label of the new token, checked before anyone types a share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QWidget

from ceremony.audit.facts import FATES
from ceremony.bundle import Bundle
from ceremony.errors import CeremonyError
from ceremony.flow.ceremonies import load_definition
from ceremony.flow.wizard import Page
from ui.pages.base import WizardPage, error_text
from ui.widgets.text import label, named, notice, set_buddies, set_notice

if TYPE_CHECKING:
    from ui.shell import Shell


class TargetPage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        self.checked: str | None = None
        self.layout_.addWidget(
            label(
                "The root key is rebuilt into a new, empty token: initialize it in the HSM (or "
                "plug in the new HSM) before the custodians present their recovery shares. "
                "Type the new token's label; the wizard checks that no token has it yet, so "
                "nobody types a share for a ceremony that cannot finish."
            )
        )
        form = QFormLayout()
        self.label_edit = named(QLineEdit(), "Label of the new token")
        self.label_edit.setMaxLength(32)
        self.label_edit.textEdited.connect(self._edited)
        form.addRow("Token &label:", self.label_edit)
        self.fate = named(QComboBox(), "What became of the old token")
        self.fate.addItem("Choose what became of it…", None)
        for key, text in FATES.items():
            self.fate.addItem(text, key)
        self.fate.currentIndexChanged.connect(self.notify)
        form.addRow("What became of the &old token:", self.fate)
        set_buddies(form)
        self.layout_.addLayout(form)
        self.tokens = label("")
        self.tokens.setAccessibleName("Tokens the HSM holds now")
        self.layout_.addWidget(self.tokens)
        self.message = notice("", "info")
        self.message.setVisible(False)
        self.message.setAccessibleName("New token label check")
        self.layout_.addWidget(self.message)
        self.layout_.addStretch(1)

    def title(self) -> str:
        return "Recovery: the new token"

    def subtitle(self) -> str:
        return "Checked now, before any share is typed."

    def enter(self) -> None:
        session = self.shell.session
        if session is not None and session.rehearsal and self.fate.currentData() is None:
            self.fate.setCurrentIndex(self.fate.findData("kept"))  # a rehearsal keeps its token
        if self.label_edit.text():
            return
        folder = self.shell.data.bundle
        try:
            old = load_definition(Bundle(folder)).token_label if folder else "root-ca"
        except CeremonyError:
            old = "root-ca"
        self.label_edit.setText(f"{old}-2"[:32])

    def _edited(self) -> None:
        self.checked = None
        self.message.setVisible(False)
        self.notify()

    def is_complete(self) -> bool:
        return (
            not self.busy
            and bool(self.label_edit.text().strip())
            and self.fate.currentData() is not None
        )

    def accept(self, proceed: Callable[[], None]) -> None:
        session = self.shell.session
        if session is None:
            return
        wanted = self.label_edit.text()
        fate = self.fate.currentData()
        self.set_busy(True)

        def done(labels: list[str]) -> None:
            self.set_busy(False)
            self.checked = wanted
            self.tokens.setText("Tokens in the HSM now: " + (", ".join(labels) or "(none)"))
            set_notice(self.message, f"Token label {wanted!r} is free: the key goes there.", "ok")
            proceed()

        def failed(ex: BaseException) -> None:
            self.set_busy(False)
            set_notice(self.message, f"Refused: {error_text(ex)}", "error")
            self.label_edit.setFocus()

        self.shell.submit(lambda: session.check_recovery_target(wanted, fate), done, failed)

    def first_focus(self) -> QWidget | None:
        return self.label_edit
