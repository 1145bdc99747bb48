"""Share entry, one custodian at a time: each share is checked as it is accepted.

The words are masked as they are typed (the screen may be projected): each
word shows as a numbered mark, flagged when it is no SLIP-39 word, and the
custodian may hold "reveal" to see them. The entry is emptied after each
custodian, the clipboard is cleared, and no share ever goes into a message or
a log. A mistyped, foreign or duplicate share is
refused at once with the reason; the custodian corrects it or the ceremony
administrator aborts.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ceremony.errors import CeremonyError
from ceremony.flow.prompts import RehearsalPrompter
from ceremony.flow.wizard import ShareEntry
from ui.panels import PromptPanel, clear_clipboard
from ui.panels.handout import PURPOSE
from ui.prompter import PromptRequest
from ui.widgets.text import heading, label, named, notice, set_buddies, set_notice


class CollectPanel(PromptPanel):
    """Custodians present shares until the threshold is reached."""

    def __init__(
        self,
        request: PromptRequest,
        rehearsal_dir: Path | None = None,
        set_id: str | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(request, parent)
        self.setObjectName("collect-panel")
        self.purpose: str = request.args["purpose"]
        self.threshold: int = request.args["threshold"]
        self.custodians = request.args["custodians"]
        self.rehearsal_dir = rehearsal_dir
        self.set_id = set_id
        self.entry = ShareEntry(self.threshold, set_id)
        clear_clipboard()

        outer = QVBoxLayout(self)
        what = PURPOSE.get(self.purpose, f"{self.purpose} share")
        outer.addWidget(
            heading(
                f"{what}s: {self.threshold} needed, from the {len(self.custodians)} "
                "custodians present"
            )
        )
        outer.addWidget(
            label(
                "One custodian at a time comes to the keyboard and types the words of their share "
                "card, separated by spaces (the first four letters of each word are enough). The "
                "entry is checked at once and emptied before the next custodian."
            )
        )
        form = QFormLayout()
        self.who = named(QComboBox(), "Custodian presenting a share")
        form.addRow("&Custodian:", self.who)
        self.words = named(
            QLineEdit(),
            "Share words",
            "The words of the custodian's share card, separated by spaces; shown masked",
        )
        self.words.setEchoMode(QLineEdit.EchoMode.Password)
        self.words.setMaxLength(1024)
        self.words.setPlaceholderText("word word word ... (masked: the screen may be projected)")
        self.words.textChanged.connect(self._count_words)
        self.words.returnPressed.connect(self.accept_share)
        self.reveal = named(
            QPushButton("Hold to &reveal"), "Show the typed words while the button is held"
        )
        self.reveal.setAutoDefault(False)
        self.reveal.pressed.connect(lambda: self.words.setEchoMode(QLineEdit.EchoMode.Normal))
        self.reveal.released.connect(lambda: self.words.setEchoMode(QLineEdit.EchoMode.Password))
        entry = QHBoxLayout()
        entry.addWidget(self.words, 1)
        entry.addWidget(self.reveal)
        form.addRow("Share &words:", entry)
        self.word_marks = label("")
        self.word_marks.setAccessibleName("Words typed so far, masked")
        form.addRow("", self.word_marks)
        set_buddies(form)
        self.words_label = form.labelForField(entry)
        if isinstance(self.words_label, QLabel):
            self.words_label.setBuddy(self.words)
        outer.addLayout(form)

        row = QHBoxLayout()
        self.accept_button = named(QPushButton("&Accept this share"), "Accept this share")
        self.accept_button.setDefault(True)
        self.accept_button.clicked.connect(self.accept_share)
        row.addWidget(self.accept_button)
        self.fill_button = named(
            QPushButton("&Fill from rehearsal/secrets.json"),
            "Rehearsal only: fill this custodian's share from the bundle",
        )
        if rehearsal_dir is None:
            self.fill_button.hide()
        self.fill_button.clicked.connect(self.fill_from_rehearsal)
        row.addWidget(self.fill_button)
        row.addStretch(1)
        outer.addLayout(row)

        self.message = notice("", "info")
        self.message.setVisible(False)
        self.message.setAccessibleName("Share entry result")
        outer.addWidget(self.message)
        outer.addWidget(label("Shares accepted:"))
        self.accepted = named(QListWidget(), "Custodians whose share was accepted")
        self.accepted.setMaximumHeight(120)
        outer.addWidget(self.accepted)

        row = QHBoxLayout()
        self.done_button = named(
            QPushButton("Acti&vate with these shares"), "Activate with these shares"
        )
        self.done_button.setEnabled(False)
        self.done_button.clicked.connect(self.finish)
        row.addWidget(self.done_button)
        self.abort_button = named(QPushButton("Stop (abort this step)"), "Stop share entry")
        self.abort_button.clicked.connect(
            lambda: self.refuse(f"{self.purpose} share entry stopped by the administrator")
        )
        row.addWidget(self.abort_button)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(1)
        self._refresh()

    def _refresh(self) -> None:
        self.who.clear()
        left = [c.name for c in self.custodians if c.name not in self.entry.presented_by]
        self.who.addItems(left)
        complete = self.entry.complete
        self.accept_button.setEnabled(not complete)
        self.words.setEnabled(not complete)
        self.fill_button.setEnabled(not complete)
        self.done_button.setEnabled(complete)
        (self.done_button if complete else self.words).setFocus()

    def _count_words(self) -> None:
        """Each typed word as a masked mark with its number: the room sees progress, not words."""
        from ceremony.backup.shares import word_known

        words = self.words.text().split()
        marks = [f"{i}:{'●' * 4}{'' if word_known(w) else '?'}" for i, w in enumerate(words, 1)]
        self.word_marks.setText(
            (f"{len(words)} words  " + "  ".join(marks)) if words else "no word typed yet"
        )

    def accept_share(self) -> None:
        if not self.accept_button.isEnabled():
            return
        name = self.who.currentText()
        text = self.words.text()
        try:
            status = self.entry.add(name, text)
        except CeremonyError as ex:
            set_notice(
                self.message,
                f"Refused: {ex.message}. Check the card and type it again, or stop.",
                "error",
            )
            self.words.setFocus()
            return
        self.words.clear()
        clear_clipboard()
        self.accepted.addItem(name)
        more = self.threshold - self.entry.count
        tail = (
            f" {more} more needed: next custodian, please."
            if more > 0
            else (" Enough shares: activate.")
        )
        set_notice(self.message, status + "." + tail, "ok")
        self._refresh()

    def fill_from_rehearsal(self) -> None:
        """Rehearsal convenience: custodian i's share from ``rehearsal/secrets.json``."""
        if self.rehearsal_dir is None:
            return
        names = [c.name for c in self.custodians]
        index = names.index(self.who.currentText()) if self.who.currentText() in names else 0
        try:
            shares = RehearsalPrompter(self.rehearsal_dir).recall(f"{self.purpose}_shares")
        except CeremonyError as ex:
            set_notice(self.message, ex.message, "error")
            return
        self.words.setText(str(shares[index]))

    def finish(self) -> None:
        shares = self.entry.collected()
        self.entry = ShareEntry(self.threshold, self.set_id)
        self.answer(shares)
