"""The script of each ceremony kind: its steps in order."""

from __future__ import annotations

from ceremony.flow import crl, recovery, root, signcsr
from ceremony.flow.backup import BACKUP_STEPS
from ceremony.flow.engine import Context, Step

ROOT: list[Step] = root.ROOT_STEPS_HEAD + BACKUP_STEPS + root.ROOT_STEPS_TAIL
SIGN_CSR: list[Step] = signcsr.SIGN_STEPS
CRL: list[Step] = crl.CRL_STEPS
RECOVERY: list[Step] = recovery.RECOVERY_STEPS


def resume_context(ctx: Context) -> None:
    """Set up a context of an existing ceremony as its kind needs (a recovery's new token)."""
    if ctx.log.kind == "recovery":
        recovery.resume(ctx)


BY_KIND: dict[str, list[Step]] = {
    "root": ROOT,
    "sign-csr": SIGN_CSR,
    "crl": CRL,
    "recovery": RECOVERY,
}
