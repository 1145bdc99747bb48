"""Hash-chained audit log of every issuance and revocation, kept in the database.

Each record has exactly the fields and hashing of the ceremony event log
(:mod:`ceremony.audit.eventlog`), so ``check_chain`` verifies it and an
export is a valid ``events.jsonl``. The record is written in the same
transaction as the certificate or revocation it describes (into
``audit_pending``): both commit or neither does, and issuances do not wait
for each other. :func:`sequence` (the service's maintenance thread, every
second, and every read of the log) chains committed records in batches while
holding the single ``audit_head`` row ``FOR UPDATE``, which serializes the
chain across processes sharing one PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ceremony.audit.eventlog import Actor, canonical, check_chain, event_hash, format_time
from ceremony.errors import FaultError
from ceremony.media.atomic import write_new
from ceremony.online.db.engine import Database
from ceremony.online.db.models import AuditEvent, AuditHead, AuditPending

CEREMONY_ID = "online-ca"
KIND = "online"


def append(
    session: Session,
    step: str,
    actor: Actor,
    payload: Mapping[str, Any],
    now: datetime,
) -> None:
    """Record one event inside ``session``'s transaction (chained later by :func:`sequence`)."""
    session.add(AuditPending(**pending_row(step, actor, payload, now)))


def pending_row(
    step: str, actor: Actor, payload: Mapping[str, Any], now: datetime
) -> dict[str, str]:
    """The ``audit_pending`` columns of one event, for a bulk insert in the caller's
    transaction (the issuance's group commit); :func:`append` adds the same row."""
    return {
        "time": format_time(now),
        "step": step,
        "actor": json.dumps(actor.as_dict()),
        "payload": canonical(dict(payload)).decode(),
    }


def sequence(db: Database, batch: int = 10_000) -> int:
    """Move committed pending records into the hash chain; return how many were chained."""
    total = 0
    while True:
        with db.write() as session:
            head = session.execute(
                select(AuditHead).where(AuditHead.id == 1).with_for_update()
            ).scalar_one_or_none()
            if head is None:
                raise FaultError("audit log: the audit_head row is missing (not migrated?)")
            pending = (
                session.execute(select(AuditPending).order_by(AuditPending.id).limit(batch))
                .scalars()
                .all()
            )
            if not pending:
                return total
            seq, prev = head.seq, head.hash
            chained: list[dict[str, Any]] = []
            for p in pending:
                seq += 1
                record: dict[str, Any] = {
                    "seq": seq,
                    "time": p.time,
                    "ceremony": CEREMONY_ID,
                    "kind": KIND,
                    "step": p.step,
                    "event": "step",
                    "actor": json.loads(p.actor),
                    "payload": json.loads(p.payload),
                    "prev": prev,
                }
                record["hash"] = prev = event_hash(record)
                chained.append({"seq": seq, "hash": prev, "line": canonical(record).decode()})
            session.execute(insert(AuditEvent), chained)
            ids = [p.id for p in pending]  # exactly these: a lower id may commit later
            session.execute(delete(AuditPending).where(AuditPending.id.in_(ids)))
            head.seq, head.hash = seq, prev
            total += len(pending)


def events(db: Database, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every audit record in order (pending records are chained first)."""
    sequence(db)
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
