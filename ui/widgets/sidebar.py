"""The ceremony's steps down the side: done, current, to come."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

DONE, CURRENT, TODO = "done", "current", "todo"
MARK = {DONE: "✓", CURRENT: "▶", TODO: "·"}


class StepList(QListWidget):
    """Read-only outline of the ceremony; the current entry is highlighted."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.setWordWrap(True)
        self.setAccessibleName("Ceremony outline")
        self.setMinimumWidth(200)
        self.setMaximumWidth(280)

    def show_steps(self, entries: Sequence[tuple[str, str]]) -> None:
        """``entries``: (text, state) with state done/current/todo."""
        self.clear()
        for text, state in entries:
            item = QListWidgetItem(f"{MARK[state]}  {text}")
            font = item.font()
            font.setBold(state == CURRENT)
            item.setFont(font)
            if state == TODO:
                item.setForeground(Qt.GlobalColor.darkGray)
            self.addItem(item)
        self.setAccessibleDescription("; ".join(f"{text}: {state}" for text, state in entries))
