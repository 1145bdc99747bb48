"""The ceremonies after the root ceremony, from the command line: ``sign-csr``, ``crl``,
``restore``.

A :class:`LaterCeremonies` holds the bundle (locked), the HSM and who answers the
ceremony's questions: the rehearsal's ``rehearsal/`` folder (:meth:`rehearsed`), or the
people at a terminal, from the reviewed ceremony file and a locator like ``ceremony root``
(:meth:`at_terminal`). Before anything else it finishes the closing documents of a
ceremony whose close was interrupted (:meth:`finish_closings`), so the same command run
again completes; the room's attendance is checked before a transcript folder is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ceremony.bundle import CEREMONY_FILE, REHEARSAL, Bundle
from ceremony.errors import InputError
from ceremony.flow.attendance import Attendance
from ceremony.flow.engine import Context, Step
from ceremony.flow.prompts import Prompter, RehearsalPrompter
from ceremony.hsm.module import Hsm


def _root_complete(bundle: Bundle, folder: Path) -> None:
    root = bundle.latest_transcript("root")
    if root is None or bundle.open_transcript("root") is not None:
        raise InputError(f"{folder}: the root ceremony is not complete; run ceremony demo first")


def rehearsal_bundle(folder: Path) -> Bundle:
    """A rehearsal bundle whose root ceremony is complete, locked for this process."""
    bundle = Bundle(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a bundle folder")
    if not bundle.is_rehearsal:
        raise InputError(
            f"{folder}: not a rehearsal bundle (no {REHEARSAL}/); a real bundle's ceremonies run"
            " with --ceremony FILE --locator FILE on a terminal, or in the wizard"
        )
    bundle.lock()
    _root_complete(bundle, folder)
    return bundle


@dataclass
class LaterCeremonies:
    """A bundle's later ceremonies, run one at a time by this process."""

    bundle: Bundle
    hsm: Hsm
    prompter: Prompter
    rehearsal: bool
    absent: Sequence[str] = field(default=())

    @classmethod
    def rehearsed(
        cls, folder: Path, absent: Sequence[str] = (), quiet: bool = True
    ) -> LaterCeremonies:
        """On a rehearsal bundle: its SoftHSM2 token, its ``rehearsal/`` answers."""
        bundle = rehearsal_bundle(folder)
        prompter = RehearsalPrompter(bundle.path(REHEARSAL), quiet=quiet, absent=absent)
        from ceremony.rehearsal import rehearsal_hsm

        return cls(bundle, rehearsal_hsm(bundle), prompter, True, absent)

    @classmethod
    def at_terminal(
        cls, folder: Path, ceremony: Path, locator_file: Path | None, kind: str
    ) -> LaterCeremonies:
        """Ceremony ``kind`` on any bundle ``ceremony root`` made, at this terminal:
        ``ceremony`` must be the bundle's own ceremony file (its digest is printed to be read
        aloud), the locator names the module; the token the ceremony activates must be there
        (a recovery makes a new one). Nothing is written.

        :raises InputError: naming the file, bundle or token and the reason.
        """
        from ceremony import terminal
        from ceremony.config import ceremonyfile, locator
        from ceremony.hsm.module import Hsm

        _, data = ceremonyfile.load(ceremony)
        where = locator.load(locator_file)
        bundle = Bundle(folder)
        if not folder.is_dir() or not bundle.exists(CEREMONY_FILE):
            raise InputError(f"{folder}: not a bundle folder (no {CEREMONY_FILE})")
        if bundle.read(CEREMONY_FILE) != data:
            own = ceremonyfile.file_digest(bundle.read(CEREMONY_FILE))[0]
            raise InputError(
                f"{ceremony}: not the ceremony file of {folder} (its root ceremony ran from the"
                f" file with SHA-256 {own})"
            )
        if where.rehearsal != bundle.is_rehearsal:
            raise InputError(
                f"{locator_file}: says rehearsal = {str(where.rehearsal).lower()}, but {folder}"
                f" is {'a rehearsal' if bundle.is_rehearsal else 'a real'} bundle"
            )
        bundle.lock()
        _root_complete(bundle, folder)
        if where.rehearsal:
            from ceremony.rehearsal import rehearsal_hsm

            hsm = rehearsal_hsm(bundle)
        else:
            home = where.softhsm_home if where.module is None else None
            hsm = Hsm(where.module, softhsm_home=home)
        prompter = terminal.TerminalPrompter(
            cards_to=bundle.path(REHEARSAL) if where.rehearsal else None
        )
        later = cls(bundle, hsm, prompter, where.rehearsal)
        label = later.token_label()
        if kind != "recovery" and not hsm.has_token(label):
            raise InputError(
                f"token {label!r}: not found on {hsm.module_path} (is the HSM connected, and is"
                f" {locator_file} its locator?)"
            )
        terminal.require_terminal(where.rehearsal)
        hexd, words = ceremonyfile.file_digest(data)
        print(f"ceremony file SHA-256 {hexd}\n  {words}\nread it aloud and compare.")
        return later

    def token_label(self) -> str:
        """The token later ceremonies activate: a recovery's, else the root ceremony's."""
        from ceremony.audit import record
        from ceremony.flow.ceremonies import load_definition

        token = record.current_token(record.load(self.bundle.transcripts()))
        if token is not None and token.get("label"):
            return str(token["label"])
        return load_definition(self.bundle).token_label

    def finish_closings(self) -> list[Path]:
        """Finish every interrupted closing (see :func:`ceremony.flow.ceremonies.finish_closings`);
        the folders finished."""
        from ceremony.flow.ceremonies import finish_closings
        from ceremony.flow.documents import CLOSERS
        from ceremony.flow.scripts import resume_context

        return finish_closings(
            self.bundle, self.hsm, self.prompter, self.rehearsal, CLOSERS, resume_context
        )

    def sign_in(self, kind: str) -> Attendance:
        """Who is in the room, checked against what ``kind`` needs; nothing is written."""
        from ceremony.flow import attendance
        from ceremony.flow.ceremonies import load_definition

        definition = load_definition(self.bundle)
        present = self.prompter.sign_in(definition.participants)
        return attendance.check(definition, kind, present)

    def open(self, kind: str, room: Attendance | None = None) -> tuple[Context, Path]:
        """The context of ``kind``; the room's attendance (``room``, else signed in now) is
        checked before the transcript folder is made."""
        from ceremony.flow.ceremonies import open_context

        room = room or self.sign_in(kind)
        ctx, folder = open_context(self.bundle, kind, self.hsm, self.prompter, self.rehearsal)
        ctx.state["present"] = room.present
        return ctx, folder

    def run(self, ctx: Context, folder: Path, steps: Sequence[Step]) -> None:
        from ceremony.flow.ceremonies import run_ceremony
        from ceremony.flow.documents import CLOSERS

        run_ceremony(ctx, folder, steps, CLOSERS)
