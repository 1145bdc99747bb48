"""Close a ceremony as aborted: a closed, signed, verifiable record that says why.

The room may stop a ceremony for good (a CSR refused at review, a custodian
who cannot be reached, a device that fails). Its log then ends with an
exception naming the reason and who gave it, and a ``ceremony.close`` event
with ``aborted: true``, the steps done and the steps not run; the transcript
is signed like any other. Signing needs the transcript-signing key, so the
key is activated before anything is recorded: a refused activation leaves
the ceremony open, to be resumed or closed later.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ceremony.audit.eventlog import Actor
from ceremony.config.ceremonyfile import Role
from ceremony.errors import InputError
from ceremony.flow.ceremonies import Closer
from ceremony.flow.engine import Context, Step
from ceremony.flow.root import newest_step

CLOSE = "ceremony.close"


def close_as_aborted(
    ctx: Context,
    folder: Path,
    steps: Sequence[Step],
    closers: Sequence[Closer],
    reason: str,
    by: Actor | None = None,
) -> dict[str, Any]:
    """Record the abort and close the ceremony; its close event.

    :raises InputError: no reason given, or no transcript-signing key exists yet
        (a root ceremony stopped before its signer certificate): nothing is recorded.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise InputError("abort: the reason is required; it goes into the signed record")
    recorded = ctx.log.find(CLOSE)
    if recorded is None:
        try:
            newest_step(ctx, "signer.certificate")
        except InputError:
            raise InputError(
                "abort: no transcript-signing key exists yet, so no record can be signed;"
                " the ceremony stays open (resume it, or start again in a new folder)"
            ) from None
        if ctx.log.find("signer.key") is None and ctx.token_label != ctx.definition.token_label:
            ctx.state["token_label"] = ctx.definition.token_label  # the signer is on the old token
            ctx.pins = None
        ctx.state["presented_by"] = []
        ctx.user_pin()  # activate now: a refusal leaves the ceremony open
        presented = list(ctx.state["presented_by"])
        done = [e["step"] for e in ctx.log.events if e["event"] == "step"]
        not_run = [s.name for s in steps if s.name not in done and s.name != CLOSE]
        actor = by or ctx.actor(Role.WITNESS)
        ctx.exception(
            f"ceremony aborted: {reason}",
            f"closed as aborted; steps not run: {', '.join(not_run) or '(none)'}",
            actor,
        )
        recorded = ctx.log.append(
            CLOSE,
            "step",
            ctx.actor(Role.WITNESS),
            {
                "activity": "Close the ceremony as aborted",
                "result": "aborted",
                "aborted": True,
                "reason": reason,
                "aborted_by": {"name": actor.name, "role": actor.role},
                "steps_done": done,
                "steps_not_run": not_run,
                **({"presented_by": presented} if presented else {}),
            },
        )
    for closer in closers:
        closer(ctx, folder)
    ctx.bundle.write_manifest()
    return recorded
