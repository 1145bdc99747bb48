"""Fault injection for the crash tests: ``CEREMONY_FAULT_INJECT=name:point``.

``name:point`` (a step and ``before``, ``action`` or ``event``; a closing document
``close.transcript``, ``close.cps``, ``close.manifest`` and ``before`` or ``after``;
``write:FILE`` and ``partial``: a file written under its temporary name, not yet
under its own) ends the process at once, as a power cut or ``kill -9`` would.
``name:stop`` stops it (SIGSTOP) before ``name`` until it is continued.
Without the variable nothing happens.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "CEREMONY_FAULT_INJECT"
FAULT_EXIT = 86


def inject_fault(name: str, point: str) -> None:
    wanted = os.environ.get(FAULT_ENV)
    if wanted is None:
        return
    if wanted == f"{name}:{point}":
        os._exit(FAULT_EXIT)
    if wanted == f"{name}:stop" and point == "before":
        os.kill(os.getpid(), signal.SIGSTOP)
