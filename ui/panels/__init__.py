"""Panels that answer the flow's questions; the window shows one in place of the page."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from ui.prompter import PromptRequest


class PromptPanel(QWidget):
    """Base of the panels: answers ``request`` once, then emits ``finished``."""

    finished = Signal()

    def __init__(self, request: PromptRequest, parent: QWidget | None = None):
        super().__init__(parent)
        self.request = request

    def answer(self, value: object = None) -> None:
        self.request.answer(value)
        self.finished.emit()

    def refuse(self, reason: str) -> None:
        self.request.cancel(reason)
        self.finished.emit()


def clear_clipboard() -> None:
    """Shares must never reach the clipboard (or a clipboard manager's history)."""
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
