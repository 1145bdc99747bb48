"""Request bodies read with their size limit enforced while reading.

A declared ``Content-Length`` over the limit is refused before anything is
read; a chunked body is refused as soon as the bytes received pass the limit,
so a client cannot make the service hold more than ``limit`` bytes of one
request (the server reads ahead no more than its flow-control window). The
refusal carries ``Connection: close`` (:data:`CLOSE`): the server then drops the
connection instead of reading the rest of the body to keep it alive.
"""

from __future__ import annotations

from starlette.requests import Request

CLOSE = {"Connection": "close"}
"""Headers of a refusal that ends the connection."""


class BodyTooLarge(Exception):
    """The request body is larger than the endpoint accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge once it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)
