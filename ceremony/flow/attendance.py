"""Who must be in the room: a ceremony proceeds with the people its quorum needs.

Every ceremony needs its administrator and its witness. The root ceremony
hands a share to every custodian, so all N must be present; every later
ceremony needs only the M custodians its shares need (activation, or the
recovery set for a recovery), and records who was absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ceremony.config.ceremonyfile import CeremonyFile, Participant, Role
from ceremony.errors import InputError, PolicyError

ALWAYS = (Role.ADMINISTRATOR, Role.WITNESS)
"""Roles every ceremony needs in the room."""


@dataclass(frozen=True)
class Need:
    """What a ceremony kind needs in the room."""

    roles: tuple[Role, ...]
    custodians: int
    """Custodians needed at the fewest."""
    of: int
    """Custodians in the ceremony file."""
    why: str
    """Why that many custodians, in the words the sign-in page shows."""


def need(definition: CeremonyFile, kind: str) -> Need:
    """The people ceremony ``kind`` cannot proceed without."""
    n = len(definition.custodians)
    if kind == "root":
        return Need(ALWAYS, n, n, "the root ceremony hands a share to every custodian")
    if kind == "recovery":
        m = max(definition.backup.threshold, definition.activation.threshold)
        return Need(ALWAYS, m, n, f"{m} recovery shares rebuild the root key")
    m = definition.activation.threshold
    return Need(ALWAYS, m, n, f"{m} activation shares unlock the root key")


@dataclass(frozen=True)
class Attendance:
    """Who signed in as present, and who did not; names as in the ceremony file."""

    present: tuple[str, ...]
    absent: tuple[str, ...]

    def payload(self) -> dict[str, Any]:
        return {"present": list(self.present), "absent": list(self.absent)}

    def custodians(self, definition: CeremonyFile) -> tuple[Participant, ...]:
        """The custodians in the room, in the ceremony file's order."""
        return tuple(c for c in definition.custodians if c.name in self.present)


def shortfall(definition: CeremonyFile, kind: str, present: Iterable[str]) -> str | None:
    """Why the room may not proceed with ``present``, in one line; None when it may."""
    here = set(present)
    unknown = sorted(here - {p.name for p in definition.participants})
    if unknown:
        return f"sign-in: {', '.join(unknown)} not in the ceremony file"
    n = need(definition, kind)
    missing = [
        definition.by_role(role).name
        for role in n.roles
        if definition.by_role(role).name not in here
    ]
    if missing:
        roles = [r.value for r in n.roles if definition.by_role(r).name in missing]
        return f"sign-in: {' and '.join(missing)} ({', '.join(roles)}) must be present"
    custodians = sum(1 for c in definition.custodians if c.name in here)
    if custodians < n.custodians:
        return (
            f"sign-in: {custodians} of {n.of} custodians present; this ceremony needs"
            f" {n.custodians}: {n.why}"
        )
    return None


def check(definition: CeremonyFile, kind: str, present: Sequence[str]) -> Attendance:
    """The attendance of ``present``, in the ceremony file's order.

    :raises PolicyError: the room lacks a role or custodians the ceremony needs.
    :raises InputError: a name is not in the ceremony file.
    """
    problem = shortfall(definition, kind, present)
    if problem is not None:
        known = {p.name for p in definition.participants}
        raise (InputError if set(present) - known else PolicyError)(problem)
    here = set(present)
    names = [p.name for p in definition.participants]
    return Attendance(
        tuple(n for n in names if n in here), tuple(n for n in names if n not in here)
    )
