"""Reading an open file to its end without holding more than a limit in memory."""

from __future__ import annotations

import os

CHUNK = 1024 * 1024


def read_at_most(fd: int, limit: int) -> bytes | None:
    """All bytes of ``fd`` if they are at most ``limit``; None when the file holds more
    (it grew after its size was checked). OSError is the caller's to name."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = os.read(fd, min(CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
    return None
