"""What the bundle's event logs say, read as one record: ceremonies in order,
the transcript signers they certified, the CRLs they issued, the head.

Both sides use it: the flow (to open the next ceremony on the chain and to
print the head on a transcript) and ``verify`` (to decide which signer may
have signed which document). It interprets events; checking them is
``verify``'s job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ceremony.audit.eventlog import GENESIS

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
SIGNER_STEPS = ("signer.certificate", "signer.replace")
"""Steps that certify a transcript signer: in the root and recovery ceremonies, and in a
CRL ceremony that revokes the current one."""
CRL_STEP = "crl.issue"
TOKEN_STEP = "token.init"


def parse_time(text: object) -> datetime | None:
    try:
        return datetime.strptime(str(text), TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_log(data: bytes) -> list[dict[str, Any]] | str:
    """The events of an ``events.jsonl``, or the one-line reason it is not one."""
    events: list[dict[str, Any]] = []
    for n, line in enumerate(data.splitlines(), 1):
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return f"line {n} is not valid JSON"
        if not isinstance(obj, dict):
            return f"line {n} is not an event object"
        events.append(obj)
    return events


def _payload(event: Mapping[str, Any]) -> Mapping[str, Any]:
    p = event.get("payload")
    return p if isinstance(p, Mapping) else {}


def _items(event: Mapping[str, Any], direction: str) -> list[Mapping[str, Any]]:
    items = _payload(event).get(direction)
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


@dataclass(frozen=True)
class Ceremony:
    """One transcript folder and its events."""

    number: int
    kind: str
    folder: str
    """Bundle path of the folder, ``transcripts/NNN-kind``."""
    events: tuple[Mapping[str, Any], ...]

    @property
    def name(self) -> str:
        return self.folder.rsplit("/", 1)[-1]

    @property
    def ceremony_id(self) -> str:
        return str(self.events[0].get("ceremony", "")) if self.events else ""

    @property
    def closed(self) -> bool:
        return bool(self.events) and self.events[-1].get("step") == "ceremony.close"

    @property
    def final_hash(self) -> str:
        return str(self.events[-1].get("hash", "")) if self.events else GENESIS

    @property
    def close_time(self) -> datetime | None:
        return parse_time(self.events[-1].get("time")) if self.events else None

    @property
    def rehearsal(self) -> bool:
        opened = self.first("ceremony.open")
        return bool(opened is not None and _payload(opened).get("rehearsal") is True)

    def steps(self, step: str) -> list[Mapping[str, Any]]:
        return [e for e in self.events if e.get("step") == step and e.get("event") == "step"]

    def first(self, step: str) -> Mapping[str, Any] | None:
        found = self.steps(step)
        return found[0] if found else None

    def outputs(self) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        """(event, item) of every output file the ceremony recorded."""
        return [(e, item) for e in self.events for item in _items(e, "outputs")]

    def inputs(self) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        return [(e, item) for e in self.events for item in _items(e, "inputs")]


@dataclass(frozen=True)
class Signer:
    """A transcript-signing certificate a ceremony recorded as its output."""

    ceremony: int
    """Number of the ceremony that certified it."""
    path: str
    fingerprint: str
    """SHA-256 of the certificate (DER), lowercase hex."""
    serial: str
    """Serial number as the bundle writes it (see :func:`ceremony.audit.x509text.serial_text`)."""


def signers(ceremonies: Iterable[Ceremony]) -> list[Signer]:
    out = []
    for c in ceremonies:
        for e in c.events:
            if e.get("step") not in SIGNER_STEPS or e.get("event") != "step":
                continue
            cert = _payload(e).get("certificate")
            outputs = _items(e, "outputs")
            if isinstance(cert, Mapping) and outputs:
                out.append(
                    Signer(
                        c.number,
                        str(outputs[0].get("path", "")),
                        str(cert.get("sha256_fingerprint", "")).lower(),
                        str(cert.get("serial", "")),
                    )
                )
    return out


def current_signer(ceremonies: Iterable[Ceremony], number: int) -> Signer | None:
    """The transcript signer of ceremony ``number``: the newest certified up to it."""
    found = [s for s in signers(ceremonies) if s.ceremony <= number]
    return found[-1] if found else None


def recorded_crls(
    ceremonies: Iterable[Ceremony], number: int | None = None
) -> list[tuple[int, str]]:
    """(ceremony number, bundle path) of every CRL issued by ceremonies up to ``number``."""
    out = []
    for c in ceremonies:
        if number is not None and c.number > number:
            continue
        for e in c.steps(CRL_STEP):
            for item in _items(e, "outputs"):
                path = str(item.get("path", ""))
                if path.endswith(".crl"):
                    out.append((c.number, path))
    return out


def signer_event(ceremonies: Iterable[Ceremony]) -> Mapping[str, Any] | None:
    """The event that certified the current transcript signer (with its ``key``)."""
    found = None
    for c in ceremonies:
        for e in c.events:
            if e.get("step") in SIGNER_STEPS and isinstance(
                _payload(e).get("certificate"), Mapping
            ):
                found = e
    return found


def current_token(ceremonies: Iterable[Ceremony]) -> Mapping[str, Any] | None:
    """The token the bundle's ceremonies work on: the newest one initialized."""
    found = None
    for c in ceremonies:
        for e in c.steps(TOKEN_STEP):
            token = _payload(e).get("token")
            if isinstance(token, Mapping):
                found = token
    return found


def load(folders: Iterable[Path]) -> list[Ceremony]:
    """The ceremonies of transcript folders the flow wrote (bundle order); for the flow,
    which trusts its own files. An unreadable log raises like
    :func:`ceremony.audit.eventlog.read_events`."""
    from ceremony.audit.eventlog import read_events

    out = []
    for folder in folders:
        log = folder / "events.jsonl"
        events = tuple(read_events(log)) if log.exists() else ()
        out.append(
            Ceremony(int(folder.name[:3]), folder.name[4:], f"transcripts/{folder.name}", events)
        )
    return out


@dataclass(frozen=True)
class Head:
    """What an auditor keeps out of band: where the bundle's chain ends."""

    ceremonies: int
    final_hash: str
    root_fingerprint: str
    """SHA-256 of the root certificate (DER), lowercase hex."""

    def lines(self) -> list[str]:
        from ceremony.pgpwords import words

        return [
            f"head: {self.ceremonies} ceremonies, final event hash {self.final_hash}",
            f"  {_words(self.final_hash, words)}",
            f"root certificate SHA-256 fingerprint {self.root_fingerprint}",
            f"  {_words(self.root_fingerprint, words)}",
        ]


def _words(hex_text: str, words: Any) -> str:
    try:
        return str(words(bytes.fromhex(hex_text)))
    except ValueError:
        return "(not hex)"
