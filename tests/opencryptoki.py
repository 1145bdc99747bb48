"""openCryptoki's software token, the suite's second PKCS#11 implementation.

It is ONE token for the whole machine (``pkcsslotd``, ``/var/lib/opencryptoki``):
every test that uses it holds an exclusive lock on :data:`LOCK` for its whole use
(so xdist workers, concurrent runs and other checkouts take turns) and resets the
token to its factory state first (uninitialized, SO PIN :data:`FACTORY_SO_PIN`), as a
new HSM arrives from its vendor. Tests reach the token only through subprocesses
(the CLI, pkcs11-tool): a pytest worker has SoftHSM2 loaded, and a process loads one
PKCS#11 module.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import ROOT

MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so"
LOCK = Path("/run/lock/ceremony-opencryptoki.lock")
FACTORY_SO_PIN = "87654321"
RESET = ROOT / "scripts/lib/opencryptoki-reset"


def reset() -> None:
    """Back to the factory state; the caller holds :data:`LOCK`."""
    r = subprocess.run([RESET], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@contextmanager
def factory_token() -> Iterator[str]:
    """Hold the machine-wide lock, reset the token, yield the module path."""
    assert Path(MODULE).exists(), f"{MODULE}: openCryptoki is not installed (run scripts/setup)"
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        reset()
        yield MODULE
    finally:
        os.close(fd)


def pkcs11_tool(*args: str) -> str:
    r = subprocess.run(
        ["pkcs11-tool", "--module", MODULE, *args], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout
