"""The step runner shared by every ceremony.

A ceremony is a list of :class:`Step`. The runner skips steps the event log
shows as done, runs the next one, and records its event (fsynced) before
moving on, so a crash resumes at the first unrecorded step. A step that
writes files goes through :meth:`Context.output`: a file left by an
interrupted run (present, but named in no event) is an orphan, reported as
an exception event and replaced, never silently reused.

``CEREMONY_FAULT_INJECT=step:point`` (point: before, action, event) kills
the process at that point; ``step:stop`` stops it there (SIGSTOP) until it
is continued (see :mod:`ceremony.faults`). The crash and lock tests use them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.audit.eventlog import Actor, EventLog
from ceremony.bundle import Bundle
from ceremony.config.ceremonyfile import CeremonyFile, Participant, Role
from ceremony.errors import HsmError, InputError, ShareError
from ceremony.faults import FAULT_ENV, FAULT_EXIT, inject_fault
from ceremony.flow.prompts import CollectedShares, Prompter
from ceremony.hsm.module import Hsm, TokenPins
from ceremony.media.atomic import WrittenFile, sha256_file

if TYPE_CHECKING:
    from ceremony.media.transfer import ExportResult

__all__ = ["FAULT_ENV", "FAULT_EXIT", "Context", "Step", "inject_fault", "run_all", "run_step"]


@dataclass
class Context:
    """Everything a step may use. Secrets live only in memory here."""

    bundle: Bundle
    log: EventLog
    prompter: Prompter
    definition: CeremonyFile
    rehearsal: bool
    hsm: Hsm
    pins: TokenPins | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def token_label(self) -> str:
        """The token this ceremony works on (a recovery may restore into another one)."""
        return str(self.state.get("token_label", self.definition.token_label))

    def actor(self, role: Role = Role.ADMINISTRATOR) -> Actor:
        p = self.definition.by_role(role)
        return Actor(p.name, p.role.value)

    def recorded_outputs(self) -> set[str]:
        """Every path an event of this bundle names as an output (this ceremony's and every
        earlier one's)."""
        return self.bundle.recorded_outputs()

    def output(self, rel: str, data: bytes, mode: int = 0o644) -> dict[str, Any]:
        """Write a new bundle file; an orphan from an interrupted run is replaced on record.

        :raises InputError: ``rel`` is a recorded output: files are never overwritten.
        """
        if self.bundle.exists(rel):
            if rel in self.recorded_outputs():
                raise InputError(f"{self.bundle.path(rel)}: already exists; never overwritten")
            digest = sha256_file(self.bundle.path(rel))
            self.exception(
                f"file {rel} (sha256 {digest}) was left by an interrupted step"
                " and named in no event",
                "the file was removed and the step run again",
            )
            self.bundle.path(rel).unlink()
        written = self.bundle.write(rel, data, mode)
        return describe(written, rel)

    def export(self, media: Path, folder: str, files: Mapping[str, bytes]) -> ExportResult:
        """Write ``files`` into the new folder ``folder`` on ``media``; a complete folder left by
        an interrupted run of this step is read back and kept, on record."""
        from ceremony.media.transfer import resume_export

        result, kept = resume_export(media, folder, files)
        if kept:
            self.exception(
                f"export folder {result.folder} was written by an interrupted step and named"
                " in no event",
                "every file was read back from the media and matches; the folder was kept",
            )
        return result

    def exception(self, description: str, remediation: str, actor: Actor | None = None) -> None:
        """Record an exception now; before the log's first event, just after it."""
        if not self.log.events:
            self.state.setdefault("pending_exceptions", []).append(
                (description, remediation, actor)
            )
            return
        self.log.append(
            "exception",
            "exception",
            actor or self.actor(Role.WITNESS),
            {"description": description, "remediation": remediation},
        )

    def flush_exceptions(self) -> None:
        for description, remediation, actor in self.state.pop("pending_exceptions", []):
            self.exception(description, remediation, actor)

    def user_pin(self) -> str:
        return self._pins().user_pin

    def so_pin(self) -> str:
        return self._pins().so_pin

    def pin_pair(self) -> tuple[str, str]:
        """(SO PIN, user PIN) of the ceremony's token."""
        pins = self._pins()
        return pins.so_pin, pins.user_pin

    def _pins(self) -> TokenPins:
        if self.pins is None and self.definition.protected_authentication_path:
            self.pins = TokenPins.pin_pad()  # the token's PIN pad asks; no shares exist
        if self.pins is None:
            from ceremony.flow.quorum import recover_pins

            q = self.definition.activation
            self.prompter.progress("activation", f"{q.threshold} of {q.shares} custodians activate")
            shares = self.collect_shares("activation", q.threshold)
            pins = recover_pins(shares.mnemonics, self.hsm.pin_format(self.token_label))
            try:
                with self.hsm.session(self.token_label, pins.user_pin):
                    pass
            except HsmError as ex:
                raise ShareError(
                    f"activation shares: token {self.token_label!r} refuses the PIN they rebuild"
                    " (shares of another token?)"
                ) from ex
            self.pins = pins
        return self.pins

    @property
    def custodians(self) -> tuple[Participant, ...]:
        return self.definition.custodians

    @property
    def present_custodians(self) -> tuple[Participant, ...]:
        """The custodians signed in as present (all of them until the sign-in is recorded)."""
        present = self.state.get("present")
        if present is None:
            return self.definition.custodians
        return tuple(c for c in self.definition.custodians if c.name in present)

    def collect_shares(self, purpose: str, threshold: int) -> CollectedShares:
        """Shares of ``purpose`` from the custodians present; the step records who gave them."""
        shares = self.prompter.collect_shares(purpose, threshold, self.present_custodians)
        presented: list[str] = self.state.setdefault("presented_by", [])
        presented += [n for n in shares.presented_by if n not in presented]
        return shares


def describe(written: WrittenFile, rel: str) -> dict[str, Any]:
    return {"path": rel, "sha256": written.sha256, "size": written.size}


@dataclass(frozen=True)
class Step:
    """One step of a ceremony script.

    ``commit`` marks an irreversible step (the GUI shows it as a commit page).
    ``run`` returns the event payload: ``activity`` text, ``inputs``/``outputs``
    lists of {path, sha256, size}, and step facts. It must not contain secrets.
    """

    name: str
    activity: str
    run: Callable[[Context], Mapping[str, Any]]
    role: Role = Role.ADMINISTRATOR
    commit: bool = False
    preview: Callable[[Context], Any] | None = None
    """What the step will sign, before it runs: the certificate or CRL built from the very
    TBS the step lints and signs, signed by a throwaway key (never recorded as signed)."""
    native_activity: str = ""
    """The activity where the ceremony file's backup method is hsm-native (if it differs)."""

    def activity_for(self, definition: CeremonyFile) -> str:
        """What the step does under ``definition`` (its backup method may change it)."""
        if self.native_activity and definition.native_backup is not None:
            return self.native_activity
        return self.activity


def run_step(ctx: Context, step: Step) -> dict[str, Any]:
    inject_fault(step.name, "before")
    activity = step.activity_for(ctx.definition)
    ctx.prompter.progress(step.name, activity)
    ctx.state["presented_by"] = []
    payload = dict(step.run(ctx))
    if ctx.state["presented_by"]:
        payload.setdefault("presented_by", list(ctx.state["presented_by"]))
    payload.setdefault("activity", activity)
    payload.setdefault("result", "done")
    inject_fault(step.name, "action")
    event = ctx.log.append(step.name, "step", ctx.actor(step.role), payload)
    ctx.flush_exceptions()
    inject_fault(step.name, "event")
    return event


def run_all(ctx: Context, steps: Sequence[Step]) -> None:
    for step in steps:
        if ctx.log.find(step.name) is None:
            run_step(ctx, step)
