"""JOSE base64url (RFC 7515 section 2: URL-safe alphabet, no padding), strict."""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["DeserializationError", "decode_b64jose", "encode_b64jose"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class DeserializationError(ValueError):
    """A value that is not what its JOSE field must hold."""


def encode_b64jose(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_b64jose(data: str) -> bytes:
    """The bytes of a base64url field; DeserializationError on padding, another
    alphabet, an impossible length or non-zero trailing bits (one encoding per value)."""
    if not isinstance(data, str) or not _B64URL.fullmatch(data) or len(data) % 4 == 1:
        raise DeserializationError("not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError) as ex:
        raise DeserializationError(f"not base64url: {ex}") from ex
    if encode_b64jose(raw) != data:
        raise DeserializationError("not the canonical base64url of its bytes")
    return raw
