"""CRL ceremony input: sign the next CRL, optionally revoking one intermediate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QWidget

from ceremony.bundle import Bundle
from ceremony.errors import CeremonyError
from ceremony.flow.wizard import (
    Choices,
    IssuedCa,
    Page,
    issued_intermediates,
    revocation_reasons,
    revocation_request,
)
from ui.pages.base import WizardPage, error_text
from ui.widgets.facts import FactList
from ui.widgets.text import label, named, notice, set_notice

if TYPE_CHECKING:
    from ui.shell import Shell


class RevocationPage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        self.issued: list[IssuedCa] = []
        self.layout_.addWidget(
            label(
                "The ceremony signs the next root CRL (its number is the current one plus 1). "
                "It can also revoke one intermediate CA certificate this root issued."
            )
        )
        self.layout_.addWidget(label("Intermediate CA certificates issued by this root:"))
        self.listing = FactList()
        self.layout_.addWidget(self.listing)
        self.revoke = named(
            QCheckBox("&Revoke an intermediate in this CRL"), "Revoke an intermediate"
        )
        self.revoke.toggled.connect(self._toggled)
        self.layout_.addWidget(self.revoke)
        form = QFormLayout()
        self.which = named(QComboBox(), "Intermediate to revoke")
        self.reason = named(QComboBox(), "Revocation reason (RFC 5280)")
        self.reason.addItems(revocation_reasons())
        form.addRow("&Certificate:", self.which)
        form.addRow("R&eason:", self.reason)
        self.layout_.addLayout(form)
        self.message = notice("", "info")
        self.message.setVisible(False)
        self.layout_.addWidget(self.message)
        self.layout_.addStretch(1)
        self._toggled(False)

    def title(self) -> str:
        return "CRL: what to revoke"

    def subtitle(self) -> str:
        return "Revocation is recorded in the CRL and the event log; it cannot be undone."

    def enter(self) -> None:
        folder = self.shell.data.bundle
        if folder is None:
            return
        try:
            self.issued = issued_intermediates(Bundle(folder))
        except (CeremonyError, OSError, ValueError) as ex:
            set_notice(
                self.message, error_text(ex) if isinstance(ex, CeremonyError) else str(ex), "error"
            )
            return
        self.listing.set_rows(
            [
                (
                    f"serial {c.serial_hex}",
                    f"{c.subject} ({c.path})" + (": already revoked" if c.revoked else ""),
                )
                for c in self.issued
            ]
            or [("(none)", "this root has issued no intermediate CA certificate")]
        )
        self.which.clear()
        for c in self.issued:
            if not c.revoked:
                self.which.addItem(f"{c.serial_hex}  {c.subject}", c.serial_hex)  # > 64 bits
        self.revoke.setEnabled(self.which.count() > 0)

    def _toggled(self, on: bool) -> None:
        self.which.setEnabled(on)
        self.reason.setEnabled(on)
        self.notify()

    def is_complete(self) -> bool:
        return not self.revoke.isChecked() or self.which.currentData() is not None

    def apply(self, data: Choices) -> Choices:
        session = self.shell.session
        if session is not None:
            session.state.pop("revoke", None)
            if self.revoke.isChecked():
                serial = int(str(self.which.currentData()), 16)
                session.state["revoke"] = revocation_request(serial, self.reason.currentText())
        return data

    def first_focus(self) -> QWidget | None:
        return self.revoke
