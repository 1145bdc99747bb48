"""ACME external account binding keys (RFC 8555 7.3.4) with a life cycle.

``ceremony-online eab create`` makes a key id and an HMAC key (shown once); an
unused key expires after ``--expires-days`` (default :data:`DEFAULT_LIFETIME`).
A key binds one account, once. ``eab revoke`` makes an unused key unusable and
revokes the account a used key bound (its requests are refused from then on).
Creation, binding and revocation are in the audit log; the HMAC key never is.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ceremony.audit.eventlog import Actor
from ceremony.errors import InputError
from ceremony.online import audit
from ceremony.online.acme import jose
from ceremony.online.db.engine import Database
from ceremony.online.db.models import AcmeAccount, AcmeEabKey
from ceremony.online.issuance import Clock

DEFAULT_LIFETIME = timedelta(days=30)


@dataclass(frozen=True)
class EabInfo:
    kid: str
    created_at: datetime
    expires_at: datetime | None
    account_id: str | None
    bound_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.account_id is not None:
            return "bound"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "unused"


def refusal(
    revoked_at: datetime | None, account_id: str | None, expires_at: datetime | None, now: datetime
) -> str | None:
    """Why a key in this state cannot bind a new account now (None: it can)."""
    if revoked_at is not None:
        return "external account key is revoked"
    if account_id is not None:
        return "external account key is used already"
    if expires_at is not None and expires_at <= now:
        return "external account key has expired"
    return None


def create_eab(
    db: Database, clock: Clock, actor: Actor, lifetime: timedelta | None = DEFAULT_LIFETIME
) -> tuple[str, str]:
    """A new ``(kid, base64url HMAC key)``; audited (without the key)."""
    kid = "kid-" + secrets.token_urlsafe(12)
    key = jose.encode_b64jose(secrets.token_bytes(32))
    now = clock()
    expires = None if lifetime is None else now + lifetime
    with db.write() as session:
        session.add(
            AcmeEabKey(kid=kid, hmac_key=key, account_id=None, created_at=now, expires_at=expires)
        )
        audit.append(
            session,
            "eab.create",
            actor,
            {"kid": kid, "expires": expires.isoformat() if expires else None},
            now,
        )
    return kid, key


def record_binding(session: Session, kid: str, account_id: str, now: datetime) -> None:
    """Bind ``kid`` (checked by the caller under its row lock) to a new account, inside
    the caller's transaction; audited."""
    session.execute(
        update(AcmeEabKey).where(AcmeEabKey.kid == kid).values(account_id=account_id, bound_at=now)
    )
    audit.append(
        session,
        "eab.bind",
        Actor(account_id, "acme-account"),
        {"kid": kid, "account": account_id},
        now,
    )


def list_eab(db: Database) -> list[EabInfo]:
    with db.read() as session:
        rows = session.execute(select(AcmeEabKey).order_by(AcmeEabKey.created_at)).scalars()
        return [
            EabInfo(r.kid, r.created_at, r.expires_at, r.account_id, r.bound_at, r.revoked_at)
            for r in rows
        ]


def revoke_eab(db: Database, kid: str, actor: Actor, clock: Clock) -> str | None:
    """Revoke ``kid`` and the account it bound (returned); audited."""
    now = clock()
    with db.write() as session:
        key = session.execute(
            select(AcmeEabKey).where(AcmeEabKey.kid == kid).with_for_update()
        ).scalar_one_or_none()
        if key is None:
            raise InputError(f"--kid {kid!r}: no such external account key")
        if key.revoked_at is not None:
            raise InputError(f"--kid {kid!r}: revoked already")
        key.revoked_at = now
        account_id = key.account_id
        if account_id is not None:
            account = session.get(AcmeAccount, account_id, with_for_update=True)
            if account is not None:
                account.status = "revoked"
        audit.append(session, "eab.revoke", actor, {"kid": kid, "account": account_id}, now)
    return account_id
