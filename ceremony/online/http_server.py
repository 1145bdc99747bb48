"""How ``serve`` runs HTTP: uvicorn on uvloop with the httptools parser, ``TCP_NODELAY``
on every accepted connection.

A response goes out as two writes (headers, then body). Without ``TCP_NODELAY`` Nagle's
algorithm holds the second until the client acknowledges the first, and the client delays
that acknowledgement by 40 ms or more: every keep-alive request after the first would
wait that long. asyncio sets the option only on sockets whose listening socket was made
with ``proto=IPPROTO_TCP``, which uvicorn before 0.35 does not do in ``--workers`` mode;
uvloop sets it itself. The protocol below sets it on every connection whatever the loop,
the uvicorn release or the worker mode.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ceremony.online.served_tls import note_context


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on the TCP socket under ``transport`` (no-op otherwise)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # the peer is gone already: the protocol sees it next
        pass


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``TCP_NODELAY`` set on the connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            note_context(ssl_object.context)
        super().connection_made(transport)


def uvicorn_options() -> dict[str, Any]:
    """The event loop and HTTP protocol ``serve`` gives ``uvicorn.run`` in every mode."""
    return {"loop": "uvloop", "http": NoDelayHttpToolsProtocol}
