"""A read-only two-column table of (name, value) rows that wraps long values."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from ui.widgets.text import label, mono

MONO_HINTS = ("sha256", "hash", "fingerprint", "serial", "id", "spki", "path")


class FactList(QWidget):
    """Rows of facts as a form; values wrap and hashes use a fixed-width font."""

    def __init__(self, rows: Sequence[tuple[str, str]] = (), parent: QWidget | None = None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.set_rows(rows)

    def set_rows(self, rows: Sequence[tuple[str, str]]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        for name, value in rows:
            hashy = any(h in name.lower().split(".")[-1] for h in MONO_HINTS) and " " not in value
            v = mono(value) if hashy else label(value, selectable=True)
            v.setAccessibleName(f"{name}: {value}")
            self.form.addRow(QLabel(f"{name}:"), v)

    def values(self) -> dict[str, str]:
        out = {}
        for row in range(self.form.rowCount()):
            name = self.form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            value = self.form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            caption = name.widget() if name else None
            text = value.widget() if value else None
            if isinstance(caption, QLabel) and isinstance(text, QLabel):
                out[caption.text().rstrip(":")] = text.text()
        return out
