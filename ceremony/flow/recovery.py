"""The recovery ceremony: rebuild the root key from M recovery shares into a new token.

Everything that can refuse the shares runs in :func:`check_shares` before a
transcript is opened or a token touched. The ceremony then initializes the
target token (new PINs, new activation shares), unwraps the root key into it,
proves it against ``root/root-ca.pem`` with a signature over a random
challenge, and has the restored root certify a new transcript-signing key on
that token (the old one was never backed up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ceremony import text
from ceremony.audit import record
from ceremony.audit.facts import FATES
from ceremony.backup.shares import combine
from ceremony.bundle import Bundle
from ceremony.config.ceremonyfile import Role
from ceremony.errors import InputError
from ceremony.flow import root
from ceremony.flow.attendance import Attendance
from ceremony.flow.backup import BackupFacts, restore_into
from ceremony.flow.engine import Context, Step
from ceremony.flow.keyprotection import probe_token
from ceremony.flow.prompts import Prompter
from ceremony.flow.quorum import split_pins
from ceremony.flow.shareproof import ACTIVATION_PROOF
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.module import Hsm

MAX_SHARES_FILE = 64 * 1024


@dataclass(frozen=True)
class RecoveryRequest:
    """Checked shares (secret: kept in memory only) and the target token."""

    backup_key: bytes
    shares_used: int
    token_label: str
    presented_by: tuple[str, ...] = ()
    """The custodians who typed the shares at a terminal (none for a shares file)."""

    def __repr__(self) -> str:
        return f"RecoveryRequest(<secret>, shares_used={self.shares_used}, {self.token_label!r})"


def read_text_file(path: Path, what: str) -> str:
    from ceremony.media.inputs import read_text_input

    return read_text_input(path, what, MAX_SHARES_FILE)


def check_shares(
    bundle: Bundle,
    hsm: Hsm,
    shares_text: str,
    passphrase: str,
    token_label: str,
    *,
    resuming: bool = False,
    presented_by: Sequence[str] = (),
) -> RecoveryRequest:
    """Rebuild the backup key and check the target; nothing is written anywhere.

    :raises ShareError: naming the share by its line in the shares file.
    """
    text.check_token_label(token_label, "--to-token")
    facts = BackupFacts.load(bundle)
    lines = shares_text.splitlines()
    try:
        secret = passphrase.encode("ascii")
    except UnicodeEncodeError:
        raise InputError("passphrase: only printable ASCII characters are allowed") from None
    backup_key = combine(lines, secret, expected_check_value=facts.check_value)
    if hsm.has_token(token_label) and not resuming:
        raise InputError(f"token label {token_label!r}: a token with that label exists already")
    used = sum(1 for x in lines if x.strip())
    return RecoveryRequest(backup_key, used, token_label, tuple(presented_by))


def ask_shares(
    bundle: Bundle, prompter: Prompter, room: Attendance
) -> tuple[str, str, tuple[str, ...]]:
    """The recovery shares (one per line) and the passphrase, typed by the custodians in the
    room one at a time, before anything is written; and who typed them."""
    from ceremony.flow.ceremonies import load_definition

    facts = BackupFacts.load(bundle)
    custodians = room.custodians(load_definition(bundle))
    shares = prompter.collect_shares("recovery", facts.threshold, custodians)
    passphrase = prompter.passphrase("backup", False) if facts.passphrase else ""
    return "\n".join(shares.mnemonics), passphrase, shares.presented_by


def _prepare(ctx: Context) -> RecoveryRequest | None:
    """Target token and signer path for this ceremony, also after a resume."""
    event = ctx.log.find("recovery.shares")
    if "token_label" not in ctx.state and event is not None:
        ctx.state["token_label"] = event["payload"]["recovery"]["target_token"]
    ctx.state.setdefault(
        "signer_cert_path", f"issued/transcript-signer-{ctx.log.path.parent.name[:3]}.pem"
    )
    request: RecoveryRequest | None = ctx.state.get("recovery")
    return request


def resume(ctx: Context) -> None:
    """A recovery's context after a restart: the token it restores into, its signer path."""
    _prepare(ctx)


def recorded_target(folder: Path) -> str | None:
    """The token the recovery ceremony in ``folder`` restores into, once recorded."""
    from ceremony.audit.eventlog import read_events

    log = folder / "events.jsonl"
    if not log.is_file():
        return None
    for e in read_events(log):
        if e["step"] == "recovery.shares" and e["event"] == "step":
            return str(e["payload"]["recovery"]["target_token"])
    return None


def _backup_key(ctx: Context) -> bytes:
    """The backup key: checked up front by the CLI, else entered now by M custodians."""
    request = _prepare(ctx)
    if request is not None:
        return request.backup_key
    facts = BackupFacts.load(ctx.bundle)
    shares = ctx.collect_shares("recovery", facts.threshold)
    passphrase = b""
    if facts.passphrase:
        passphrase = ctx.prompter.passphrase("backup", False).encode("ascii")
    key = combine(shares.mnemonics, passphrase, expected_check_value=facts.check_value)
    label = ctx.token_label
    ctx.state["recovery"] = RecoveryRequest(key, len(shares), label)
    return key


def _shares(ctx: Context) -> dict[str, Any]:
    _backup_key(ctx)
    req: RecoveryRequest = ctx.state["recovery"]
    if ctx.hsm.has_token(req.token_label):
        raise InputError(
            f"token label {req.token_label!r}: a token with that label exists already; recover"
            " into a new token"
        )
    ctx.state["token_label"] = req.token_label
    presented: list[str] = ctx.state["presented_by"]
    presented += [n for n in req.presented_by if n not in presented]
    facts = BackupFacts.load(ctx.bundle)
    return {
        "recovery": {
            "shares_presented": req.shares_used,
            "set_id": facts.set_id,
            "check_value_matched": facts.check_value,
            "target_token": req.token_label,
        }
    }


def _token(ctx: Context) -> dict[str, Any]:
    _prepare(ctx)
    label = ctx.token_label
    void = root._orphan_token(ctx, label) if ctx.hsm.has_token(label) else None
    pins = ctx.hsm.init_token(label)
    if pins.on_pin_pad:
        ctx.pins = pins
        return {"token": ctx.hsm.info(label).as_dict(), **root.pin_pad_activation(ctx, label)}
    q = ctx.definition.activation
    holders = ctx.present_custodians  # absent custodians get no share of the new token
    share_set = split_pins(pins, q.threshold, len(holders), ctx.rehearsal)
    purpose = "activation"  # the new token is the one every later ceremony activates
    root.print_activation_cards(ctx, share_set, pins, holders, purpose)
    bags = ctx.prompter.hand_out_shares(purpose, share_set.mnemonics, holders)
    ctx.state["activation_mnemonics"] = share_set.mnemonics
    ctx.pins = pins
    return {
        "bag_serials": None if bags is None else dict(bags),
        "token": ctx.hsm.info(label).as_dict(),
        "pins": pins.pin_format.as_dict(),
        "activation": {
            "threshold": q.threshold,
            "shares": len(holders),
            "set_id": share_set.set_id,
            "holders": [c.name for c in holders],
        },
        **({"void_cards": void} if void else {}),
    }


def _unwrap(ctx: Context) -> dict[str, Any]:
    key = _backup_key(ctx)
    facts = BackupFacts.load(ctx.bundle)
    _orphan_key(ctx, facts.key_label)
    protection, record = probe_token(ctx, KeyAlgorithm(facts.key_algorithm), facts.mechanism)
    restored = restore_into(ctx.hsm, ctx.token_label, ctx.user_pin(), ctx.bundle, key, protection)
    ref = restored.ref
    return {
        "key": {
            "label": ref.label,
            "id": ref.key_id.hex(),
            "algorithm": ref.algorithm.value,
            "restored": True,
            "attributes": restored.attributes,
        },
        "protection": record,
        "proof": {
            "challenge_sha256": restored.challenge_sha256,
            "signature_verified_with_root_certificate": True,
        },
    }


def _orphan_key(ctx: Context, label: str) -> None:
    """A root key an interrupted unwrap left on the new token (named in no event): destroyed
    on record before the unwrap runs again. The token is this ceremony's own."""
    from ceremony.hsm import keys

    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        if not keys.find_objects(session, label):
            return
        if not ctx.prompter.orphan(
            "key",
            f"key {label!r} exists on token {ctx.token_label!r} but its unwrap was not recorded",
        ):
            raise InputError(f"key {label!r}: left by an interrupted unwrap; not reused")
        n = keys.destroy_key(session, label)
    ctx.exception(
        f"key {label!r} ({n} objects) was left on token {ctx.token_label!r} by an interrupted"
        " unwrap",
        "the orphan objects were destroyed and the root key unwrapped again",
        ctx.actor(Role.ADMINISTRATOR),
    )


def _signer_key(ctx: Context) -> dict[str, Any]:
    _prepare(ctx)
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        from ceremony.hsm import keys

        if keys.find_objects(session, ctx.definition.signer_key_label):
            keys.destroy_key(session, ctx.definition.signer_key_label)
    return root._signer_key(ctx)


def _signer_certificate(ctx: Context) -> dict[str, Any]:
    _prepare(ctx)
    return root._signer_certificate(ctx)


def _before(ctx: Context) -> list[record.Ceremony]:
    here = ctx.log.path.parent
    return record.load(f for f in ctx.bundle.transcripts() if f != here)


def replaced_token(ctx: Context) -> Mapping[str, Any] | None:
    """The token that held the root key before this recovery, as the record names it."""
    return record.current_token(_before(ctx))


def _old_token(ctx: Context) -> dict[str, Any]:
    """What became of the token the new one replaces, as the administrator states it."""
    _prepare(ctx)
    old = replaced_token(ctx)
    fate = ctx.state.get("old_token_fate")
    if fate is None and ctx.rehearsal:
        fate = "kept"  # a rehearsal's old token stays in the bundle's own SoftHSM2 folder
    if fate is not None and fate not in FATES:
        raise InputError(f"old token: {fate!r} is not one of {', '.join(FATES)}")
    old = old or {}
    signer = record.signer_event(_before(ctx))
    return {
        "old_token": {
            "label": old.get("label"),
            "serial": old.get("serial"),
            "manufacturer": old.get("manufacturer"),
            "model": old.get("model"),
            "fate": fate,
        },
        "old_signer": {
            "certificate": None if signer is None else signer["payload"]["outputs"][0]["path"],
            "superseded_by": ctx.state["signer_cert_path"],
            "key_on_old_token": True,
        },
    }


RECOVERY_STEPS = [
    root.OPEN,
    root.PREFLIGHT,
    Step(
        "recovery.shares",
        "Custodians present M recovery shares; the backup key's check value matches",
        _shares,
        commit=False,
    ),
    Step(
        "token.init",
        "Initialize the new token; new activation shares to the custodians",
        _token,
        commit=True,
    ),
    ACTIVATION_PROOF,
    Step(
        "recovery.unwrap",
        "Unwrap the root key into the new token; prove it with a signature "
        "verified by the root certificate",
        _unwrap,
        commit=True,
    ),
    Step(
        "signer.key",
        "Generate a new transcript-signing key in the new token",
        _signer_key,
        commit=True,
    ),
    Step(
        "signer.certificate",
        "The restored root certifies the new transcript-signing key",
        _signer_certificate,
        commit=True,
        preview=root.preview_signer_certificate,
    ),
    Step(
        "recovery.old-token",
        "The administrator states what became of the token the new one replaces",
        _old_token,
    ),
    root.CLOSE,
]
