"""Hash-chained audit log of every issuance and revocation, kept in the database.

Each record has exactly the fields and hashing of the ceremony event log
(:mod:`ceremony.audit.eventlog`), so ``check_chain`` verifies it and an
export is a valid ``events.jsonl``. The record is written in the same
transaction as the certificate or revocation it describes: both commit or
neither does. The single ``audit_head`` row is locked ``FOR UPDATE`` while
appending, which serializes the chain across processes on PostgreSQL (on
SQLite the write transaction already holds the database lock).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceremony.audit.eventlog import Actor, canonical, check_chain, event_hash, format_time
from ceremony.errors import FaultError
from ceremony.media.atomic import write_new
from ceremony.online.db.engine import Database
from ceremony.online.db.models import AuditEvent, AuditHead

CEREMONY_ID = "online-ca"
KIND = "online"


def append(
    session: Session,
    step: str,
    actor: Actor,
    payload: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Append one event inside ``session``'s transaction and return it."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        raise FaultError("audit log: the audit_head row is missing (database not migrated?)")
    record: dict[str, Any] = {
        "seq": head.seq + 1,
        "time": format_time(now),
        "ceremony": CEREMONY_ID,
        "kind": KIND,
        "step": step,
        "event": "step",
        "actor": actor.as_dict(),
        "payload": dict(payload),
        "prev": head.hash,
    }
    record["hash"] = event_hash(record)
    session.add(AuditEvent(seq=record["seq"], hash=record["hash"], line=canonical(record).decode()))
    head.seq = record["seq"]
    head.hash = record["hash"]
    return record


def events(db: Database, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every audit record in order."""
    last = 0
    while True:
        with db.read() as session:
            rows = (
                session.execute(
                    select(AuditEvent.line)
                    .where(AuditEvent.seq > last)
                    .order_by(AuditEvent.seq)
                    .limit(batch)
                )
                .scalars()
                .all()
            )
        if not rows:
            return
        for line in rows:
            record: dict[str, Any] = json.loads(line)
            last = int(record["seq"])
            yield record


def verify(db: Database) -> list[str]:
    """Problems found in the chain (empty: intact) and against the head row."""
    records = list(events(db))
    problems = check_chain(records)
    with db.read() as session:
        head = session.get(AuditHead, 1)
    if head is None:
        problems.append("audit head row missing")
    elif records and head.hash != records[-1]["hash"]:
        problems.append("audit head does not match the last event (events removed at the end)")
    elif not records and head.seq != 0:
        problems.append("audit head counts events but none are stored")
    return problems


def export(db: Database, path: Path) -> int:
    """Write the log as an ``events.jsonl`` file (never overwriting); return the count."""
    lines = [canonical(r) + b"\n" for r in events(db)]
    write_new(path, b"".join(lines))
    return len(lines)
