"""The flow's questions answered on the GUI thread while the flow's worker waits.

:class:`QtPrompter` implements :class:`ceremony.flow.prompts.Prompter`. The
flow calls it on the worker thread; each question becomes a
:class:`PromptRequest` sent to the window through a queued signal, and the
worker blocks until a panel answers it or the ceremony is aborted. Shares
travel only in memory, never into a log or a message.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QApplication

from ceremony.config.ceremonyfile import Participant
from ceremony.errors import InputError
from ceremony.flow.prompts import CollectedShares, RehearsalPrompter

HAND_OUT, COLLECT, ORPHAN, CONFIRM = "hand_out", "collect", "orphan", "confirm"
RESHOW, PASSPHRASE, PRINT_CARDS, PROVE = "reshow", "passphrase", "print_cards", "prove"


class PromptRequest:
    """One question from the flow; the worker waits in :meth:`wait`."""

    def __init__(self, kind: str, **args: Any) -> None:
        self.kind = kind
        self.args = args
        self._event = threading.Event()
        self._result: Any = None
        self._refusal: str | None = None

    def __repr__(self) -> str:
        return f"PromptRequest({self.kind}, answered={self.answered})"

    @property
    def answered(self) -> bool:
        return self._event.is_set()

    def answer(self, value: Any = None) -> None:
        if not self.answered:
            self._result = value
            self._event.set()

    def cancel(self, reason: str) -> None:
        if not self.answered:
            self._refusal = reason
            self._event.set()

    def wait(self) -> Any:
        self._event.wait()
        if self._refusal is not None:
            raise InputError(self._refusal)
        return self._result


class QtPrompter(QObject):
    """The GUI's answer to the flow's :class:`~ceremony.flow.prompts.Prompter`."""

    asked = Signal(object)
    progressed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rehearsal_dir: Path | None = None
        self.pending: PromptRequest | None = None
        self._lock = threading.Lock()

    # -- the Prompter protocol (called on the worker thread)

    def progress(self, step: str, message: str) -> None:
        self.progressed.emit(step, message)

    def hand_out_shares(
        self, purpose: str, mnemonics: Sequence[str], custodians: Sequence[Participant]
    ) -> Mapping[str, str] | None:
        """The hand-out panel may answer with the bag serial of each card, by custodian."""
        answer = self._ask(
            HAND_OUT, purpose=purpose, mnemonics=list(mnemonics), custodians=list(custodians)
        )
        rehearsal: Mapping[str, str] | None = None
        if self.rehearsal_dir is not None:
            rehearsal = RehearsalPrompter(self.rehearsal_dir).hand_out_shares(
                purpose, mnemonics, custodians
            )
        if isinstance(answer, Mapping):
            return {str(k): str(v) for k, v in answer.items()}
        return rehearsal

    def collect_shares(
        self, purpose: str, threshold: int, custodians: Sequence[Participant]
    ) -> CollectedShares:
        shares = self._ask(
            COLLECT, purpose=purpose, threshold=threshold, custodians=list(custodians)
        )
        assert isinstance(shares, CollectedShares)
        return shares

    def sign_in(self, participants: Sequence[Participant]) -> list[str]:
        """The sign-in page recorded who is present before the log opened; never asked here."""
        raise InputError("sign-in: the wizard records who is present on its sign-in page")

    def orphan(self, what: str, detail: str) -> bool:
        return bool(self._ask(ORPHAN, what=what, detail=detail))

    def reshow_share(
        self, custodian: Participant, index: int, mnemonic: str, purpose: str = "recovery"
    ) -> None:
        self._ask(
            RESHOW, purpose=purpose, mnemonics=[mnemonic], custodians=[custodian], index=index
        )

    def passphrase(self, purpose: str, new: bool) -> str:
        text = str(self._ask(PASSPHRASE, purpose=purpose, new=new))
        if self.rehearsal_dir is not None and new:
            RehearsalPrompter(self.rehearsal_dir).remember(f"{purpose}_passphrase", text)
        return text

    def print_share_cards(self, pdf: bytes, purpose: str = "recovery") -> None:
        if self.rehearsal_dir is not None:
            RehearsalPrompter(self.rehearsal_dir).print_share_cards(pdf, purpose)
        self._ask(PRINT_CARDS, pdf=pdf, saved=self.rehearsal_dir is not None, purpose=purpose)

    def prove_share(
        self,
        custodian: Participant,
        index: int,
        positions: Sequence[int],
        purpose: str = "recovery",
    ) -> dict[int, str]:
        answers = self._ask(
            PROVE, custodian=custodian, index=index, positions=list(positions), purpose=purpose
        )
        return {int(k): str(v) for k, v in dict(answers).items()}

    def confirm(self, step: str, summary: Sequence[str], phrase: str) -> bool:
        return bool(self._ask(CONFIRM, step=step, summary=list(summary), phrase=phrase))

    # -- plumbing

    def _ask(self, kind: str, **args: Any) -> Any:
        app = QApplication.instance()
        if app is not None and QThread.currentThread() is app.thread():
            raise RuntimeError("the flow must run on the worker thread, not the GUI thread")
        request = PromptRequest(kind, **args)
        with self._lock:
            self.pending = request
        self.asked.emit(request)
        try:
            return request.wait()
        finally:
            with self._lock:
                self.pending = None

    def cancel_pending(self, reason: str = "aborted by the ceremony administrator") -> bool:
        """Refuse the question the flow is waiting on (Abort); True if there was one."""
        with self._lock:
            request = self.pending
        if request is None:
            return False
        request.cancel(reason)
        return True
