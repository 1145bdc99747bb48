"""Append-only, hash-chained JSON-lines event log.

Each line is one event::

    {"seq": 1, "time": "2026-11-27T03:00:00Z", "ceremony": "...", "kind": "root",
     "step": "token.init", "event": "step", "actor": {"name": "...", "role": "..."},
     "payload": {...}, "prev": "<64 hex>", "hash": "<64 hex>"}

``hash`` is the SHA-256 of the canonical JSON of the event without
``hash`` (keys sorted, no spaces, UTF-8). ``prev`` is the previous event's
hash; the first event's ``prev`` is the final event hash of the bundle's
previous ceremony (:data:`GENESIS` for the first), so all the logs of a
bundle form one chain. Every event is written and fsynced before
:meth:`EventLog.append` returns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ceremony.errors import InputError
from ceremony.media.atomic import append_line

GENESIS = "0" * 64
EVENTS_NAME = "events.jsonl"
"""File name of a ceremony's log, in its transcript folder and attached to its transcript."""
FIELDS = ("seq", "time", "ceremony", "kind", "step", "event", "actor", "payload", "prev", "hash")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: Mapping[str, Any]) -> str:
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Actor:
    """Who performed a step: a participant's name and ceremony role."""

    name: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role}


class EventLog:
    """One ceremony's log file, opened for appending."""

    def __init__(
        self,
        path: Path,
        ceremony_id: str,
        kind: str,
        clock: Clock = utc_now,
        genesis: str = GENESIS,
    ) -> None:
        self.path = Path(path)
        self.ceremony_id = ceremony_id
        self.kind = kind
        self.genesis = genesis
        self._clock = clock
        self._events: list[dict[str, Any]] = (
            list(read_events(self.path)) if self.path.exists() else []
        )
        problems = check_chain(self._events, genesis)
        if problems:
            raise InputError(f"{self.path}: event log is damaged: {problems[0]}")

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self._events)

    @property
    def head(self) -> str:
        return self._events[-1]["hash"] if self._events else self.genesis

    def append(
        self, step: str, event: str, actor: Actor, payload: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "seq": len(self._events) + 1,
            "time": format_time(self._clock()),
            "ceremony": self.ceremony_id,
            "kind": self.kind,
            "step": step,
            "event": event,
            "actor": actor.as_dict(),
            "payload": dict(payload or {}),
            "prev": self.head,
        }
        record["hash"] = event_hash(record)
        append_line(self.path, canonical(record) + b"\n")
        self._events.append(record)
        return record

    def find(self, step: str, event: str = "step") -> dict[str, Any] | None:
        for e in self._events:
            if e["step"] == step and e["event"] == event:
                return e
        return None


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the events of ``path``; a line that is not a JSON object raises InputError."""
    with Path(path).open("rb") as f:
        for n, line in enumerate(f, 1):
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as ex:
                raise InputError(f"{path}: line {n} is not valid JSON") from ex
            if not isinstance(obj, dict):
                raise InputError(f"{path}: line {n} is not an event object")
            yield obj


def check_chain(events: list[dict[str, Any]], genesis: str = GENESIS) -> list[str]:
    """Return one message per broken link; an empty list means the chain is intact.

    :param genesis: what the first event's ``prev`` must be.
    """
    problems: list[str] = []
    prev = genesis
    for i, e in enumerate(events, 1):
        if set(e) != set(FIELDS):
            problems.append(f"event {i}: unexpected fields {sorted(set(e) ^ set(FIELDS))}")
            prev = str(e.get("hash", ""))
            continue
        if e["seq"] != i:
            problems.append(f"event {i}: sequence number is {e['seq']}, expected {i}")
        if e["prev"] != prev:
            problems.append(
                f"event {i}: previous-hash link broken (event removed, inserted or moved)"
            )
        if event_hash(e) != e["hash"]:
            problems.append(f"event {i}: content does not match its hash (event edited)")
        prev = e["hash"]
    return problems
