"""Share hand-out, one custodian at a time (Trezor's pattern, on a screen).

Everyone but the called custodian steps away. The share's words are shown in
a numbered grid that cannot be selected or copied; the custodian checks them
word by word against their printed share card (words and the same words as a
QR code) and confirms. The screen is then cleared before the next custodian is
called. The clipboard is cleared before and after.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ceremony import text
from ui.panels import PromptPanel, clear_clipboard
from ui.prompter import PromptRequest
from ui.widgets.text import heading, label, mono_font, named, notice

NEVER_COPY = (
    "Never copy a share digitally: no photo, no scan, no typing it into a computer or phone, "
    "no cloud, no password manager. Your share is printed on your card, as words and as the "
    "same words in a QR code: check every word on the screen against the card and give "
    "the serial of the tamper-evident bag it goes into; once the card is proven, seal it in "
    "that bag."
)
COLUMNS = 3

PURPOSE = {
    "activation": "HSM activation share",
    "recovery": "Root key recovery share",
}


class HandOutPanel(PromptPanel):
    """Screens: call custodian i -> share i -> cleared -> call custodian i+1 ... -> done."""

    def __init__(self, request: PromptRequest, parent: QWidget | None = None):
        super().__init__(request, parent)
        self.setObjectName("handout-panel")
        self.purpose: str = request.args["purpose"]
        self._mnemonics: list[str] = request.args["mnemonics"]
        self.custodians = request.args["custodians"]
        self.again: int | None = request.args.get("index")
        """Set when one custodian is shown their share again after a failed proof."""
        self.index = 0
        clear_clipboard()

        outer = QVBoxLayout(self)
        self.title = heading(self._title())
        outer.addWidget(self.title)
        outer.addWidget(notice(NEVER_COPY, "warning"))
        self.stack = QStackedWidget()
        outer.addWidget(self.stack, 1)

        # screen 1: call the custodian
        self.call_screen = QWidget()
        c = QVBoxLayout(self.call_screen)
        self.call_text = label("")
        self.call_text.setFont(heading("").font())
        c.addWidget(self.call_text)
        self.show_button = named(QPushButton(""), "Show the share")
        self.show_button.setDefault(True)
        self.show_button.clicked.connect(self.show_share)
        row = QHBoxLayout()
        row.addWidget(self.show_button)
        row.addStretch(1)
        c.addLayout(row)
        c.addStretch(1)
        self.stack.addWidget(self.call_screen)

        # screen 2: the share
        self.share_screen = QWidget()
        s = QVBoxLayout(self.share_screen)
        self.share_title = heading("", 1.15)
        s.addWidget(self.share_title)
        self.grid_frame = QFrame()
        self.grid_frame.setFrameShape(QFrame.Shape.Box)
        self.grid = QGridLayout(self.grid_frame)
        s.addWidget(self.grid_frame)
        self.written = named(
            QCheckBox("I checked every word of my printed card against the screen"),
            "Custodian confirms the printed card matches the screen",
        )
        s.addWidget(self.written)
        self.bag = named(
            QLineEdit(),
            "Bag serial",
            "The serial printed on the tamper-evident bag this card goes into",
        )
        self.bag.setMaxLength(64)
        self.bag.setPlaceholderText("serial printed on the tamper-evident bag for this card")
        self.bag_label = QLabel("Ba&g serial:")
        self.bag_label.setBuddy(self.bag)
        bag_row = QHBoxLayout()
        bag_row.addWidget(self.bag_label)
        bag_row.addWidget(self.bag, 1)
        s.addLayout(bag_row)
        self.bag_problem = label("")
        s.addWidget(self.bag_problem)
        self.bags: dict[str, str] = {}
        """The bag serial of each custodian's card, as typed."""
        self.done_button = named(QPushButton("&Done: clear the screen"), "Done, clear the screen")
        self.done_button.setEnabled(False)
        self.written.toggled.connect(self._ready)
        self.bag.textChanged.connect(self._ready)
        self.bag.returnPressed.connect(lambda: self.done_button.click())
        self.done_button.clicked.connect(self.clear_screen)
        if self.again is not None:  # a share shown again: its card keeps the bag given before
            self.bag.hide()
            self.bag_label.hide()
        row = QHBoxLayout()
        row.addWidget(self.done_button)
        row.addStretch(1)
        s.addLayout(row)
        s.addStretch(1)
        self.stack.addWidget(self.share_screen)

        self.word_labels: list[QLabel] = []
        self._call()

    def _title(self) -> str:
        what = PURPOSE.get(self.purpose, f"{self.purpose.capitalize()} share")
        if self.again is not None:
            return f"{what} {self.again} shown again: check and correct the card"
        n = len(self._mnemonics)
        return f"{what}s: one custodian at a time ({n} share{'' if n == 1 else 's'})"

    def _number(self) -> int:
        return self.again if self.again is not None else self.index + 1

    def _of(self) -> str:
        return (
            f"{self._number()}"
            if self.again is not None
            else (f"{self.index + 1} of {len(self._mnemonics)}")
        )

    def _name(self, i: int) -> str:
        return self.custodians[i].name if i < len(self.custodians) else f"Custodian {i + 1}"

    def _call(self) -> None:
        name = self._name(self.index)
        if self.index == 0:
            lead = f"{name}, please come to the screen. Everyone else steps away and looks away."
        else:
            lead = (
                f"The screen is cleared: {self._name(self.index - 1)} is done.\n\n"
                f"{name}, please come to the screen. Everyone else steps away."
            )
        if self.again is not None:
            lead = (
                f"{name}: some words you recited did not match your share. Please come "
                "to the screen alone and compare your card with the share again."
            )
        self.call_text.setText(lead)
        self.show_button.setText(f"&Show share {self._of()} to {name}")
        named(self.show_button, f"Show share {self._number()} to {name}")
        self.stack.setCurrentWidget(self.call_screen)
        self.show_button.setFocus()

    def show_share(self) -> None:
        clear_clipboard()
        name = self._name(self.index)
        words = self._mnemonics[self.index].split()
        self.share_title.setText(f"Share {self._of()} for {name}: {len(words)} words")
        font = mono_font(1.25)
        rows = (len(words) + COLUMNS - 1) // COLUMNS
        for i, word in enumerate(words):
            w = QLabel(f"{i + 1:>2}. {word}")
            w.setFont(font)
            w.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            w.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
            w.setAccessibleName(f"word {i + 1}")
            self.grid.addWidget(w, i % rows, i // rows)
            self.word_labels.append(w)
        self.written.setChecked(False)
        self.stack.setCurrentWidget(self.share_screen)
        self.written.setFocus()

    def _ready(self) -> None:
        serial = self.bag.text().strip() or self.again is not None
        self.done_button.setEnabled(self.written.isChecked() and bool(serial))

    def _bag_problem(self) -> str | None:
        if self.again is not None:
            return None
        serial = text.typed(self.bag.text())
        reason = text.problem(serial, 64) if serial else "a bag serial is required"
        if reason is None and serial in self.bags.values():
            owner = next(n for n, s in self.bags.items() if s == serial)
            reason = f"already given for {owner}'s card; every card has its own bag"
        return None if reason is None else f"bag serial {serial!r}: {reason}"

    def shown_words(self) -> list[str]:
        """The words on screen now, in order (what the custodian checks on their card)."""
        return [w.text().split(". ", 1)[1] for w in self.word_labels]

    def clear_screen(self) -> None:
        problem = self._bag_problem()
        if problem is not None:
            self.bag_problem.setText(problem)
            self.bag.setFocus()
            return
        if self.again is None:
            self.bags[self._name(self.index)] = text.typed(self.bag.text())
        self.bag.clear()
        self.bag_problem.clear()
        for w in self.word_labels:
            w.clear()
            self.grid.removeWidget(w)
            w.deleteLater()
        self.word_labels = []
        self.share_title.clear()
        clear_clipboard()
        self.index += 1
        if self.index < len(self._mnemonics):
            self._call()
        else:
            self._mnemonics = []
            self.answer(dict(self.bags) if self.again is None else None)
