"""What every page must satisfy: accessible names on inputs, and it fits 1366x768."""

from __future__ import annotations

import re

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QGroupBox,
    QLabel,
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


MNEMONIC = re.compile(r"(?<!&)&([^&\s])")


def mnemonic_clashes(window: CeremonyWindow) -> list[str]:
    """Alt+letter keys given to two visible controls of the current page or panel.

    A mnemonic on a label goes to its buddy; two controls with the same letter
    send the typing of a custodian to the wrong field.
    """
    owners: dict[str, list[str]] = {}
    for w in window.findChildren(QWidget):
        if w.window() is not window or not w.isVisibleTo(window):
            continue  # a dialog is a window of its own, with its own Alt keys
        if isinstance(w, QAbstractButton):
            text = w.text()
        elif isinstance(w, QLabel) and w.buddy() is not None:
            text = w.text()
        elif isinstance(w, QGroupBox) and w.isCheckable():
            text = w.title()
        else:
            continue
        m = MNEMONIC.search(text)
        if m:
            owners.setdefault(m.group(1).lower(), []).append(text.replace("&", ""))
    where = window.navigator.current.key + (" (question)" if window.panel is not None else "")
    return [
        f"{where}: Alt+{letter.upper()} on {', '.join(repr(n) for n in names)}"
        for letter, names in sorted(owners.items())
        if len(names) > 1
    ]
