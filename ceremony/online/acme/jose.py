"""The josepy names we use, imported from the modules that define them (typed)."""

from __future__ import annotations

from typing import Any

from josepy.errors import DeserializationError
from josepy.json_util import decode_b64jose, encode_b64jose
from josepy.jwk import JWK, JWKEC, JWKRSA, JWKOct

__all__ = [
    "JWK",
    "JWKEC",
    "JWKRSA",
    "DeserializationError",
    "JWKOct",
    "decode_b64jose",
    "encode_b64jose",
    "jwk_from_json",
]


def jwk_from_json(obj: Any) -> JWK:
    """A JWK from its JSON form; DeserializationError when it is not one."""
    if not isinstance(obj, dict):
        raise DeserializationError("a JWK must be a JSON object")
    key = JWK.from_json(obj)
    if not isinstance(key, JWK):
        raise DeserializationError("not a JWK")
    return key
