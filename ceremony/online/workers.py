"""``serve --workers N`` as one service: shared metrics, and workers that die with the master.

The master makes ``DATA/.metrics/<master pid>/`` for ``prometheus_client``'s
multiprocess mode (folders of masters no longer running are removed first, so a
restart starts its counters from zero as Prometheus expects) and removes it
when it stops. Each worker asks Linux for ``SIGTERM`` when its parent dies
(``PR_SET_PDEATHSIG``): a master killed with ``kill -9`` takes its workers with
it, their listening socket is closed, and the next ``serve`` binds the address
again. A worker whose master died before it could ask stops at once. Processes a worker
starts (the pkilint pool) ask the same of their parent (:func:`die_with_parent`).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import signal
from pathlib import Path

from ceremony.online.metrics import MULTIPROC_ENV

MASTER_ENV = "CEREMONY_ONLINE_MASTER_PID"
PR_SET_PDEATHSIG = 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def multiprocess_dir(folder: Path) -> Path:
    """Set up this master's metrics folder under ``folder`` and point workers to it."""
    folder.mkdir(mode=0o700, exist_ok=True)
    for old in folder.iterdir():
        if old.name.isdigit() and not _alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    mine = folder / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir(mode=0o700)
    os.environ[MULTIPROC_ENV] = str(mine)
    os.environ[MASTER_ENV] = str(os.getpid())
    return mine


def remove_multiprocess_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _term_on_parent_death() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the process outlives a killed parent there


def die_with_master() -> None:
    """In a worker: be sent SIGTERM when the master dies (Linux), or stop now if it has."""
    master = os.environ.get(MASTER_ENV)
    _term_on_parent_death()
    if master is not None and os.getppid() != int(master):
        os.kill(os.getpid(), signal.SIGTERM)


def die_with_parent() -> None:
    """In a helper process a worker starts (the pkilint pool's): the same, for the process
    that started it, so no helper outlives a worker however it ends."""
    parent = multiprocessing.parent_process()
    _term_on_parent_death()
    if parent is not None and os.getppid() != parent.pid:
        os.kill(os.getpid(), signal.SIGTERM)
