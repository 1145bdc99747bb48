"""The TLS server contexts this process answers with, so a renewed certificate is served
without a restart.

uvicorn makes its ``ssl.SSLContext`` itself; the HTTP protocol
(:mod:`ceremony.online.http_server`) notes the context of every TLS connection here.
:func:`serve_files` loads a new certificate and key into every noted context (new
handshakes use them at once) and into any context noted later.
"""

from __future__ import annotations

import ssl
import threading
import weakref
from pathlib import Path

_lock = threading.Lock()
_contexts: weakref.WeakSet[ssl.SSLContext] = weakref.WeakSet()
_files: tuple[Path, Path] | None = None


def note_context(context: ssl.SSLContext) -> None:
    """A connection was accepted with ``context`` (cheap once the context is known)."""
    if context in _contexts:
        return
    with _lock:
        if context in _contexts:
            return
        if _files is not None:
            context.load_cert_chain(*_files)
        _contexts.add(context)


def serve_files(cert: Path, key: Path) -> int:
    """Serve ``cert`` (leaf and chain) and ``key`` from now on; return the contexts loaded."""
    global _files
    with _lock:
        contexts = list(_contexts)
        for context in contexts:
            context.load_cert_chain(cert, key)
        _files = (cert, key)
    return len(contexts)
