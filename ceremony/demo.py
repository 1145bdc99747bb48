"""``ceremony demo``: a full unattended rehearsal on SoftHSM2 in a new bundle.

The rehearsal runs the root ceremony, then an intermediate signing ceremony
for the bundled sample CSR (or a given one), each with its own transcript; running the same
command again resumes whichever was interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ceremony import rehearsal
from ceremony.bundle import REHEARSAL, Bundle
from ceremony.config import ceremonyfile
from ceremony.errors import InputError
from ceremony.flow import scripts, signcsr, validate
from ceremony.flow.ceremonies import open_context, run_ceremony, start_bundle
from ceremony.flow.documents import CLOSERS
from ceremony.flow.prompts import RehearsalPrompter
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.module import Hsm

SAMPLE_CSR = "sample-intermediate.csr"


@dataclass(frozen=True)
class CsrToSign:
    """The intermediate CSR the rehearsal's signing ceremony signs."""

    data: bytes
    source: str
    """Where it came from, as the transcript names it."""
    name: str
    """The certificate's file name in ``issued/`` (without ``.pem``)."""


def sample_csr() -> bytes:
    return resources.files("ceremony.data").joinpath(SAMPLE_CSR).read_bytes()


def _closed(bundle: Bundle, kind: str) -> bool:
    return bundle.latest_transcript(kind) is not None and bundle.open_transcript(kind) is None


@dataclass(frozen=True)
class DemoModule:
    """A PKCS#11 module other than the embedded SoftHSM2 for the rehearsal, and the SO PIN
    its free token came with (as a new HSM arrives from its vendor)."""

    path: str
    factory_so_pin: str = field(repr=False)


def run_demo(
    out: Path,
    key: KeyAlgorithm = KeyAlgorithm.ECDSA_P384,
    threshold: int = 3,
    shares: int = 5,
    quiet: bool = True,
    csr: CsrToSign | None = None,
    module: DemoModule | None = None,
    backup: ceremonyfile.BackupMethod = ceremonyfile.BackupMethod.SPLIT_WRAP,
) -> Bundle:
    """Run (or resume) the rehearsal in ``out``; ``csr`` replaces the bundled sample CSR;
    ``module``: rehearse on that module's token instead of a SoftHSM2 token in the bundle
    (the bundle's ``rehearsal/locator.toml`` then names the module for later ceremonies);
    ``backup``: the backup method the rehearsal's ceremony file chooses."""
    if module is not None and backup is ceremonyfile.BackupMethod.HSM_NATIVE:
        raise InputError(
            "--backup hsm-native: `ceremony demo` models the backup device on the embedded"
            " SoftHSM2 only; on another module run `ceremony root` with a ceremony file naming"
            " the backup device's token (backup.drill_token)"
        )
    to_sign = csr or CsrToSign(sample_csr(), SAMPLE_CSR, "sample-intermediate")
    cf = ceremonyfile.rehearsal_definition(key, threshold, shares, backup)
    definition = ceremonyfile.render(cf)
    fresh = not (out / "ceremony.toml").exists()
    hsm = Hsm(module.path) if module is not None else None
    if fresh:
        validate.root_ceremony(cf, rehearsal=True, hsm=hsm)
    bundle = start_bundle(out, definition)
    if not fresh and not bundle.is_rehearsal:
        raise InputError(f"{out}: not a rehearsal bundle")
    if _closed(bundle, "root") and _closed(bundle, "sign-csr") and bundle.manifest_current():
        raise InputError(f"{out}: the rehearsal in this folder is complete; use a new folder")
    bundle.path(REHEARSAL).mkdir(exist_ok=True)
    if module is not None:
        rehearsal.write_locator(bundle, module.path)
    hsm = hsm or Hsm(softhsm_home=bundle.path(REHEARSAL))
    prompter = RehearsalPrompter(bundle.path(REHEARSAL), quiet=quiet)

    folder = bundle.open_transcript("root") or bundle.latest_transcript("root")
    ctx, folder = open_context(bundle, "root", hsm, prompter, rehearsal=True, folder=folder)
    ctx.state["demo"] = True
    if module is not None:
        ctx.state["factory_so_pin"] = module.factory_so_pin
    run_ceremony(ctx, folder, scripts.ROOT, CLOSERS)

    bundle.lock()
    folder = bundle.open_transcript("sign-csr") or bundle.latest_transcript("sign-csr")
    request = (
        signcsr.prepare_request(bundle, to_sign.data, to_sign.source, to_sign.name)
        if folder is None or bundle.open_transcript("sign-csr")
        else None
    )
    ctx, folder = open_context(bundle, "sign-csr", hsm, prompter, rehearsal=True, folder=folder)
    if request is not None:
        ctx.state["request"] = request
    run_ceremony(ctx, folder, scripts.SIGN_CSR, CLOSERS)
    return bundle
