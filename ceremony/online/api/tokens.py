"""Bearer tokens for the REST API: stored as SHA-256, scoped to profiles, with a life cycle.

A token is ``cot_`` followed by 43 URL-safe base64 characters (256 bits
from the OS CSPRNG). It is shown once, when created; the database keeps its
SHA-256 only. ``profiles = ["*"]`` or ``admin`` allows every profile.

A token expires (``--expires-days``, default :data:`DEFAULT_LIFETIME`), can be
revoked (``ceremony-online token revoke``) and records when it was last used
(to the minute). Creation and revocation are in the audit log. Every process
caches lookups for :data:`CACHE_SECONDS` at most, in a bounded cache (known
tokens and unknown ones apart, so that a flood of random tokens cannot evict
the real ones), so a revocation takes effect everywhere within that time.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic

from sqlalchemy import select, update

from ceremony.audit.eventlog import Actor, utc_now
from ceremony.errors import InputError
from ceremony.online import audit
from ceremony.online.db.engine import Database
from ceremony.online.db.models import ApiToken
from ceremony.online.issuance import Clock

PREFIX = "cot_"
CACHE_SECONDS = 5.0
CACHE_KNOWN = 10_000
"""At most this many valid tokens cached per process (least recently used dropped)."""
CACHE_UNKNOWN = 1_000
"""At most this many unknown, expired or revoked tokens cached per process."""
DEFAULT_LIFETIME = timedelta(days=365)
LAST_USED_RESOLUTION = timedelta(minutes=1)


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


def check_name(name: str) -> str:
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--name {name!r}: 1 to 64 letters, digits, '-' or '_'")
    return name


def create_token(
    db: Database,
    name: str,
    profiles: list[str],
    admin: bool,
    clock: Clock,
    lifetime: timedelta | None = DEFAULT_LIFETIME,
    actor: Actor | None = None,
) -> str:
    """Store a new token and return its secret (the only time it is visible); audited.
    ``lifetime`` None: it never expires."""
    check_name(name)
    token = PREFIX + secrets.token_urlsafe(32)
    now = clock()
    expires = None if lifetime is None else now + lifetime
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
                created_at=now,
                expires_at=expires,
            )
        )
        audit.append(
            session,
            "token.create",
            actor or Actor("operator", "operator"),
            {
                "name": name,
                "profiles": sorted(profiles),
                "admin": admin,
                "expires": expires.isoformat() if expires else None,
                "sha256": token_hash(token),
            },
            now,
        )
    return token


@dataclass(frozen=True)
class TokenInfo:
    """What ``token list`` shows (never the secret)."""

    name: str
    profiles: tuple[str, ...]
    admin: bool
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    disabled: bool

    def status(self, now: datetime) -> str:
        if self.disabled:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def list_tokens(db: Database) -> list[TokenInfo]:
    with db.read() as session:
        rows = session.execute(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id))
        return [
            TokenInfo(
                name=r.name,
                profiles=tuple(json.loads(r.profiles)),
                admin=r.admin,
                created_at=r.created_at,
                expires_at=r.expires_at,
                last_used_at=r.last_used_at,
                revoked_at=r.revoked_at,
                disabled=r.disabled,
            )
            for r in rows.scalars()
        ]


def revoke_token(db: Database, name: str, actor: Actor, clock: Clock) -> None:
    """Revoke the token ``name`` (audited); InputError if unknown or revoked already."""
    now = clock()
    with db.write() as session:
        row = session.execute(
            select(ApiToken).where(ApiToken.name == name).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            raise InputError(f"--name {name!r}: no such token")
        if row.disabled:
            raise InputError(f"--name {name!r}: revoked already")
        row.disabled = True
        row.revoked_at = now
        audit.append(session, "token.revoke", actor, {"name": name}, now)


class _Lru:
    """A bounded map of digest -> (deadline, grant), least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[float, TokenGrant | None]] = OrderedDict()

    def get(self, key: str, now: float) -> tuple[bool, TokenGrant | None]:
        hit = self._items.get(key)
        if hit is None:
            return False, None
        if hit[0] <= now:
            del self._items[key]
            return False, None
        self._items.move_to_end(key)
        return True, hit[1]

    def put(self, key: str, deadline: float, grant: TokenGrant | None) -> None:
        self._items[key] = (deadline, grant)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


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
    """Looks bearer tokens up (with a short, bounded per-process cache)."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or utc_now
        self._known = _Lru(CACHE_KNOWN)
        self._unknown = _Lru(CACHE_UNKNOWN)
        self._lock = threading.Lock()

    @property
    def cache_size(self) -> int:
        with self._lock:
            return len(self._known) + len(self._unknown)

    def _lookup_cache(self, digest: str) -> tuple[bool, TokenGrant | None]:
        now = monotonic()
        with self._lock:
            hit, grant = self._known.get(digest, now)
            if not hit:
                hit, grant = self._unknown.get(digest, now)
        return hit, grant

    def cached(self, authorization: str | None) -> tuple[bool, TokenGrant | None]:
        """``(True, grant)`` when no database lookup is needed (a malformed header, or a
        token looked up less than ``CACHE_SECONDS`` ago); ``(False, None)`` otherwise.
        Never blocks: the REST handlers call it on the event loop, and :meth:`verify`
        in the thread pool only on a miss."""
        digest = _digest(authorization)
        if digest is None:
            return True, None
        return self._lookup_cache(digest)

    def verify(self, authorization: str | None) -> TokenGrant | None:
        digest = _digest(authorization)
        if digest is None:
            return None
        hit, grant = self._lookup_cache(digest)
        if hit:
            return grant
        now = self.clock()
        with self.db.read() as session:
            row = session.execute(
                select(ApiToken).where(ApiToken.token_sha256 == digest)
            ).scalar_one_or_none()
            usable = (
                row is not None
                and not row.disabled
                and (row.expires_at is None or row.expires_at > now)
            )
            grant = (
                TokenGrant(row.name, frozenset(json.loads(row.profiles)), row.admin)
                if usable and row is not None
                else None
            )
            stale_use = (
                usable
                and row is not None
                and (row.last_used_at is None or row.last_used_at + LAST_USED_RESOLUTION <= now)
            )
            ttl = CACHE_SECONDS
            if usable and row is not None and row.expires_at is not None:
                ttl = min(ttl, (row.expires_at - now).total_seconds())
        if stale_use:
            with self.db.write() as session:
                session.execute(
                    update(ApiToken).where(ApiToken.token_sha256 == digest).values(last_used_at=now)
                )
        with self._lock:
            (self._known if grant is not None else self._unknown).put(
                digest, monotonic() + ttl, grant
            )
        return grant
