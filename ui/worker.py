"""One worker thread that runs the flow's calls in order, off the GUI thread.

Every call into :class:`ceremony.flow.wizard.CeremonySession` (files, HSM,
key generation) goes through :meth:`FlowWorker.submit`; its result or error
comes back on the GUI thread through the callbacks. The flow's questions
reach the GUI through :class:`ui.prompter.QtPrompter` while the job waits.
"""

from __future__ import annotations

import itertools
import queue
import sys
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


class FlowWorker(QThread):
    """A job queue served by one thread; callbacks run on the GUI thread."""

    job_done = Signal(int, object, object)
    busy_changed = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("ceremony-flow-worker")
        self._jobs: queue.Queue[tuple[int, Callable[[], Any]] | None] = queue.Queue()
        self._callbacks: dict[int, tuple[Done, Failed | None]] = {}
        self._ids = itertools.count(1)
        self._running = 0
        self.job_done.connect(self._dispatch)

    @property
    def busy(self) -> bool:
        return self._running > 0

    def submit(self, job: Callable[[], Any], done: Done, failed: Failed | None = None) -> int:
        """Run ``job()`` on the worker; then ``done(result)`` or ``failed(error)`` here."""
        if not self.isRunning():
            self.start()
        jid = next(self._ids)
        self._callbacks[jid] = (done, failed)
        self._running += 1
        if self._running == 1:
            self.busy_changed.emit(True)
        self._jobs.put((jid, job))
        return jid

    def run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            jid, job = item
            try:
                result = job()
            except BaseException as ex:  # handed to the GUI thread, shown on the page
                self.job_done.emit(jid, None, ex)
            else:
                self.job_done.emit(jid, result, None)

    def _dispatch(self, jid: int, result: Any, error: BaseException | None) -> None:
        done, failed = self._callbacks.pop(jid)
        self._running -= 1
        if self._running == 0:
            self.busy_changed.emit(False)
        if error is None:
            done(result)
        elif failed is not None:
            failed(error)
        else:
            traceback.print_exception(error, file=sys.stderr)

    def stop(self, timeout_ms: int = 120_000) -> None:
        """Let the running job end, then stop the thread."""
        if self.isRunning():
            self._jobs.put(None)
            self.wait(timeout_ms)
