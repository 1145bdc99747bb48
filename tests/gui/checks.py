"""What every page must satisfy: accessible names on inputs, and it fits 1366x768."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QWidget,
)

from ui.window import CeremonyWindow

SCREEN = (1366, 768)
INPUTS = (
    QLineEdit,
    QPlainTextEdit,
    QComboBox,
    QAbstractSpinBox,
    QAbstractButton,
    QAbstractItemView,
)


def _inside_another_input(w: QWidget, root: QWidget) -> bool:
    """Qt's own parts of a composite input (a spin box's line edit, a table's corner)."""
    parent = w.parentWidget()
    while parent is not None and parent is not root:
        if isinstance(parent, INPUTS):
            return True
        parent = parent.parentWidget()
    return False


def unnamed_inputs(root: QWidget) -> list[str]:
    """Visible inputs under ``root`` without an accessible name."""
    out = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, INPUTS) or not w.isVisibleTo(root):
            continue
        if _inside_another_input(w, root) or w.objectName().startswith("qt_"):
            continue
        if not w.accessibleName().strip():
            text = getattr(w, "text", lambda: "")()
            out.append(f"{type(w).__name__} {w.objectName()!r} {text!r}")
    return out


def layout_problems(window: CeremonyWindow) -> list[str]:
    """Ways the current page does not fit a 1366x768 screen."""
    problems = []
    hint = window.minimumSizeHint()
    if hint.width() > SCREEN[0] or hint.height() > SCREEN[1]:
        problems.append(f"minimum size {hint.width()}x{hint.height()} exceeds 1366x768")
    holder = (
        window.prompt_holder if window.panel is not None else (window.page_stack.currentWidget())
    )
    if isinstance(holder, QScrollArea) and holder.horizontalScrollBar().isVisible():
        problems.append(f"{window.navigator.current.key}: content wider than the window")
    for name in ("title", "subtitle", "banner"):
        label = getattr(window, name)
        if label.isVisible() and label.heightForWidth(label.width()) > label.height() + 1:
            problems.append(f"{name} label clipped")
    return problems
