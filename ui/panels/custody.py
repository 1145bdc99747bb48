"""Custody questions of the backup: share cards to print, the passphrase, the word proof."""

from __future__ import annotations

from PySide6.QtGui import QImage
from PySide6.QtPrintSupport import QPrintDialog, QPrinter, QPrintPreviewDialog
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ceremony.errors import CeremonyError
from ui.panels import PromptPanel, clear_clipboard
from ui.panels.handout import NEVER_COPY
from ui.printing import page_count, paint, render_pages
from ui.prompter import PromptRequest
from ui.widgets.text import heading, label, named, notice, set_notice

SAVED = "Rehearsal: the cards were saved in rehearsal/. Printing them is optional."
TO_PRINTER = (
    "Print the cards on the ceremony printer. They are never saved to a file. Each card holds "
    "its custodian's share as words and as the same words in a QR code; on the next screens "
    "each custodian checks their card word by word against the screen."
)


class PrintCardsPanel(PromptPanel):
    """Share cards go to the printer (a real ceremony) or to rehearsal/share-cards.pdf."""

    def __init__(self, request: PromptRequest, parent: QWidget | None = None):
        super().__init__(request, parent)
        self.setObjectName("print-cards-panel")
        self.pdf: bytes = request.args["pdf"]
        saved: bool = request.args["saved"]
        pages = page_count(self.pdf)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"Share cards: {pages} pages, one per custodian"))
        layout.addWidget(notice(NEVER_COPY, "warning"))
        layout.addWidget(label(SAVED if saved else TO_PRINTER))
        row = QHBoxLayout()
        self.preview_button = named(QPushButton("Pre&view…"), "Preview the share cards")
        self.preview_button.clicked.connect(self.preview)
        self.print_button = named(QPushButton("P&rint…"), "Print the share cards")
        self.print_button.clicked.connect(self.print_cards)
        row.addWidget(self.preview_button)
        row.addWidget(self.print_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.message = notice("", "info")
        self.message.setVisible(False)
        layout.addWidget(self.message)
        self.printed = named(
            QCheckBox("The cards are printed and each custodian holds their own, face down"),
            "Share cards handled",
        )
        self.printed.setChecked(saved)
        layout.addWidget(self.printed)
        self.go_on = named(
            QPushButton("&Continue to the share hand-out"), "Continue to the share hand-out"
        )
        self.go_on.setDefault(True)
        self.go_on.setEnabled(saved)
        self.printed.toggled.connect(self.go_on.setEnabled)
        self.go_on.clicked.connect(self._done)
        row = QHBoxLayout()
        row.addWidget(self.go_on)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)

    def _done(self) -> None:
        self.pdf = b""
        self.answer(None)

    def _images(self) -> list[QImage] | None:
        try:
            return render_pages(self.pdf)
        except CeremonyError as ex:
            set_notice(self.message, ex.message, "error")
            return None

    def print_cards(self) -> None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.NativeFormat)
        dialog = QPrintDialog(printer, self)
        dialog.setOption(QPrintDialog.PrintDialogOption.PrintToFile, False)
        if dialog.exec() != QPrintDialog.DialogCode.Accepted:
            return
        images = self._images()
        if images:
            paint(printer, images)
            set_notice(self.message, f"Sent {len(images)} pages to {printer.printerName()}.", "ok")

    def preview(self) -> None:
        images = self._images()
        if not images:
            return
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintPreviewDialog(printer, self)
        dialog.paintRequested.connect(lambda p: paint(p, images))
        dialog.exec()


class PassphrasePanel(PromptPanel):
    """The backup passphrase: typed hidden, twice when it is new; printable ASCII only."""

    def __init__(self, request: PromptRequest, parent: QWidget | None = None):
        super().__init__(request, parent)
        self.setObjectName("passphrase-panel")
        self.new: bool = request.args["new"]
        purpose: str = request.args["purpose"]
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"The {purpose} passphrase"))
        layout.addWidget(
            label(
                "The passphrase protects the recovery shares: M shares without it recover "
                "nothing. It is never shown or written by the wizard; its holders keep it "
                "separately from the shares."
                if self.new
                else "Type the passphrase chosen when the shares were made. A wrong passphrase is "
                "caught by the backup key's check value."
            )
        )
        form = QFormLayout()
        self.first = named(QLineEdit(), "Passphrase")
        self.first.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("&Passphrase:", self.first)
        self.second = named(QLineEdit(), "Passphrase again")
        self.second.setEchoMode(QLineEdit.EchoMode.Password)
        if self.new:
            form.addRow("&Again:", self.second)
        layout.addLayout(form)
        self.message = notice("", "error")
        self.message.setVisible(False)
        layout.addWidget(self.message)
        self.ok = named(QPushButton("&Use this passphrase"), "Use this passphrase")
        self.ok.setDefault(True)
        self.ok.clicked.connect(self.submit)
        row = QHBoxLayout()
        row.addWidget(self.ok)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)
        self.first.setFocus()

    def submit(self) -> None:
        text = self.first.text()
        if not text or any(not 32 <= ord(c) < 127 for c in text):
            set_notice(self.message, "Use printable ASCII characters only (SLIP-39).", "error")
            return
        if self.new and text != self.second.text():
            set_notice(self.message, "The two entries differ; type them again.", "error")
            self.second.clear()
            return
        self.first.clear()
        self.second.clear()
        clear_clipboard()
        self.answer(text)


class ProvePanel(PromptPanel):
    """A custodian proves their share: the words at a few random positions, from the card."""

    def __init__(self, request: PromptRequest, parent: QWidget | None = None):
        super().__init__(request, parent)
        self.setObjectName("prove-panel")
        custodian = request.args["custodian"]
        self.index: int = request.args["index"]
        self.positions: list[int] = request.args["positions"]
        self.custodian_name: str = custodian.name
        self.purpose: str = request.args.get("purpose", "recovery")
        layout = QVBoxLayout(self)
        layout.addWidget(
            heading(f"Custodian proof: {custodian.name}, {self.purpose} share {self.index}")
        )
        layout.addWidget(
            label(
                f"{custodian.name}: take your {self.purpose} share card and type the words at"
                " the positions "
                "below. Everyone else looks away. A wrong word shows your share again so you "
                "can correct the card."
            )
        )
        form = QFormLayout()
        self.answers: dict[int, QLineEdit] = {}
        for i, p in enumerate(self.positions, 1):
            edit = named(QLineEdit(), f"Word {p} of share {self.index}, masked")
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            form.addRow(f"&{i}. word number {p}:" if i < 10 else f"Word number {p}:", edit)
            self.answers[p] = edit
        layout.addLayout(form)
        self.ok = named(QPushButton("&Check these words"), "Check these words")
        self.ok.setDefault(True)
        self.ok.clicked.connect(self.submit)
        self.reveal = named(
            QPushButton("Hold to re&veal"), "Show the typed words while the button is held"
        )
        self.reveal.setAutoDefault(False)
        self.reveal.pressed.connect(lambda: self._echo(QLineEdit.EchoMode.Normal))
        self.reveal.released.connect(lambda: self._echo(QLineEdit.EchoMode.Password))
        row = QHBoxLayout()
        row.addWidget(self.ok)
        row.addWidget(self.reveal)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)
        if self.positions:
            self.answers[self.positions[0]].setFocus()

    def _echo(self, mode: QLineEdit.EchoMode) -> None:
        for edit in self.answers.values():
            edit.setEchoMode(mode)

    def submit(self) -> None:
        answers = {p: e.text() for p, e in self.answers.items()}
        for e in self.answers.values():
            e.clear()
        self.answer(answers)
