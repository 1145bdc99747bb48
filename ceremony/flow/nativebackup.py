"""The hsm-native backup: the root key never leaves the HSM; the vendor's means back it up.

Many HSM vendors and auditors expect the root key non-extractable from birth
(CKA_EXTRACTABLE=false, CKA_NEVER_EXTRACTABLE=true, checked after generation)
and backed up by the HSM's own means (cloning to a backup HSM, a Security
World, wrap keys split by the vendor tool). With ``[backup] method =
"hsm-native"`` the backup steps of the root ceremony become:

- ``backup.create``: a witnessed manual step. The procedure text from the
  reviewed ceremony file is shown; the administrator follows it with the
  credential holders; the witness confirms the backup device's serial, typed
  as written in the file. Device, serial, holders and the procedure's SHA-256
  go into ``backup/backup.json``.
- ``backup.proof``: the credential holders named in the file are recorded as
  present (the vendor's credentials are theirs, not this tool's).
- ``backup.drill``: the backup device presents the key as token
  ``drill_token``; a random challenge signed there verifies with the root
  certificate's key: the backup holds the root key.
- ``root.seal``: the root key's attributes read back: non-extractable,
  read-only, never extractable.

A rehearsal on the embedded SoftHSM2 models the backup device as a second
SoftHSM2 home (``rehearsal/backup-device/``) that receives the token by a copy
of its folder, a token-side copy no real HSM allows and the record says so.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from ceremony.bundle import BACKUP_FACTS, REHEARSAL
from ceremony.config.ceremonyfile import NativeBackup, Role
from ceremony.errors import HsmError, InputError
from ceremony.flow.engine import Context
from ceremony.flow.keyprotection import recorded_protection
from ceremony.flow.root import key_ref, root_cert
from ceremony.hsm import sealing
from ceremony.hsm.module import Hsm, SoftHsmHome
from ceremony.hsm.signers import spki_der

REHEARSAL_DEVICE = f"{REHEARSAL}/backup-device"
METHOD = "hsm-native"


@dataclass(frozen=True)
class NativeFacts:
    """``backup/backup.json`` of an hsm-native backup: nothing secret."""

    method: str
    device: str
    device_serial: str
    credential_holders: tuple[str, ...]
    procedure_sha256: str
    key_label: str
    key_id: str
    key_algorithm: str
    root_spki_sha256: str
    rehearsal_device: str = ""
    """How a rehearsal modelled the device (empty for a real ceremony)."""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode() + b"\n"


def _native(ctx: Context) -> NativeBackup:
    native = ctx.definition.native_backup
    assert native is not None
    return native


def _rehearsal_device(ctx: Context) -> Path | None:
    """The rehearsal's model of the backup device: only on the bundle's own SoftHSM2."""
    if ctx.rehearsal and ctx.hsm.softhsm_home is not None:
        return ctx.bundle.path(REHEARSAL_DEVICE)
    return None


def create(ctx: Context) -> dict[str, Any]:
    native = _native(ctx)
    ref = key_ref(ctx, "root.key")
    root = root_cert(ctx)
    lines = [
        f"Back up the root key {ref.label!r} with the HSM vendor's procedure:",
        "",
        *native.procedure.splitlines(),
        "",
        f"Backup device: {native.device}, serial {native.device_serial}",
        f"Credential holders: {', '.join(native.credential_holders)}",
        "Witness: check the serial on the device, then type it to confirm the backup is done.",
    ]
    device = _rehearsal_device(ctx)
    modelled = ""
    if device is not None:
        _copy_token_folder(ctx.hsm, device)
        modelled = (
            "rehearsal only: the backup device is a copy of the SoftHSM2 token folder in"
            f" {REHEARSAL_DEVICE}/, a token-side copy no real HSM allows"
        )
        ctx.exception(
            "hsm-native backup rehearsed on SoftHSM2: the token folder was copied to model the"
            " backup device",
            "accepted for a rehearsal; a real ceremony follows the vendor's procedure",
            ctx.actor(Role.ADMINISTRATOR),
        )
    phrase = native.device_serial
    if not ctx.prompter.confirm("backup.create", lines, phrase):
        raise InputError(
            f"backup device serial: not confirmed as {native.device_serial!r}; the backup is"
            " not recorded"
        )
    facts = NativeFacts(
        method=METHOD,
        device=native.device,
        device_serial=native.device_serial,
        credential_holders=native.credential_holders,
        procedure_sha256=hashlib.sha256(native.procedure.encode()).hexdigest(),
        key_label=ref.label,
        key_id=ref.key_id.hex(),
        key_algorithm=ref.algorithm.value,
        root_spki_sha256=hashlib.sha256(spki_der(root.public_key())).hexdigest(),  # type: ignore[arg-type]
        rehearsal_device=modelled,
    )
    out = ctx.output(BACKUP_FACTS, facts.to_json())
    return {
        "outputs": [out],
        "backup": {**asdict(facts), "procedure": native.procedure, "witnessed": True},
    }


def proof(ctx: Context) -> dict[str, Any]:
    native = _native(ctx)
    present = set(ctx.state.get("present", ())) or {p.name for p in ctx.definition.participants}
    absent = [h for h in native.credential_holders if h not in present]
    if absent:
        raise InputError(
            f"backup.credential_holders: {', '.join(absent)} not present; the backup device's"
            " credentials cannot be confirmed"
        )
    return {
        "credential_holders": list(native.credential_holders),
        "share_proof": "not applicable: the backup device's credentials are the vendor's",
    }


def drill(ctx: Context) -> dict[str, Any]:
    from ceremony.flow.backup import prove_restored

    native = _native(ctx)
    ref = key_ref(ctx, "root.key")
    root: x509.Certificate = root_cert(ctx)
    device = _rehearsal_device(ctx)
    # the rehearsal's copy of the token folder carries the root token's label
    label = ctx.token_label if device is not None else native.drill_token
    pin = ctx.user_pin()
    if device is None:
        ctx.hsm.reload()  # a device connected during the backup shows only to a fresh module
    with _on_device(ctx.hsm, device):
        if not ctx.hsm.has_token(label):
            raise HsmError(
                f"backup device: no token {label!r} on {ctx.hsm.module_path}; connect the backup"
                " device so that it presents the root key (backup.drill_token), then resume"
            )
        info = ctx.hsm.info(label)
        try:
            with ctx.hsm.session(label, pin) as session:
                challenge = prove_restored(session, ref, root)
        except HsmError as ex:
            raise HsmError(
                f"backup device {ctx.hsm.describe(label)}: {ex.message}; the drill logs in with"
                " the activation quorum's user PIN and signs with the root key's label and ID"
            ) from None
    return {
        "drill": {
            "method": METHOD,
            "backup_token": label,
            "backup_token_serial": info.serial,
            "backup_token_model": f"{info.manufacturer} {info.model}",
            "device_serial": native.device_serial,
            "key_label": ref.label,
            "challenge_sha256": challenge,
            "signature_verified_with_root_certificate": True,
            "rehearsal_device": device is not None,
        }
    }


def seal(ctx: Context) -> dict[str, Any]:
    """Nothing to turn off: the key was born non-extractable and read-only; read it back."""
    ref = key_ref(ctx, "root.key")
    what = f"key {ref.label!r} on {ctx.hsm.describe(ctx.token_label)}"
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        attrs = sealing.seal(session, ref, recorded_protection(ctx), what, stage="born-sealed")
    return {
        "key": {
            "label": ref.label,
            "id": ref.key_id.hex(),
            "algorithm": ref.algorithm.value,
            "attributes": attrs,
        }
    }


def _copy_token_folder(hsm: Hsm, device: Path) -> None:
    home = hsm.softhsm_home
    assert home is not None
    target = SoftHsmHome(device)
    if target.tokens_dir.exists():
        shutil.rmtree(target.tokens_dir)
    shutil.copytree(home.tokens_dir, target.tokens_dir)
    target.ensure()


@contextmanager
def _on_device(hsm: Hsm, device: Path | None) -> Iterator[None]:
    if device is None:
        yield
        return
    with hsm.softhsm_home_switched(device):
        yield
