"""Challenge validations run fairly: a global and a per-account concurrency limit.

``workers`` threads take validations from per-account queues in turn (round
robin over the accounts that have work), and never run more than
``per_account`` of one account at once. An account whose validations hang
(a listener that never answers) therefore holds at most ``per_account``
threads, each for at most the validation timeout, while other accounts' work
goes on in the remaining ones.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable

log = logging.getLogger("ceremony.online.acme")


class ValidationScheduler:
    def __init__(self, workers: int, per_account: int, name: str = "acme-va") -> None:
        if not 1 <= per_account <= workers:
            raise ValueError("per_account must be from 1 to workers")
        self.workers = workers
        self.per_account = per_account
        self._queues: OrderedDict[str, deque[Callable[[], None]]] = OrderedDict()
        self._running: dict[str, int] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, account: str, job: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("validation scheduler is closed")
            self._queues.setdefault(account, deque()).append(job)
            self._cond.notify()

    def queued(self, account: str) -> int:
        """Validations of ``account`` waiting or running."""
        with self._cond:
            return len(self._queues.get(account, ())) + self._running.get(account, 0)

    def _next(self) -> tuple[str, Callable[[], None]] | None:
        """The next job of the first account (in turn) below its limit; None if none."""
        for account, jobs in self._queues.items():
            if jobs and self._running.get(account, 0) < self.per_account:
                job = jobs.popleft()
                if not jobs:
                    del self._queues[account]
                else:
                    self._queues.move_to_end(account)
                self._running[account] = self._running.get(account, 0) + 1
                return account, job
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                picked = self._next()
                while picked is None:
                    if self._closed:
                        return
                    self._cond.wait()
                    picked = self._next()
            account, job = picked
            try:
                job()
            except Exception:  # a job logs its own failures; this keeps the worker alive
                log.exception("acme validation for account %s crashed", account)
            finally:
                with self._cond:
                    left = self._running[account] - 1
                    if left:
                        self._running[account] = left
                    else:
                        del self._running[account]
                    self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._queues.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
