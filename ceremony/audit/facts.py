"""The evidence an auditor asks of every ceremony, read from its events.

One place reads them, for the transcript that prints them and for ``verify``
that checks them: the HSM and its PKCS#11 library, the software installation,
who attended and who did not, who presented shares, the auditor and the
recording reference, the tamper-evident bag of every share card, and for a
recovery the new token and what became of the old one. (IANA's ceremony
scripts and the CA/B Forum BR 6.1.1.1 key-generation report are the model.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FATES = {
    "destroyed": "destroyed in the room",
    "kept": "kept (stored as the ceremony file's procedures say)",
    "lost": "lost: its keys must be treated as compromised",
}
"""What may have happened to the token a recovery replaces, as the transcript says it."""


def _payload(event: Mapping[str, Any]) -> Mapping[str, Any]:
    p = event.get("payload")
    return p if isinstance(p, Mapping) else {}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Presented:
    """Shares presented for one step, by whom."""

    seq: int
    step: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Bags:
    """The tamper-evident bag serial of each card handed out by one step."""

    step: str
    purpose: str
    serials: Mapping[str, str] | None
    """Custodian name -> bag serial; ``None`` when the prompter did not ask."""


@dataclass(frozen=True)
class CeremonyFacts:
    participants: tuple[tuple[str, str], ...] = ()
    """(name, role) of everyone in the ceremony file."""
    present: tuple[str, ...] | None = None
    absent: tuple[str, ...] | None = None
    software: Mapping[str, Any] | None = None
    library: Mapping[str, Any] | None = None
    """The PKCS#11 library: path, resolved path, SHA-256."""
    token: Mapping[str, Any] | None = None
    """The token the ceremony worked on (as preflight or token.init found it)."""
    recording: str | None = None
    presented: tuple[Presented, ...] = ()
    bags: tuple[Bags, ...] = ()
    new_token: Mapping[str, Any] | None = None
    """A recovery's new token (label, serial, ...)."""
    old_token: Mapping[str, Any] | None = None
    """A recovery's old token: label, serial, fate."""
    old_signer: Mapping[str, Any] | None = None
    """A recovery's replaced transcript signer: its certificate and its successor's."""
    key_attributes: tuple[tuple[str, Mapping[str, Any]], ...] = field(default=())
    """(what, attributes) of every key whose attributes a step read back."""

    @property
    def auditors(self) -> tuple[str, ...]:
        return tuple(n for n, r in self.participants if r == "auditor")

    @property
    def roles(self) -> dict[str, str]:
        return dict(self.participants)


_KEY_WHEN = {
    "root.key": "root key after its generation",
    "root.seal": "root key after its proven backup",
    "recovery.unwrap": "root key after its restore",
    "signer.key": "transcript-signing key after its generation",
    "signer.replace": "new transcript-signing key after its generation",
}


def ceremony_facts(events: Sequence[Mapping[str, Any]]) -> CeremonyFacts:
    opened = next((e for e in events if e.get("step") == "ceremony.open"), None)
    pre = next((e for e in events if e.get("step") == "preflight"), None)
    op = _payload(opened) if opened is not None else {}
    pp = _payload(pre) if pre is not None else {}
    attendance = op.get("attendance") if isinstance(op.get("attendance"), Mapping) else None
    participants = tuple(
        (str(p.get("name", "")), str(p.get("role", "")))
        for p in op.get("participants", [])
        if isinstance(p, Mapping)
    )
    token = pp.get("token") if isinstance(pp.get("token"), Mapping) else None
    presented, bags, keys = [], [], []
    new_token = old_token = old_signer = None
    for e in events:
        payload = _payload(e)
        step = str(e.get("step", ""))
        if "presented_by" in payload:
            presented.append(
                Presented(int(e.get("seq", 0)), step, _strings(payload["presented_by"]))
            )
        if "bag_serials" in payload:
            serials = payload["bag_serials"]
            purpose = "recovery" if step == "backup.create" else "activation"
            bags.append(
                Bags(step, purpose, dict(serials) if isinstance(serials, Mapping) else None)
            )
        if step == "token.init" and isinstance(payload.get("token"), Mapping):
            token = token or payload["token"]
            if e.get("kind") == "recovery":
                new_token = payload["token"]
        if step == "recovery.old-token" and isinstance(payload.get("old_token"), Mapping):
            old_token = payload["old_token"]
            if isinstance(payload.get("old_signer"), Mapping):
                old_signer = payload["old_signer"]
        key = payload.get("key")
        if isinstance(key, Mapping) and isinstance(key.get("attributes"), Mapping):
            what = _KEY_WHEN.get(step, f"key after {step}")
            keys.append((f"{what} ({key.get('label')})", key["attributes"]))
    recording = op.get("recording")
    return CeremonyFacts(
        participants=participants,
        present=_strings(attendance.get("present")) if attendance is not None else None,
        absent=_strings(attendance.get("absent")) if attendance is not None else None,
        software=op.get("software") if isinstance(op.get("software"), Mapping) else None,
        library=pp.get("library") if isinstance(pp.get("library"), Mapping) else None,
        token=token,
        recording=str(recording) if recording else None,
        presented=tuple(presented),
        bags=tuple(bags),
        new_token=new_token,
        old_token=old_token,
        old_signer=old_signer,
        key_attributes=tuple(keys),
    )


def problems(
    events: Sequence[Mapping[str, Any]], threshold: int | None, real: bool = False
) -> list[str]:
    """What the record's evidence facts contradict or leave out, one line each.

    :param threshold: activation shares a later ceremony needs (M), when known.
    :param real: not a rehearsal: a recovery must say what became of the old token.
    """
    f = ceremony_facts(events)
    out: list[str] = []
    if real and f.new_token is not None and (f.old_token or {}).get("fate") not in FATES:
        out.append("the recovery does not record what became of the token it replaces")
    if f.software is None:
        out.append("the opening event records no software identity")
    if f.library is None:
        out.append("the preflight records no PKCS#11 library identity")
    if f.present is None or f.absent is None:
        out.append("the opening event records no attendance")
        return out
    names = [n for n, _r in f.participants]
    if sorted([*f.present, *f.absent]) != sorted(names) or set(f.present) & set(f.absent):
        out.append("attendance: present and absent do not split the participants exactly")
    present = set(f.present)
    roles = f.roles
    for e in events:
        actor = e.get("actor")
        name = actor.get("name") if isinstance(actor, Mapping) else None
        if name is not None and name not in present:
            out.append(f"event {e.get('seq')}: {name} acted but was not signed in as present")
    for p in f.presented:
        for name in p.names:
            if name not in present or roles.get(name) != "custodian":
                out.append(
                    f"event {p.seq} ({p.step}): shares presented by {name}, not a custodian"
                    " signed in as present"
                )
        if len(set(p.names)) != len(p.names):
            out.append(f"event {p.seq} ({p.step}): one custodian presented two shares")
        if threshold is not None and p.step == "activation" and len(p.names) < threshold:
            out.append(
                f"event {p.seq} (activation): {len(p.names)} custodians presented shares,"
                f" the quorum needs {threshold}"
            )
    for b in f.bags:
        if b.serials is not None:
            unknown = [n for n in b.serials if roles.get(n) != "custodian"]
            if unknown:
                out.append(f"{b.step}: bag serials for {', '.join(unknown)}, not custodians")
    return out
