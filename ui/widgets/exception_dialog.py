"""The witness's exception form: what deviated from the script, and what was done."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.text import label, named, set_buddies


class ExceptionDialog(QDialog):
    """Description and remediation of a deviation, recorded into the event log."""

    def __init__(self, people: Sequence[str], default: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Record an exception")
        layout = QVBoxLayout(self)
        layout.addWidget(
            label(
                "An exception is any deviation from the ceremony script: a step done differently, "
                "an interruption, a problem found. It is recorded in the hash-chained event log "
                "with the time and the person who noted it."
            )
        )
        form = QFormLayout()
        self.by = named(QComboBox(), "Exception noted by")
        self.by.addItems(list(people) or [default])
        if default in people:
            self.by.setCurrentText(default)
        self.description = named(QPlainTextEdit(), "Exception description")
        self.description.setPlaceholderText("What happened?")
        self.description.setTabChangesFocus(True)
        self.remediation = named(QPlainTextEdit(), "Exception remediation")
        self.remediation.setPlaceholderText("What was done about it?")
        self.remediation.setTabChangesFocus(True)
        form.addRow("&Noted by:", self.by)
        form.addRow("&Description:", self.description)
        form.addRow("&Remediation:", self.remediation)
        set_buddies(form)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Record")
        named(self.buttons.button(QDialogButtonBox.StandardButton.Ok), "Record the exception")
        named(self.buttons.button(QDialogButtonBox.StandardButton.Cancel), "Cancel")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setEnabled(False)
        self.description.textChanged.connect(
            lambda: self.ok.setEnabled(bool(self.description.toPlainText().strip()))
        )
        self.resize(560, 380)

    def values(self) -> tuple[str, str, str]:
        return (
            self.description.toPlainText(),
            self.remediation.toPlainText(),
            self.by.currentText(),
        )
