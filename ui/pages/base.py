"""The page contract the window drives (Electrum's WizardComponent, with actions).

A page may have an *action* (run a step, open the ceremony): while the
action is pending, the window's primary button runs it; once done, the same
button moves on. ``accept`` runs when moving on and may be asynchronous.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ceremony.errors import CeremonyError
from ceremony.flow.wizard import Choices, Page

if TYPE_CHECKING:
    from ui.shell import Shell


class WizardPage(QWidget):
    """Base page: title, subtitle and a vertical layout of content."""

    changed = Signal()

    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell.page_parent)
        self.shell = shell
        self.page = page
        self.busy = False
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(4, 4, 12, 4)
        self.setObjectName(f"page-{page.key}")

    # -- what the window asks

    def title(self) -> str:
        return self.page.key

    def subtitle(self) -> str:
        return ""

    def enter(self) -> None:
        """Called each time the page is shown."""

    def is_complete(self) -> bool:
        return not self.busy

    def action_label(self) -> str | None:
        """Text of the pending action, or None when the primary button moves on."""
        return None

    def action_ready(self) -> bool:
        return not self.busy

    def run_action(self) -> None:
        """Start the pending action (asynchronously); emit ``changed`` when it ends."""

    def is_commit(self) -> bool:
        return False

    def accept(self, proceed: Callable[[], None]) -> None:
        """Moving on: check and call ``proceed()`` (possibly later, from a worker callback)."""
        proceed()

    def apply(self, data: Choices) -> Choices:
        """What this page adds to the wizard's data."""
        return data

    def on_progress(self, step: str, message: str) -> None:
        """A progress message from the flow while this page's job runs."""

    def first_focus(self) -> QWidget | None:
        return None

    # -- helpers

    def notify(self, *_: object) -> None:
        """Something the buttons depend on changed (connect any signal here)."""
        self.changed.emit()

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.changed.emit()


def error_text(ex: BaseException) -> str:
    """One line for the page: our errors by message, anything else by type too."""
    if isinstance(ex, CeremonyError):
        return ex.message
    return f"internal error: {type(ex).__name__}: {ex}"
