"""Listing issued certificates with filters: the REST list and ``ceremony-online certs list``.

Pages are keyed by the row id (``after``), oldest first; limits and ids are
checked here so that neither a huge ``after`` nor a zero or negative
``limit`` reaches the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ceremony.errors import InputError
from ceremony.online.db.models import Certificate
from ceremony.online.issuance import normalize_serial

MAX_LIMIT = 1000
MAX_ID = 2**63 - 1
STATUSES = ("valid", "revoked")


@dataclass(frozen=True)
class CertificateFilter:
    """Which certificates to list (every field optional)."""

    profile: str | None = None
    name: str | None = None
    """A DNS name or IP address the certificate carries (exact, case-insensitive)."""
    serial: str | None = None
    status: str | None = None
    """``valid`` (not revoked) or ``revoked``."""
    expiring_within: timedelta | None = None
    """Not yet expired and ending within this long."""
    profiles: frozenset[str] | None = None
    """Only these profiles (a token's scope); None: all."""

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise InputError(f"status {self.status!r}: must be one of {', '.join(STATUSES)}")
        if self.serial is not None:
            object.__setattr__(self, "serial", normalize_serial(self.serial))
        if self.expiring_within is not None and self.expiring_within <= timedelta(0):
            raise InputError("expiring within: must be a positive number of days")


@dataclass(frozen=True)
class Page:
    after: int = 0
    limit: int = 100


def parse_int(text: str | None, what: str, lo: int, hi: int, default: int) -> int:
    """An integer query parameter or option within [lo, hi]; InputError naming it."""
    if text is None:
        return default
    t = text.strip()
    if not t.lstrip("-").isdigit() or len(t) > 20:
        raise InputError(f"{what} {text!r}: must be an integer from {lo} to {hi}")
    value = int(t)
    if not lo <= value <= hi:
        raise InputError(f"{what} {text!r}: must be an integer from {lo} to {hi}")
    return value


def parse_page(limit: str | None, after: str | None) -> Page:
    return Page(
        after=parse_int(after, "after", 0, MAX_ID, 0),
        limit=parse_int(limit, "limit", 1, MAX_LIMIT, 100),
    )


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _query(f: CertificateFilter, now: datetime) -> Select[Any]:
    stmt = select(Certificate)
    if f.profile is not None:
        stmt = stmt.where(Certificate.profile == f.profile)
    if f.profiles is not None:
        stmt = stmt.where(Certificate.profile.in_(sorted(f.profiles)))
    if f.serial is not None:
        stmt = stmt.where(Certificate.serial == f.serial)
    if f.status is not None:
        stmt = stmt.where(Certificate.revoked.is_(f.status == "revoked"))
    if f.expiring_within is not None:
        stmt = stmt.where(
            Certificate.not_after > now, Certificate.not_after <= now + f.expiring_within
        )
    if f.name is not None:
        element = _like_literal(json.dumps(f.name.strip().lower().rstrip(".")))
        stmt = stmt.where(Certificate.names.like(f"%{element}%", escape="\\"))
    return stmt


def list_certificates(
    session: Session, f: CertificateFilter, page: Page, now: datetime
) -> list[dict[str, Any]]:
    """One page of matching certificates (metadata, no DER), oldest first."""
    stmt = _query(f, now).where(Certificate.id > page.after)
    rows = session.execute(stmt.order_by(Certificate.id).limit(page.limit)).scalars()
    return [
        {
            "id": r.id,
            "serial": r.serial,
            "profile": r.profile,
            "names": json.loads(r.names),
            "not_before": r.not_before.isoformat(),
            "not_after": r.not_after.isoformat(),
            "status": "revoked" if r.revoked else "valid",
        }
        for r in rows
    ]
