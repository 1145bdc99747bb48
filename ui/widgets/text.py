"""Labels that wrap, headings, monospace blocks, and accessible names on inputs."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

W = TypeVar("W", bound=QWidget)


def named(widget: W, name: str, description: str = "") -> W:
    """Give ``widget`` an accessible name (and description) for screen readers."""
    widget.setAccessibleName(name)
    if description:
        widget.setAccessibleDescription(description)
    return widget


def label(text: str = "", *, selectable: bool = False, rich: bool = False) -> QLabel:
    """A label that wraps long text; plain text unless ``rich``."""
    w = QLabel(text)
    w.setWordWrap(True)
    w.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    w.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse
        if selectable
        else Qt.TextInteractionFlag.NoTextInteraction
    )
    return w


def heading(text: str, scale: float = 1.35) -> QLabel:
    w = label(text)
    font = QFont(w.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    w.setFont(font)
    w.setAccessibleName(text)
    return w


def mono_font(scale: float = 1.0) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSizeF(font.pointSizeF() * scale)
    return font


def mono(text: str, *, selectable: bool = True, scale: float = 1.0) -> QLabel:
    """Hashes, fingerprints, paths: fixed-width, wrapping anywhere."""
    w = label(text, selectable=selectable)
    w.setFont(mono_font(scale))
    return w


def notice(text: str, kind: str = "info") -> QLabel:
    """A framed message: ``info``, ``ok``, ``warning`` or ``error``."""
    w = label(text, selectable=True)
    w.setObjectName(f"notice-{kind}")
    w.setProperty("notice", kind)
    w.setMargin(8)
    return w


def set_notice(w: QLabel, text: str, kind: str) -> None:
    w.setText(text)
    w.setObjectName(f"notice-{kind}")
    w.setProperty("notice", kind)
    w.style().unpolish(w)
    w.style().polish(w)
    if w.parentWidget() is not None or not text:  # showing an orphan makes a window
        w.setVisible(bool(text))


def set_buddies(form: QFormLayout) -> None:
    """Each row's label gives its mnemonic (Alt+letter) to the row's input."""
    for row in range(form.rowCount()):
        name = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        caption = name.widget() if name else None
        target = field.widget() if field else None
        if not isinstance(caption, QLabel) or target is None:
            continue
        focusable = Qt.FocusPolicy.NoFocus
        inputs = [w for w in target.findChildren(QWidget) if w.focusPolicy() != focusable]
        own = target.focusPolicy() != focusable
        caption.setBuddy(target if own or not inputs else inputs[0])
