"""Later ceremonies on a rehearsal bundle: activation material comes from ``rehearsal/``
(see :class:`ceremony.later.LaterCeremonies`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ceremony.bundle import REHEARSAL, Bundle
from ceremony.flow.engine import Context, Step
from ceremony.hsm.module import Hsm
from ceremony.later import LaterCeremonies, rehearsal_bundle

__all__ = ["prepare", "rehearsal_bundle", "rehearsal_hsm", "run"]


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
    return LaterCeremonies.rehearsed(bundle.root, absent, quiet).open(kind)


def run(ctx: Context, folder: Path, steps: Sequence[Step]) -> None:
    from ceremony.flow.ceremonies import run_ceremony
    from ceremony.flow.documents import CLOSERS

    run_ceremony(ctx, folder, steps, CLOSERS)
