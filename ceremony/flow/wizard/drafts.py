"""The ceremony file the room signs in to: the bundle's own, a reviewed one, or a rehearsal's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ceremony.bundle import CEREMONY_FILE, Bundle
from ceremony.config import ceremonyfile
from ceremony.config.ceremonyfile import CeremonyFile, Participant
from ceremony.errors import InputError
from ceremony.flow.wizard.navigation import Choices
from ceremony.flow.wizard.plans import CeremonyPlan
from ceremony.hsm.keys import KeyAlgorithm


def rehearsal_draft(
    key: KeyAlgorithm = KeyAlgorithm.ECDSA_P384, threshold: int = 3, shares: int = 5
) -> CeremonyFile:
    """The ceremony file a new rehearsal starts from (``ceremony demo``'s)."""
    return ceremonyfile.rehearsal_definition(key, threshold, shares)


def replace_participants(cf: CeremonyFile, names: Sequence[str]) -> CeremonyFile:
    """``cf`` with its participants renamed in order, roles kept (rehearsal sign-in).

    :raises InputError: a name is empty, too long or given twice.
    """
    if len(names) != len(cf.participants):
        raise ValueError(f"names: {len(names)} given for {len(cf.participants)} participants")
    people = tuple(
        Participant(n.strip(), p.role) for n, p in zip(names, cf.participants, strict=True)
    )
    return replace(cf, participants=people)


def definition_digest(data: bytes) -> tuple[str, str]:
    """SHA-256 of a ceremony file as hex and PGP words, read aloud at sign-in."""
    return ceremonyfile.file_digest(data)


@dataclass(frozen=True)
class Draft:
    """The ceremony file the room signs in to: its exact bytes and where they come from."""

    definition: CeremonyFile
    data: bytes
    source: str
    editable: bool
    """A new rehearsal: participants' names may be typed at sign-in."""
    new: bool
    """The bundle does not hold it yet: the sign-in writes it."""

    @property
    def digest(self) -> tuple[str, str]:
        return definition_digest(self.data)

    def renamed(self, names: Sequence[str]) -> Draft:
        """The draft with the participants renamed (a new rehearsal only).

        :raises InputError: a name is empty, too long or given twice.
        """
        if not self.editable:
            raise InputError(f"{self.source}: the participants come from the reviewed file")
        cf = replace_participants(self.definition, names)
        return replace(self, definition=cf, data=ceremonyfile.render(cf))


def draft_for(data: Choices, plan: CeremonyPlan) -> Draft:
    """The ceremony file for the chosen bundle: the bundle's own, a reviewed file, or a
    new rehearsal's.

    :raises InputError: the file is missing, malformed, or of another kind.
    """
    if data.bundle is None:
        raise InputError("no bundle folder chosen")
    bundle = Bundle(data.bundle)
    if bundle.exists(CEREMONY_FILE):
        raw = bundle.read(CEREMONY_FILE)
        cf = ceremonyfile.parse(raw, str(bundle.path(CEREMONY_FILE)))
        return Draft(cf, raw, str(bundle.path(CEREMONY_FILE)), editable=False, new=False)
    if not plan.creates_bundle:
        raise InputError(f"{data.bundle}: holds no ceremony file")
    if data.rehearsal:
        cf = rehearsal_draft(data.key, data.threshold, data.shares)
        return Draft(
            cf, ceremonyfile.render(cf), "new rehearsal ceremony file", editable=True, new=True
        )
    if data.definition_file is None:
        raise InputError("a real ceremony needs the reviewed ceremony file")
    cf, raw = ceremonyfile.load(data.definition_file)
    if cf.kind.value != plan.kind:
        raise InputError(
            f"{data.definition_file}: ceremony kind {cf.kind.value!r}, expected {plan.kind!r}"
        )
    return Draft(cf, raw, str(data.definition_file), editable=False, new=True)
