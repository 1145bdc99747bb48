"""Sign-in: the participants and their roles from the ceremony file, and the file's hash."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ceremony.config.ceremonyfile import Role
from ceremony.errors import CeremonyError
from ceremony.flow import attendance
from ceremony.flow.wizard import Draft, Page, draft_for
from ui.pages.base import WizardPage, error_text
from ui.widgets.text import label, mono, named, notice, set_notice

if TYPE_CHECKING:
    from ui.shell import Shell


class ParticipantsPage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        self.draft: Draft | None = None
        self.base: Draft | None = None
        self.names: list[QLineEdit] = []
        self.present: list[QCheckBox] = []

        self.source = label("", selectable=True)
        self.layout_.addWidget(self.source)
        digest = QGroupBox(
            "Ceremony file SHA-256: read it aloud; everyone compares it with their reviewed copy"
        )
        d = QVBoxLayout(digest)
        self.hex = mono("")
        self.hex.setAccessibleName("Ceremony file SHA-256 in hex")
        self.words = mono("", scale=1.1)
        self.words.setAccessibleName("Ceremony file SHA-256 as PGP words")
        d.addWidget(self.hex)
        d.addWidget(self.words)
        self.hash_read = named(
            QCheckBox("The &hash was read aloud and matches the reviewed copy"),
            "Ceremony file hash read aloud and matching",
        )
        self.hash_read.toggled.connect(self.notify)
        d.addWidget(self.hash_read)
        self.layout_.addWidget(digest)

        self.people_box = QGroupBox("Participants: tick each one who is in the room")
        self.grid = QGridLayout(self.people_box)
        self.layout_.addWidget(self.people_box)
        self.all_present = named(QCheckBox("&All present"), "Mark every participant present")
        self.all_present.clicked.connect(self._set_all)
        self.layout_.addWidget(self.all_present)
        self.quorum = notice("", "info")
        self.quorum.setAccessibleName("Who this ceremony needs")
        self.layout_.addWidget(self.quorum)
        self.message = notice("", "error")
        self.message.setVisible(False)
        self.layout_.addWidget(self.message)
        self.layout_.addStretch(1)

    def title(self) -> str:
        return "Sign-in: participants and roles"

    def subtitle(self) -> str:
        return (
            "Every participant signs in with their role. The event log records who was "
            "present and the ceremony file's hash before anything happens."
        )

    def enter(self) -> None:
        try:
            self.base = draft_for(self.shell.data, self.shell.plan)
        except CeremonyError as ex:
            set_notice(self.message, ex.message, "error")
            self.base = None
            self.changed.emit()
            return
        if self.draft is None or self.draft.source != self.base.source or self.base.new:
            self._build(self.base)

    def _build(self, draft: Draft) -> None:
        self.draft = draft
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item else None
            if widget is not None:
                widget.deleteLater()
        self.names, self.present = [], []
        for col, head in enumerate(("Name", "Role", "Present")):
            h = QLabel(f"<b>{head}</b>")
            self.grid.addWidget(h, 0, col)
        for i, p in enumerate(draft.definition.participants, 1):
            role = p.role.value
            name = named(QLineEdit(p.name), f"Name of participant {i} ({role})")
            name.setReadOnly(not draft.editable)
            name.textEdited.connect(self._renamed)
            here = named(QCheckBox("present"), f"Participant {i} ({role}) present")
            here.toggled.connect(self._ticked)
            self.grid.addWidget(name, i, 0)
            self.grid.addWidget(label(role), i, 1)
            self.grid.addWidget(here, i, 2)
            self.names.append(name)
            self.present.append(here)
        self.grid.setColumnStretch(0, 1)
        self.source.setText(
            "New rehearsal ceremony file: type the participants' names, then read the hash aloud."
            if draft.editable
            else f"Ceremony file: {draft.source}"
        )
        self._show_digest()
        self._ticked()

    def _show_digest(self) -> None:
        if self.draft is None:
            return
        hex_digest, words = self.draft.digest
        self.hex.setText(hex_digest)
        self.words.setText(words)
        self.hash_read.setChecked(False)

    def _renamed(self) -> None:
        if self.base is None:
            return
        try:
            self.draft = self.base.renamed([n.text() for n in self.names])
        except (CeremonyError, ValueError) as ex:
            set_notice(self.message, str(ex), "error")
            self.draft = None
        else:
            self.message.setVisible(False)
            self._show_digest()
        self.changed.emit()

    def _set_all(self, on: bool) -> None:
        for p in self.present:
            p.setChecked(on)

    def _ticked(self) -> None:
        self.all_present.setChecked(bool(self.present) and all(p.isChecked() for p in self.present))
        self._show_quorum()
        self.changed.emit()

    def shortfall(self) -> str | None:
        """Why the room may not proceed with those ticked; None when it may."""
        if self.draft is None:
            return None
        return attendance.shortfall(
            self.draft.definition, self.shell.plan.kind, self.present_names()
        )

    def _show_quorum(self) -> None:
        if self.draft is None:
            self.quorum.setVisible(False)
            return
        need = attendance.need(self.draft.definition, self.shell.plan.kind)
        problem = self.shortfall()
        ticked = sum(
            1
            for p, box in zip(self.draft.definition.participants, self.present, strict=True)
            if box.isChecked() and p.role is Role.CUSTODIAN
        )
        head = (
            f"This ceremony needs the ceremony administrator, the witness and {need.custodians}"
            f" of the {need.of} custodians ({need.why}). Custodians present: {ticked}."
        )
        if problem is None:
            absent = [
                p.name
                for p, box in zip(self.draft.definition.participants, self.present, strict=True)
                if not box.isChecked()
            ]
            tail = f" Recorded as absent: {', '.join(absent)}." if absent else " Everyone is here."
            set_notice(self.quorum, head + tail, "ok")
        else:
            set_notice(
                self.quorum, head + " Not yet: " + problem.removeprefix("sign-in: ") + ".", "info"
            )

    def present_names(self) -> list[str]:
        return [
            n.text().strip() for n, p in zip(self.names, self.present, strict=True) if p.isChecked()
        ]

    def is_complete(self) -> bool:
        return (
            not self.busy
            and self.draft is not None
            and self.hash_read.isChecked()
            and bool(self.present)
            and self.shortfall() is None
        )

    def accept(self, proceed: Callable[[], None]) -> None:
        draft = self.draft
        session = self.shell.session
        if draft is None or session is None:
            return
        self.set_busy(True)

        def done(_: object) -> None:
            self.set_busy(False)
            self.shell.present = self.present_names()
            for n in self.names:
                n.setReadOnly(True)
            proceed()

        def failed(ex: BaseException) -> None:
            self.set_busy(False)
            set_notice(self.message, error_text(ex), "error")

        data = draft.data if draft.new else None
        self.shell.submit(lambda: session.prepare_bundle(data), done, failed)

    def first_focus(self) -> QWidget | None:
        return (
            self.names[0] if self.names and self.draft and self.draft.editable else (self.hash_read)
        )
