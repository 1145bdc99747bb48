"""CRL ceremony input: sign the next CRL, optionally revoking one intermediate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QListWidget, QWidget

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
from ceremony.media.volumes import Volume
from ui.pages.base import WizardPage, error_text
from ui.widgets.facts import FactList
from ui.widgets.text import label, named, notice, set_notice

if TYPE_CHECKING:
    from ui.shell import Shell


REASON_TEXT = {
    "key-compromise": "Key compromise: its private key is, or may be, known to someone else",
    "ca-compromise": "CA compromise: the intermediate CA itself was compromised",
    "affiliation-changed": "Affiliation changed: its name or organization no longer applies",
    "superseded": "Superseded: a new certificate replaces it",
    "cessation-of-operation": "Cessation of operation: the intermediate CA is shut down",
    "privilege-withdrawn": "Privilege withdrawn: it may no longer issue certificates",
}
"""What each RFC 5280 reason means, as the list shows it (the CRL records the reason code)."""


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
        self.reason.addItem("Choose the reason…", None)
        for token in revocation_reasons():
            self.reason.addItem(REASON_TEXT.get(token, token), token)
        self.reason.currentIndexChanged.connect(self.notify)
        form.addRow("&Certificate:", self.which)
        form.addRow("Rea&son:", self.reason)
        self.layout_.addLayout(form)
        self.message = notice("", "info")
        self.message.setVisible(False)
        self.layout_.addWidget(self.message)
        self.layout_.addWidget(
            label("Removable media for the new CRL and the root certificate (the list updates):")
        )
        self.volume_list = named(QListWidget(), "Removable media for the CRL")
        self.volume_list.setMaximumHeight(90)
        self.layout_.addWidget(self.volume_list)
        self.export = named(
            QCheckBox("&Write the new CRL and the chain to this media"),
            "Write the CRL to the chosen media",
        )
        self.export.setChecked(True)
        self.layout_.addWidget(self.export)
        self.media_note = notice("", "warning")
        self.media_note.setAccessibleName("Media for the CRL")
        self.layout_.addWidget(self.media_note)
        self.layout_.addStretch(1)
        self.volumes: list[Volume] = []
        self.timer = QTimer(self)
        self.timer.setInterval(shell.options.media_poll_ms)
        self.timer.timeout.connect(self.poll)
        self._toggled(False)

    def poll(self) -> None:
        volumes = self.shell.options.media.volumes()
        if [v.mount_point for v in volumes] == [v.mount_point for v in self.volumes] and (
            self.volume_list.count() == len(volumes)
        ):
            return
        self.volumes = volumes
        self.volume_list.clear()
        for v in volumes:
            self.volume_list.addItem(f"{v.display_name}  ({v.mount_point}, {v.device})")
        if volumes:
            self.volume_list.setCurrentRow(0)
            self.media_note.setVisible(False)
        else:
            set_notice(
                self.media_note,
                "No removable media found: the new CRL stays in the bundle and nothing is "
                "written to media. Plug in the operator's stick to carry it out.",
                "warning",
            )
        self.export.setEnabled(bool(volumes))

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)

    def media(self) -> Path | None:
        row = self.volume_list.currentRow()
        if not self.export.isChecked() or not 0 <= row < len(self.volumes):
            return None
        return Path(self.volumes[row].mount_point)

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
        self.poll()
        self.timer.start()

    def _toggled(self, on: bool) -> None:
        self.which.setEnabled(on)
        self.reason.setEnabled(on)
        self.notify()

    def is_complete(self) -> bool:
        if not self.revoke.isChecked():
            return True
        return self.which.currentData() is not None and self.reason.currentData() is not None

    def apply(self, data: Choices) -> Choices:
        session = self.shell.session
        if session is not None:
            session.state.pop("revoke", None)
            if self.revoke.isChecked():
                serial = int(str(self.which.currentData()), 16)
                reason = str(self.reason.currentData())
                session.state["revoke"] = revocation_request(serial, reason)
            session.state.pop("media", None)
            if (media := self.media()) is not None:
                session.state["media"] = media
        return data

    def first_focus(self) -> QWidget | None:
        return self.revoke
