"""Anti-replay nonces shared by all service processes.

A nonce is base64url of ``random(16) || time(8) || HMAC-SHA256(key, both)[:16]``
with a key in the data folder, so issuing one needs no database write. Using
one checks the MAC and age, then inserts it into ``acme_nonces`` inside the request's
own write transaction: the primary key refuses a second use on any process
(``badNonce``). Rows older than the
nonce lifetime are dropped by the maintenance thread (the age check refuses
those nonces anyway).
"""

from __future__ import annotations

import hmac
import os
import secrets
import struct
from datetime import datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import cast

from sqlalchemy import Table, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ceremony.errors import FaultError
from ceremony.online.acme import jose
from ceremony.online.db.engine import Database
from ceremony.online.db.models import AcmeNonce

LIFETIME = timedelta(hours=1)
KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """The nonce MAC key at ``path`` (created once, mode 0600)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
    try:
        key = path.read_bytes()
    except OSError as ex:
        raise FaultError(f"{path}: cannot read the nonce key: {ex.strerror}") from ex
    if len(key) != KEY_BYTES:
        raise FaultError(f"{path}: nonce key has the wrong length")
    return key


class NonceStore:
    def __init__(self, db: Database, key: bytes) -> None:
        self.db = db
        self.key = key
        self._table = cast(Table, AcmeNonce.__table__)
        self._insert = (
            sqlite_insert(self._table) if db.url.is_sqlite else postgresql_insert(self._table)
        )

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self.key, body, sha256).digest()[:16]

    def issue(self, now: datetime) -> str:
        body = secrets.token_bytes(16) + struct.pack(">q", int(now.timestamp()))
        return jose.encode_b64jose(body + self._mac(body))

    def valid(self, nonce: str, now: datetime) -> bool:
        """True for a nonce this service issued within its lifetime (used or not)."""
        if not nonce or len(nonce) > 64:
            return False
        try:
            raw = jose.decode_b64jose(nonce)
        except jose.DeserializationError:
            return False
        if len(raw) != 40:
            return False
        body, mac = raw[:24], raw[24:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return False
        (issued,) = struct.unpack(">q", body[16:24])
        age = now.timestamp() - int(issued)
        return -60 <= age <= LIFETIME.total_seconds()

    def consume(self, session: Session, nonce: str, now: datetime) -> bool:
        """Record ``nonce`` as used in the caller's write transaction; False if it was
        used already (by any process). Check :meth:`valid` first."""
        stmt = (
            self._insert.values(nonce=nonce, created_at=now)
            .on_conflict_do_nothing()
            .returning(self._table.c.nonce)
        )
        return session.execute(stmt).first() is not None

    def use(self, nonce: str, now: datetime) -> bool:
        """:meth:`valid` and :meth:`consume` in a transaction of its own."""
        if not self.valid(nonce, now):
            return False
        with self.db.write() as session:
            used = self.consume(session, nonce, now)
        return used

    def expire(self, now: datetime) -> None:
        with self.db.write() as session:
            session.execute(delete(AcmeNonce).where(AcmeNonce.created_at < now - LIFETIME))
