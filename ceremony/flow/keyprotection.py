"""Key protection in the ceremonies: probe the token, accept or refuse, record.

Before a ceremony makes or restores a CA key on a token it probes the token
(:mod:`ceremony.hsm.probe`); a protection the token does not give stops the
ceremony (exit 3, naming the attribute and the token) unless the ceremony
file accepts it with a reason, which is then recorded as an exception. The
probe's findings go into the step's event (``"protection"``) so that later
steps (the transcript signer, sealing, the drill) and later ceremonies use
the same templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ceremony.config.ceremonyfile import CeremonyFile, Role
from ceremony.errors import HsmError
from ceremony.flow.engine import Context
from ceremony.hsm import attributes, capabilities
from ceremony.hsm.capabilities import Capabilities, WrapMechanism
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.module import Hsm, field_text
from ceremony.hsm.probe import probe
from ceremony.hsm.protection import FULL, Protection, require


def probe_token(
    ctx: Context, algorithm: KeyAlgorithm, wrap: WrapMechanism | None
) -> tuple[Protection, dict[str, Any]]:
    """Probe the ceremony's token for ``algorithm`` keys; return the protection and its record.

    :raises HsmError: the token lacks a protection the ceremony file does not accept.
    """
    label = ctx.token_label
    name = ctx.hsm.describe(label)
    so_pin, user_pin = ctx.pin_pair()
    found = probe(ctx.hsm.token(label), so_pin, user_pin, algorithm, wrap, name)
    accepts = dict(ctx.definition.accepted_weaknesses)
    if ctx.state.get("demo"):
        # `ceremony demo` writes its own ceremony file: it rehearses on whatever token it is
        # given and records what a reviewed file would have to accept
        for w in found.weaknesses:
            accepts.setdefault(
                w.attribute,
                "accepted for this unattended rehearsal; a real ceremony file must accept it"
                " with its own reason, or the ceremony stops",
            )
    accepted = require(found, accepts, name)
    for weakness, reason in accepted:
        ctx.exception(
            f"{name} does not give {weakness.attribute}: {weakness.detail}",
            f"accepted by the ceremony file: {reason}",
            ctx.actor(Role.ADMINISTRATOR),
        )
    ctx.state["protection"] = found
    record = found.as_dict()
    record["token"] = name
    record["accepted"] = [{"attribute": w.attribute, "reason": reason} for w, reason in accepted]
    return found, record


def check_token_offers(hsm: Hsm, d: CeremonyFile, label: str | None = None) -> Capabilities:
    """Before anything is written: the token (``label``, else the free token the ceremony will
    initialize) can make the ceremony's keys and wrap the root key for its backup.

    :raises HsmError: naming the token and the mechanism it lacks.
    """
    if label is None:
        free = hsm.free_tokens()
        if not free:
            raise HsmError(f"{hsm.module_path}: no uninitialized token to initialize")
        t = free[0]
        name = (
            f"the free token in slot {t.slot.slot_id} ({field_text(t.manufacturer_id)}"
            f" {field_text(t.model)}, serial {field_text(t.serial)})"
        )
        caps = capabilities.of_token(hsm.module_path, t, name)
    else:
        caps = hsm.capabilities(label)
    caps.require_login(d.protected_authentication_path)
    caps.require_key(d.key_algorithm)
    if d.native_backup is None:
        caps.require_wrap()
    caps.signer_algorithm()
    caps.pins.text(bytes(16))  # the PIN length bounds leave room for a generated PIN
    return caps


def check_softhsm_wraps(algorithm: KeyAlgorithm) -> None:
    """Before a SoftHSM2 rehearsal writes anything: SoftHSM2 can wrap ``algorithm`` keys for
    the split-wrap backup, tried on a scratch token in a temporary folder (SoftHSM2 2.6
    makes and signs with Ed25519 keys but cannot wrap them).

    :raises HsmError: it cannot.
    """
    import tempfile
    from pathlib import Path

    from ceremony.hsm.probe import wrappable_families

    with tempfile.TemporaryDirectory(prefix="ceremony-probe-") as tmp:
        hsm = Hsm(softhsm_home=Path(tmp))
        hsm.init_token("probe")
        caps = hsm.capabilities("probe")
        families = wrappable_families(hsm.token("probe"), caps, only=[algorithm.family])
        wrap = caps.require_wrap()
    if families is not None and algorithm.family not in families:
        raise HsmError(
            f"SoftHSM2 cannot wrap {algorithm.description} keys with {wrap.value}: the M-of-N"
            " backup of such a root key is impossible on it; choose another key type, or"
            ' backup method = "hsm-native" on an HSM that backs such keys up itself'
        )


def recorded_protection(ctx: Context) -> Protection:
    """The protection probed for the token the ceremony works on: in this run, else the newest
    one recorded (by this ceremony, a recovery, or the root ceremony); :data:`FULL` for a
    bundle recorded before tokens were probed."""
    found: Protection | None = ctx.state.get("protection")
    if found is not None:
        return found
    from ceremony.audit.eventlog import read_events

    logs = [ctx.log.events] + [
        list(read_events(folder / "events.jsonl"))
        for folder in reversed(ctx.bundle.transcripts())
        if folder != ctx.log.path.parent and (folder / "events.jsonl").exists()
    ]
    for events in logs:
        for event in reversed(events):
            record = event["payload"].get("protection")
            if record is not None:
                return Protection.from_dict(record)
    return FULL


_ROOT_KEY_STEPS = {
    "root.key": "after its generation",
    "root.seal": "after its proven backup",
    "recovery.unwrap": "after its restore from the backup",
}


def key_protection_lines(events: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The CPS 6.2.7 statements: the root key's attributes as last read back from the HSM,
    the backup's wrapping, the weaker states the ceremony file accepted, the PINs."""
    attrs: Mapping[str, Any] | None = None
    when = ""
    token = ""
    accepted: list[Mapping[str, str]] = []
    pins: Mapping[str, Any] | None = None
    trusted_wrap: bool | None = None
    native: Mapping[str, Any] | None = None
    for e in events:
        payload = e.get("payload", {})
        if e.get("step") in _ROOT_KEY_STEPS and "attributes" in payload.get("key", {}):
            attrs = payload["key"]["attributes"]
            when = _ROOT_KEY_STEPS[e["step"]]
        record = payload.get("protection")
        if record is not None:
            token = record.get("token", token)
            accepted = list(record.get("accepted", ()))
        if e.get("step") == "token.init" and "pins" in payload:
            pins = payload["pins"]
        if e.get("step") == "backup.create":
            backup = payload.get("backup", {})
            trusted_wrap = backup.get("wrap_trusted")
            if backup.get("method") == "hsm-native":
                native = backup
    out: list[str] = []
    if attrs is None:
        out.append(
            "CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN: true (recorded before the"
            " attributes were read back into the log)"
        )
    else:
        where = f" on {token}" if token else ""
        out.append(f"Root key attributes as read back from the HSM{where} {when}:")
        out += attributes.lines(attrs)
    if trusted_wrap is not None:
        out.append(
            "Backup: the root key was wrapped once, under a backup key the HSM's security"
            " officer marked CKA_TRUSTED"
            if trusted_wrap
            else "Backup: the root key was wrapped once, under a backup key in a user session"
            " (the token offers no trusted-only wrapping)"
        )
    if native is not None:
        out.append(
            "Backup: none by this tool; the root key was generated non-extractable and never"
            " left the HSM; the HSM vendor's procedure backed it up onto"
            f" {native['device']} (serial {native['device_serial']})"
        )
    for a in accepted:
        out.append(
            f"Accepted weaker state: {a['attribute']} ({attributes.title(a['attribute'])});"
            f" reason given in the ceremony file: {a['reason']}"
        )
    out.append("The key signs only certificates and CRLs (checked before each signature)")
    if pins is not None and pins.get("protected_authentication_path"):
        out.append(
            "Login on the HSM's own PIN pad or PED (protected authentication path): no PIN comes"
            " from the host, so no activation quorum applies; the ceremony file says so"
        )
    else:
        pin_text = (
            f" ({pins['format']}, {pins['entropy_bits']} bits each)" if pins is not None else ""
        )
        out.append(
            f"HSM PINs drawn from the HSM RNG{pin_text}, held only as M-of-N activation shares"
        )
    return tuple(out)
