"""``ceremony demo``: a full unattended rehearsal on SoftHSM2 in a new bundle."""

from __future__ import annotations

from pathlib import Path

from ceremony.bundle import REHEARSAL, Bundle
from ceremony.config import ceremonyfile
from ceremony.errors import InputError
from ceremony.flow import root as root_flow
from ceremony.flow.ceremonies import open_context, run_ceremony, start_bundle
from ceremony.flow.prompts import RehearsalPrompter
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.module import Hsm


def rehearsal_hsm(bundle: Bundle, module_path: str | None = None) -> Hsm:
    return Hsm(module_path, softhsm_home=bundle.path(REHEARSAL))


def run_demo(
    out: Path,
    key: KeyAlgorithm = KeyAlgorithm.ECDSA_P384,
    threshold: int = 3,
    shares: int = 5,
    quiet: bool = True,
) -> Bundle:
    definition = ceremonyfile.render(ceremonyfile.rehearsal_definition(key, threshold, shares))
    fresh = not (out / "ceremony.toml").exists()
    bundle = start_bundle(out, definition)
    if not fresh and not bundle.is_rehearsal:
        raise InputError(f"{out}: not a rehearsal bundle")
    folder = bundle.open_transcript("root")
    if folder is None and bundle.transcripts():
        if bundle.manifest_current():
            raise InputError(f"{out}: the rehearsal in this folder is complete; use a new folder")
        folder = bundle.latest_transcript("root")
    bundle.path(REHEARSAL).mkdir(exist_ok=True)
    hsm = rehearsal_hsm(bundle)
    prompter = RehearsalPrompter(bundle.path(REHEARSAL), quiet=quiet)
    ctx, folder = open_context(bundle, "root", hsm, prompter, rehearsal=True, folder=folder)
    run_ceremony(ctx, folder, root_flow.ROOT_STEPS_HEAD + root_flow.ROOT_STEPS_TAIL, [])
    return bundle
