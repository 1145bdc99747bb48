"""Which page comes next: Electrum's navigation table over an immutable snapshot of choices.

The navigation is a table (:attr:`Navigator.navmap`) from a view to the view
that follows it, given what was chosen so far (:class:`Choices`, kept on a
stack for Back). After the chooser, the bundle set-up, the resume offer and
the sign-in, there is one page per step of the flow that the event log does
not show as done, then the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ceremony.flow.wizard.plans import CeremonyPlan, View, default_plans
from ceremony.hsm.keys import KeyAlgorithm

OWNED_STEPS: Mapping[str, View] = {"ceremony.open": View.PARTICIPANTS, "preflight": View.PREFLIGHT}
"""Steps run by a page of their own (sign-in, preflight) rather than a generic step page."""

BEFORE_START = frozenset(
    {
        View.CHOOSE,
        View.SETUP,
        View.CSR,
        View.REVOCATION,
        View.TARGET,
        View.RESUME,
        View.PARTICIPANTS,
        View.PREFLIGHT,
    }
)
"""Views where Back is allowed, until the ceremony log is opened."""


@dataclass(frozen=True)
class Page:
    """One wizard page: a view, and for step pages the step's name."""

    view: View
    step: str | None = None

    @property
    def key(self) -> str:
        return f"step:{self.step}" if self.view is View.STEP else self.view.value


@dataclass(frozen=True)
class Choices:
    """What the wizard knows so far (Electrum's ``wizard_data``), as an immutable snapshot."""

    kind: str = "root"
    rehearsal: bool = True
    bundle: Path | None = None
    key: KeyAlgorithm = KeyAlgorithm.ECDSA_P384
    """New rehearsal: the root key type."""
    threshold: int = 3
    """New rehearsal: M, custodians needed to activate or recover."""
    shares: int = 5
    """New rehearsal: N, the number of custodians."""
    definition_file: Path | None = None
    """New real ceremony: the reviewed ceremony file."""
    module_path: str | None = None
    """PKCS#11 module; None for the default (SoftHSM2)."""
    resume: bool = False
    """The bundle holds an open ceremony of ``kind`` and the room chose to continue it."""
    started: bool = False
    """The ceremony log was opened by this session: no going back."""
    steps: tuple[str, ...] = ()
    """The plan's step names, in order."""
    done: frozenset[str] = frozenset()
    """Steps the event log shows as done."""

    def with_done(self, step: str) -> Choices:
        return replace(self, done=self.done | {step})

    def pending_pages(self) -> list[str]:
        """Steps still to run on a step page of their own, in order."""
        return [s for s in self.steps if s not in self.done and s not in OWNED_STEPS]


NextFn = Callable[[Page, Choices], Page]


@dataclass(frozen=True)
class NavEntry:
    next: NextFn | None
    last: bool = False


class Navigator:
    """Decides the page after each page; keeps the stack of visited pages for Back."""

    def __init__(self, plans: Mapping[str, CeremonyPlan] | None = None) -> None:
        self.plans = dict(plans if plans is not None else default_plans())
        self._stack: list[tuple[Page, Choices]] = []
        self.navmap: dict[View, NavEntry] = {
            View.CHOOSE: NavEntry(lambda p, d: Page(View.SETUP)),
            View.SETUP: NavEntry(self._after_setup),
            View.RESUME: NavEntry(lambda p, d: self._first_input(d)),
            View.CSR: NavEntry(self._after_input),
            View.REVOCATION: NavEntry(self._after_input),
            View.TARGET: NavEntry(self._after_input),
            View.PARTICIPANTS: NavEntry(lambda p, d: Page(View.PREFLIGHT)),
            View.PREFLIGHT: NavEntry(lambda p, d: self._next_step(None, d)),
            View.STEP: NavEntry(lambda p, d: self._next_step(p.step, d)),
            View.SUMMARY: NavEntry(None, last=True),
        }

    # -- the table's decisions

    def plan(self, data: Choices) -> CeremonyPlan:
        return self.plans[data.kind]

    def _after_setup(self, page: Page, data: Choices) -> Page:
        return Page(View.RESUME) if data.resume else self._first_input(data)

    def _first_input(self, data: Choices) -> Page:
        inputs = self.plan(data).inputs
        return Page(inputs[0]) if inputs else Page(View.PARTICIPANTS)

    def _after_input(self, page: Page, data: Choices) -> Page:
        inputs = list(self.plan(data).inputs)
        i = inputs.index(page.view)
        return Page(inputs[i + 1]) if i + 1 < len(inputs) else Page(View.PARTICIPANTS)

    def _next_step(self, after: str | None, data: Choices) -> Page:
        pending = data.pending_pages()
        if after is not None and after in data.steps:
            position = data.steps.index(after)
            pending = [s for s in pending if data.steps.index(s) > position]
        return Page(View.STEP, pending[0]) if pending else Page(View.SUMMARY)

    # -- Electrum's resolve_next / resolve_prev

    def start(self, data: Choices | None = None) -> Page:
        self._stack = [(Page(View.CHOOSE), data or Choices())]
        return self._stack[-1][0]

    @property
    def current(self) -> Page:
        return self._stack[-1][0]

    @property
    def data(self) -> Choices:
        return self._stack[-1][1]

    def update(self, data: Choices) -> None:
        """Replace what the current page knows (after it ran its step, say)."""
        page, _ = self._stack[-1]
        self._stack[-1] = (page, data)

    def resolve_next(self, data: Choices | None = None) -> Page:
        """Move forward from the current page with ``data``; return the new page."""
        data = data if data is not None else self.data
        page = self.current
        entry = self.navmap[page.view]
        if entry.next is None:
            raise ValueError(f"{page.key}: is the last page")
        following = entry.next(page, data)
        self._stack.append((following, data))
        return following

    def jump(self, page: Page) -> Page:
        """Go straight to ``page`` (the summary of a ceremony closed as aborted)."""
        self._stack.append((page, self.data))
        return page

    def can_go_back(self) -> bool:
        if len(self._stack) < 2 or self.data.started:
            return False
        return self.current.view in BEFORE_START and self._stack[-2][0].view in BEFORE_START

    def resolve_prev(self) -> Page:
        if not self.can_go_back():
            raise ValueError(f"{self.current.key}: cannot go back from here")
        self._stack.pop()
        return self.current

    def is_last(self, page: Page | None = None) -> bool:
        return self.navmap[(page or self.current).view].last

    def is_commit(self, page: Page | None = None) -> bool:
        """True for the page of an irreversible step (shown as a commit page)."""
        page = page or self.current
        if page.view is not View.STEP or page.step is None:
            return False
        return self.plan(self.data).step(page.step).commit

    def history(self) -> list[str]:
        return [p.key for p, _ in self._stack]
