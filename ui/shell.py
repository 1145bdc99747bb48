"""What a page may ask of the window that holds it: a narrow interface, so pages never import it.

:class:`ui.window.CeremonyWindow` provides it; pages receive it and see
nothing else of the window (the window imports the pages, not the reverse).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from PySide6.QtWidgets import QWidget

from ceremony.flow.wizard import BundleProbe, CeremonyPlan, CeremonySession, Choices
from ui.options import Options


class Shell(Protocol):
    """The window as its pages see it."""

    options: Options
    session: CeremonySession | None
    probe: BundleProbe | None
    present: list[str]
    """Names signed in as present, in the ceremony file's order."""

    @property
    def page_parent(self) -> QWidget:
        """The widget pages are created under (never a top-level window, even briefly)."""
        ...

    @property
    def data(self) -> Choices: ...

    @property
    def plan(self) -> CeremonyPlan: ...

    @property
    def plans(self) -> Mapping[str, CeremonyPlan]: ...

    def supports(self, plan: CeremonyPlan) -> bool: ...

    def submit(
        self,
        job: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None] | None = None,
    ) -> None: ...

    def new_session(self, data: Choices, probe: BundleProbe | None) -> None: ...

    def ceremony_started(self) -> None: ...

    def step_recorded(self, step: str) -> None: ...

    def reveal(self, widget: QWidget) -> None: ...

    def show_banner(self, rehearsal: bool) -> None: ...
