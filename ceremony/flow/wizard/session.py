"""One ceremony as the wizard runs it: bundle, HSM, event log, one step at a time.

:class:`CeremonySession` is what the pages call: it creates the bundle, loads
the PKCS#11 module, opens the event log and runs one step at a time. It is
called from one worker thread; the flow asks its questions through the
:class:`ceremony.flow.prompts.Prompter` the wizard gives it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ceremony import software
from ceremony.audit.eventlog import Actor
from ceremony.bundle import CEREMONY_FILE, REHEARSAL, Bundle
from ceremony.config.ceremonyfile import CeremonyFile, Participant, Role
from ceremony.errors import CeremonyError, InputError
from ceremony.flow import attendance, preflight
from ceremony.flow.ceremonies import close_ceremony, load_definition, open_context, start_bundle
from ceremony.flow.engine import Context, Step, run_step
from ceremony.flow.prompts import Prompter
from ceremony.flow.wizard.navigation import OWNED_STEPS
from ceremony.flow.wizard.plans import CeremonyPlan
from ceremony.flow.wizard.preflight import (
    SYS_NET,
    HsmReport,
    PreflightReport,
    TokenFacts,
    software_words,
)
from ceremony.flow.wizard.review import Preview, StepResult, flatten, preview_of, step_result
from ceremony.hsm.module import Hsm, default_module_path


@dataclass(frozen=True)
class NotedException:
    description: str
    remediation: str
    actor: Actor


@dataclass
class CeremonySession:
    """One ceremony as the wizard runs it: bundle, HSM, event log, one step at a time.

    Every method may block (files, HSM); the GUI calls them from its worker
    thread, one at a time. Exceptions the witness notes before the event log
    is open are kept and recorded as soon as it opens.
    """

    plan: CeremonyPlan
    rehearsal: bool
    folder: Path
    prompter: Prompter
    sys_net: Path = SYS_NET
    module_path: str | None = None
    bundle: Bundle | None = None
    definition: CeremonyFile | None = None
    hsm: Hsm | None = None
    ctx: Context | None = None
    transcript: Path | None = None
    state: dict[str, Any] = field(default_factory=dict)
    """Ceremony input the flow reads from ``Context.state`` (a CSR, a revocation)."""
    _noted: list[NotedException] = field(default_factory=list)

    # -- before the log opens

    def prepare_bundle(self, definition: bytes | None = None) -> CeremonyFile:
        """Create the bundle with ``definition`` (new root ceremony), or read its ceremony file.

        A new rehearsal on the embedded SoftHSM2 is validated whole first (as ``ceremony
        demo`` is): a refusal, such as a root key type SoftHSM2 cannot wrap for the backup,
        comes before the bundle folder exists.
        """
        if definition is not None:
            if self.rehearsal and self.module_path is None:
                from ceremony.config import ceremonyfile
                from ceremony.flow import validate

                validate.root_ceremony(
                    ceremonyfile.parse(definition, str(self.folder / CEREMONY_FILE)), True
                )
            bundle = start_bundle(self.folder, definition)
        else:
            bundle = Bundle(self.folder)
            if not bundle.exists(CEREMONY_FILE):
                raise InputError(f"{self.folder}: holds no ceremony file")
        if self.rehearsal:
            bundle.path(REHEARSAL).mkdir(exist_ok=True)
        self.bundle = bundle
        self.definition = load_definition(bundle)
        return self.definition

    def detect_hsm(self, module_path: str | None = None) -> HsmReport:
        """Load the PKCS#11 module (SoftHSM2 in ``rehearsal/`` for a rehearsal); list tokens."""
        if module_path is not None:
            self.module_path = module_path or None
        try:
            path = self.module_path or default_module_path()
        except CeremonyError as ex:
            return HsmReport("(default)", problem=ex.message)
        home = self.bundle.path(REHEARSAL) if self.rehearsal and self.bundle else None
        try:
            hsm = Hsm(path, softhsm_home=home)
            tokens = tuple(
                TokenFacts(label, _token_rows(hsm.info(label).as_dict())) for label in hsm.labels()
            )
        except CeremonyError as ex:
            self.hsm = None
            return HsmReport(path, problem=ex.message)
        self.hsm = hsm
        return HsmReport(path, hsm.description, tokens)

    def check_recovery_target(self, label: str, old_token_fate: str | None = None) -> list[str]:
        """Check the new token's label before anyone types a share; the labels present.
        ``old_token_fate`` (destroyed, kept, lost) is recorded when the recovery closes.

        :raises InputError: the label breaks the token label rules, or a token has it already.
        """
        from ceremony import text
        from ceremony.audit.facts import FATES

        text.check_token_label(label, "new token label")
        if old_token_fate is not None and old_token_fate not in FATES:
            raise InputError(f"old token: {old_token_fate!r} is not one of {', '.join(FATES)}")
        if self.bundle is None:
            self.bundle = Bundle(self.folder)
            if self.bundle.exists(CEREMONY_FILE):
                self.definition = load_definition(self.bundle)
        report = self.detect_hsm()
        if self.hsm is None:
            raise InputError(report.problem or "the HSM could not be loaded")
        labels = self.hsm.labels()
        if self.hsm.has_token(label):
            raise InputError(
                f"new token label {label!r}: a token with that label exists already;"
                " recover into a new label"
            )
        self.state["token_label"] = label
        if old_token_fate is not None:
            self.state["old_token_fate"] = old_token_fate
        return labels

    def preflight_report(self, module_path: str | None = None) -> PreflightReport:
        interfaces = tuple(preflight.interfaces(self.sys_net))
        up = tuple(i.name for i in interfaces if i.up and not i.loopback)
        digest, words = software_words()
        return PreflightReport(
            interfaces=interfaces,
            network_up=up,
            rehearsal=self.rehearsal,
            software_version=software.version(),
            software_hash=digest,
            software_words=words,
            hsm=self.detect_hsm(module_path),
        )

    # -- the log

    def open(self, present: Sequence[str]) -> list[dict[str, Any]]:
        """Open (or reopen) the ceremony log and run its opening steps.

        A new ceremony records ``ceremony.open`` and ``preflight``; a resumed
        one records who is present now and at which step it continues.
        """
        if self.bundle is None or self.hsm is None or self.definition is None:
            raise InputError("the bundle and the HSM must be ready before the ceremony opens")
        room = attendance.check(self.definition, self.plan.kind, present)
        if self.ctx is None:
            ctx, folder = open_context(
                self.bundle, self.plan.kind, self.hsm, self.prompter, self.rehearsal
            )
            ctx.state.update(self.state)
            ctx.state["sys_net"] = self.sys_net
            self.ctx, self.transcript = ctx, folder
            if ctx.log.events:
                self._note_resume(room)
        else:
            self.ctx.hsm = self.hsm
        self.ctx.state["present"] = room.present
        self._flush_noted()
        events = []
        for name in OWNED_STEPS:
            if self._has_step(name) and self.ctx.log.find(name) is None:
                events.append(self.run(name))
        return events

    def _note_resume(self, room: attendance.Attendance) -> None:
        ctx = self._context()
        done = [e["step"] for e in ctx.log.events if e["event"] == "step"]
        absent = f"; absent: {', '.join(room.absent)}" if room.absent else ""
        ctx.exception(
            f"the ceremony was interrupted after step {done[-1] if done else '(none)'}; "
            f"resumed with {', '.join(room.present)} present{absent}",
            "the ceremony continues at its last commit point; recorded steps are not repeated",
            ctx.actor(Role.ADMINISTRATOR),
        )

    def _has_step(self, name: str) -> bool:
        return any(s.name == name for s in self.plan.steps())

    def done_steps(self) -> frozenset[str]:
        if self.ctx is None:
            return frozenset()
        return frozenset(e["step"] for e in self.ctx.log.events if e["event"] == "step")

    def run(self, name: str) -> dict[str, Any]:
        """Run step ``name`` (recorded before this returns); its event."""
        ctx = self._context()
        step = self.plan.step(name)
        recorded = ctx.log.find(name)
        if recorded is not None:
            return recorded
        had_pins = ctx.pins is not None
        try:
            return run_step(ctx, step)
        except BaseException:
            if not had_pins:
                ctx.pins = None  # a wrong or aborted activation is asked again on retry
            raise

    def preview(self, name: str) -> Preview | None:
        """What step ``name`` will sign, field by field, from the TBS it will lint and sign;
        None for a step that signs nothing. May ask for activation shares first."""
        step = self.plan.step(name)
        if step.preview is None:
            return None
        return preview_of(step.preview(self._context()))

    def expected_set(self, purpose: str) -> str | None:
        """The recorded share set (``id 01234``) that ``purpose`` shares must belong to."""
        ctx = self.ctx
        if ctx is None:
            return None
        try:
            if purpose == "activation":
                from ceremony.flow.root import newest_step

                event = newest_step(ctx, "token.init")
                return str(event["payload"]["activation"]["set_id"])
            if purpose == "recovery":
                from ceremony.flow.backup import BackupFacts

                return str(BackupFacts.load(ctx.bundle).set_id)
        except (CeremonyError, KeyError, TypeError, ValueError):
            return None
        return None

    def result(self, event: Mapping[str, Any]) -> StepResult:
        if self.bundle is None:
            raise InputError("no bundle")
        return step_result(self.bundle, event)

    def note_exception(self, description: str, remediation: str, by: str | None = None) -> bool:
        """Record a deviation the witness noted; False when kept until the log opens."""
        if not description.strip():
            raise InputError("exception: a description is required")
        actor = self._actor(by)
        noted = NotedException(
            " ".join(description.split()), " ".join(remediation.split()) or "(none given)", actor
        )
        self._noted.append(noted)
        if self.ctx is None:
            return False
        self._flush_noted()
        return True

    def _actor(self, name: str | None) -> Actor:
        people = self.definition.participants if self.definition else ()
        for p in people:
            if p.name == name:
                return Actor(p.name, p.role.value)
        if self.definition is not None:
            w = self.definition.by_role(Role.WITNESS)
            return Actor(w.name, w.role.value)
        return Actor(name or "witness", Role.WITNESS.value)

    def _flush_noted(self) -> None:
        ctx = self._context()
        names = {p.name for p in ctx.definition.participants}
        while self._noted:
            n = self._noted.pop(0)
            # noted before the ceremony file named anyone: the witness records it
            actor = n.actor if n.actor.name in names else self._actor(None)
            ctx.exception(n.description, n.remediation, actor)

    def finish(self) -> None:
        """After the last step: the plan's closers, then the manifest; the bundle unlocked."""
        ctx = self._context()
        if self.transcript is None:
            raise InputError("no transcript folder")
        close_ceremony(ctx, self.transcript, self.plan.closers())

    def close_as_aborted(self, reason: str, by: str | None = None) -> dict[str, Any]:
        """Stop the ceremony for good: the reason recorded, the log closed, the record signed.

        :raises InputError: no reason, or nothing can sign the record yet (nothing recorded).
        """
        from ceremony.flow.abort import close_as_aborted

        ctx = self._context()
        if self.transcript is None:
            raise InputError("no transcript folder")
        self._flush_noted()
        return close_as_aborted(
            ctx,
            self.transcript,
            self.plan.steps(),
            self.plan.closers(),
            reason,
            self._actor(by) if by else None,
        )

    def verify(self) -> list[tuple[bool, str]]:
        """``ceremony verify`` on the bundle: (passed, line) per check."""
        from ceremony.audit.verify import verify_bundle

        return [(c.ok, c.line()) for c in verify_bundle(self.folder)]

    def _context(self) -> Context:
        if self.ctx is None:
            raise InputError("the ceremony is not open yet")
        return self.ctx

    @property
    def custodians(self) -> tuple[Participant, ...]:
        return self.definition.custodians if self.definition else ()

    def performer(self, step: Step) -> str:
        if self.definition is None:
            return step.role.value
        people = [p.name for p in self.definition.participants if p.role is step.role]
        return f"{step.role.value}: {', '.join(people)}" if people else step.role.value


def _token_rows(info: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(flatten({k: v for k, v in info.items() if k != "label"}))
