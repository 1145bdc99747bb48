"""Yes-or-no questions from the flow: an orphan from an interrupted step, a typed confirmation."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ui.panels import PromptPanel
from ui.prompter import PromptRequest
from ui.widgets.text import heading, label, mono, named, notice


class OrphanPanel(PromptPanel):
    """Something left by an interrupted step: destroy it and redo the step, or abort."""

    def __init__(self, request: PromptRequest, parent: QWidget | None = None):
        super().__init__(request, parent)
        self.setObjectName("orphan-panel")
        what, detail = request.args["what"], request.args["detail"]
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"A {what} was left by an interrupted step"))
        layout.addWidget(notice(detail, "warning"))
        layout.addWidget(
            label(
                f"It was never recorded in the event log, so it cannot be trusted or reused. "
                f"Destroying it is recorded as an exception, then the step runs again. Aborting "
                f"leaves the {what} in place and the ceremony open."
            )
        )
        row = QHBoxLayout()
        self.destroy_button = named(
            QPushButton(f"&Destroy the {what} and redo the step"),
            f"Destroy the {what} and redo the step",
        )
        self.destroy_button.clicked.connect(lambda: self.answer(True))
        self.abort_button = named(QPushButton("&Abort the step"), "Abort the step")
        self.abort_button.clicked.connect(lambda: self.answer(False))
        row.addWidget(self.destroy_button)
        row.addWidget(self.abort_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)
        self.abort_button.setFocus()


class ConfirmPanel(PromptPanel):
    """A summary read aloud, then the operator types the confirmation phrase exactly."""

    def __init__(self, request: PromptRequest, parent: QWidget | None = None):
        super().__init__(request, parent)
        self.setObjectName("confirm-panel")
        self.phrase: str = request.args["phrase"]
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Review, read aloud, then confirm by typing"))
        summary = [line for line in request.args["summary"] if self.phrase not in line]
        layout.addWidget(mono("\n".join(summary)))  # the phrase is said once, below
        layout.addWidget(label(f"To go on, type exactly:  {self.phrase}"))
        self.typed = named(QLineEdit(), "Confirmation phrase", f"Type {self.phrase}")
        layout.addWidget(self.typed)
        row = QHBoxLayout()
        self.confirm_button = named(QPushButton("&Confirm"), "Confirm")
        self.confirm_button.setEnabled(False)
        self.confirm_button.setDefault(True)
        self.confirm_button.clicked.connect(lambda: self.answer(True))
        self.refuse_button = named(QPushButton("&Refuse"), "Refuse")
        self.refuse_button.clicked.connect(lambda: self.answer(False))
        self.typed.textChanged.connect(
            lambda text: self.confirm_button.setEnabled(text == self.phrase)
        )
        self.typed.returnPressed.connect(self._enter)
        row.addWidget(self.confirm_button)
        row.addWidget(self.refuse_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)
        self.typed.setFocus()

    def _enter(self) -> None:
        if self.confirm_button.isEnabled():
            self.confirm_button.click()
