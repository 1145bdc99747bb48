"""Close as aborted: why the ceremony stops for good, said once and signed into the record."""

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


class AbortDialog(QDialog):
    """The reason and who gives it; the window then closes the ceremony as aborted."""

    def __init__(self, people: Sequence[str], default: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Close the ceremony as aborted")
        layout = QVBoxLayout(self)
        layout.addWidget(
            label(
                "The ceremony stops for good. The reason goes into the event log, the log is "
                "closed and its transcript signed, so the bundle stays verifiable. Steps not "
                "run are listed in the record; nothing of them is done. If the transcript key "
                "is not active yet, the custodians present activate it to sign the record."
            )
        )
        form = QFormLayout()
        self.by = named(QComboBox(), "Abort decided by")
        self.by.addItems(list(people) or [default])
        if default in people:
            self.by.setCurrentText(default)
        self.reason = named(QPlainTextEdit(), "Reason for aborting")
        self.reason.setPlaceholderText("Why does the ceremony stop?")
        self.reason.setTabChangesFocus(True)
        form.addRow("&Decided by:", self.by)
        form.addRow("&Reason:", self.reason)
        set_buddies(form)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("&Close as aborted")
        named(self.ok, "Close the ceremony as aborted")
        named(self.buttons.button(QDialogButtonBox.StandardButton.Cancel), "Cancel")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.ok.setEnabled(False)
        self.reason.textChanged.connect(
            lambda: self.ok.setEnabled(bool(self.reason.toPlainText().strip()))
        )
        self.resize(560, 320)

    def values(self) -> tuple[str, str]:
        return self.reason.toPlainText(), self.by.currentText()
