"""What software ran the ceremony: version and a hash of the installed package."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import ceremony


@cache
def package_hash() -> str:
    """SHA-256 over the relative path and bytes of every ``.py`` file of the package."""
    root = Path(ceremony.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def version() -> str:
    return ceremony.__version__
