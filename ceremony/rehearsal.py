"""Later ceremonies on a rehearsal bundle: activation material comes from ``rehearsal/``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ceremony.bundle import REHEARSAL, Bundle
from ceremony.errors import InputError
from ceremony.flow.ceremonies import open_context, run_ceremony
from ceremony.flow.engine import Context, Step
from ceremony.flow.prompts import RehearsalPrompter
from ceremony.hsm.module import Hsm


def rehearsal_bundle(folder: Path) -> Bundle:
    bundle = Bundle(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a bundle folder")
    if not bundle.is_rehearsal:
        raise InputError(
            f"{folder}: not a rehearsal bundle (no {REHEARSAL}/); real ceremonies run in the wizard"
        )
    bundle.lock()
    root = bundle.latest_transcript("root")
    if root is None or bundle.open_transcript("root") is not None:
        raise InputError(f"{folder}: the root ceremony is not complete; run ceremony demo first")
    return bundle


LOCATOR = f"{REHEARSAL}/locator.toml"
"""Where a rehearsal on a module other than the bundle's own SoftHSM2 token names it."""


def write_locator(bundle: Bundle, module: str) -> None:
    import json
    import os

    from ceremony.media.atomic import replace_file

    text = f"rehearsal = true\n[hsm]\nmodule = {json.dumps(os.path.abspath(module))}\n"
    replace_file(bundle.path(LOCATOR), text.encode(), mode=0o644)


def rehearsal_hsm(bundle: Bundle) -> Hsm:
    """The bundle's own SoftHSM2 token, or the module its ``rehearsal/locator.toml`` names."""
    if bundle.exists(LOCATOR):
        from ceremony.config import locator

        where = locator.load(bundle.path(LOCATOR))
        if where.module is not None:
            return Hsm(where.module)
    return Hsm(softhsm_home=bundle.path(REHEARSAL))


def prepare(
    bundle: Bundle, kind: str, quiet: bool = True, absent: Sequence[str] = ()
) -> tuple[Context, Path]:
    """The context of ``kind`` on ``bundle``; the room's attendance is checked before the
    transcript folder is made."""
    from ceremony.flow import attendance
    from ceremony.flow.ceremonies import load_definition

    prompter = RehearsalPrompter(bundle.path(REHEARSAL), quiet=quiet, absent=absent)
    definition = load_definition(bundle)
    room = attendance.check(definition, kind, prompter.sign_in(definition.participants))
    hsm = rehearsal_hsm(bundle)
    ctx, folder = open_context(bundle, kind, hsm, prompter, rehearsal=True)
    ctx.state["present"] = room.present
    return ctx, folder


def run(ctx: Context, folder: Path, steps: Sequence[Step]) -> None:
    from ceremony.flow.documents import CLOSERS

    run_ceremony(ctx, folder, steps, CLOSERS)
