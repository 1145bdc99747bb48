"""Bearer tokens for the REST API: stored as SHA-256, scoped to profiles.

A token is ``cot_`` followed by 43 URL-safe base64 characters (256 bits
from the OS CSPRNG). It is shown once, when created; the database keeps its
SHA-256 only. ``profiles = ["*"]`` or ``admin`` allows every profile.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from time import monotonic

from sqlalchemy import select

from ceremony.errors import InputError
from ceremony.online.db.engine import Database
from ceremony.online.db.models import ApiToken
from ceremony.online.issuance import Clock

PREFIX = "cot_"
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class TokenGrant:
    """What an authenticated token may do."""

    name: str
    profiles: frozenset[str]
    admin: bool

    def may_use(self, profile: str) -> bool:
        return self.admin or "*" in self.profiles or profile in self.profiles


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Database, name: str, profiles: list[str], admin: bool, clock: Clock) -> str:
    """Store a new token and return its secret (the only time it is visible)."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--name {name!r}: 1 to 64 letters, digits, '-' or '_'")
    token = PREFIX + secrets.token_urlsafe(32)
    with db.write() as session:
        if session.execute(select(ApiToken).where(ApiToken.name == name)).scalar_one_or_none():
            raise InputError(f"--name {name!r}: a token with that name exists already")
        session.add(
            ApiToken(
                name=name,
                token_sha256=token_hash(token),
                profiles=json.dumps(sorted(profiles)),
                admin=admin,
                disabled=False,
                created_at=clock(),
            )
        )
    return token


def disable_token(db: Database, name: str) -> None:
    with db.write() as session:
        row = session.execute(select(ApiToken).where(ApiToken.name == name)).scalar_one_or_none()
        if row is None:
            raise InputError(f"--name {name!r}: no such token")
        row.disabled = True


def _digest(authorization: str | None) -> str | None:
    """SHA-256 of the token in an ``Authorization: Bearer TOKEN`` header (the scheme is
    case-insensitive, RFC 7235 2.1); None for any other header."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token.startswith(PREFIX):
        return None
    return token_hash(token)


class TokenVerifier:
    """Looks bearer tokens up (with a short per-process cache)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, TokenGrant | None]] = {}
        self._lock = threading.Lock()

    def cached(self, authorization: str | None) -> tuple[bool, TokenGrant | None]:
        """``(True, grant)`` when no database lookup is needed (a malformed header, or a
        token looked up less than ``CACHE_SECONDS`` ago); ``(False, None)`` otherwise.
        Never blocks: the REST handlers call it on the event loop, and :meth:`verify`
        in the thread pool only on a miss."""
        digest = _digest(authorization)
        if digest is None:
            return True, None
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[0] > monotonic():
            return True, hit[1]
        return False, None

    def verify(self, authorization: str | None) -> TokenGrant | None:
        digest = _digest(authorization)
        if digest is None:
            return None
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[0] > monotonic():
            return hit[1]
        with self.db.read() as session:
            row = session.execute(
                select(ApiToken).where(ApiToken.token_sha256 == digest)
            ).scalar_one_or_none()
            grant = (
                None
                if row is None or row.disabled
                else TokenGrant(row.name, frozenset(json.loads(row.profiles)), row.admin)
            )
        with self._lock:
            self._cache[digest] = (monotonic() + CACHE_SECONDS, grant)
        return grant
