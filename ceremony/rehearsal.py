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
    root = bundle.latest_transcript("root")
    if root is None or bundle.open_transcript("root") is not None:
        raise InputError(f"{folder}: the root ceremony is not complete; run ceremony demo first")
    return bundle


def rehearsal_hsm(bundle: Bundle) -> Hsm:
    return Hsm(softhsm_home=bundle.path(REHEARSAL))


def prepare(bundle: Bundle, kind: str, quiet: bool = True) -> tuple[Context, Path]:
    hsm = rehearsal_hsm(bundle)
    prompter = RehearsalPrompter(bundle.path(REHEARSAL), quiet=quiet)
    return open_context(bundle, kind, hsm, prompter, rehearsal=True)


def run(ctx: Context, folder: Path, steps: Sequence[Step]) -> None:
    from ceremony.flow.documents import CLOSERS

    run_ceremony(ctx, folder, steps, CLOSERS)
