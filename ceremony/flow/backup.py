"""Backup steps of the root ceremony, and the recovery ceremony.

``backup.create`` wraps the root key under a fresh backup key and splits that
key into SLIP-39 recovery shares (one per custodian, cards printed);
``backup.proof`` has every custodian recite words of their share;
``backup.drill`` rebuilds the backup key from M shares, unwraps the root key
into a scratch token, proves it is the root key with a signature over a
random challenge verified by the root certificate's key, and destroys the
scratch token; ``root.seal`` then turns the root key non-extractable and
read-only for good. The recovery ceremony unwraps the same way into a lasting
token, straight into that end state.

With ``[backup] method = "hsm-native"`` the same four steps run the HSM
vendor's backup instead (:mod:`ceremony.flow.nativebackup`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ceremony.backup import wrap
from ceremony.backup.cards import cards_for_share_set, render_share_cards
from ceremony.backup.shares import (
    ShareSetParams,
    combine,
    split_secret,
)
from ceremony.bundle import BACKUP_FACTS, BACKUP_WRAPPED, Bundle
from ceremony.config.ceremonyfile import Role
from ceremony.errors import HsmError, InputError, PolicyError, ShareError
from ceremony.flow import nativebackup
from ceremony.flow.engine import Context, Step
from ceremony.flow.keyprotection import recorded_protection
from ceremony.flow.root import card_about, key_ref, root_cert
from ceremony.flow.shareproof import prove_by_words, void_cards
from ceremony.hsm import keys, sealing
from ceremony.hsm.attributes import Value
from ceremony.hsm.capabilities import WrapMechanism
from ceremony.hsm.errors import hsm_errors
from ceremony.hsm.keys import KeyAlgorithm, KeyRef
from ceremony.hsm.module import Hsm, SoftHsmHome
from ceremony.hsm.protection import Protection
from ceremony.hsm.signers import (
    Purpose,
    TokenEcKey,
    TokenEd25519Key,
    TokenRsaKey,
    spki_der,
    token_key,
)


@dataclass(frozen=True)
class BackupFacts:
    """``backup/backup.json``: what an auditor and a recovery need, nothing secret."""

    set_id: str
    identifier: int
    threshold: int
    shares: int
    iteration_exponent: int
    passphrase: bool
    check_value: str
    wrap_mechanism: str
    """The wrap mechanism's description; its first word is the PKCS#11 name."""
    key_label: str
    key_id: str
    key_algorithm: str
    root_spki_sha256: str
    wrapped_sha256: str
    group_threshold: int = 1
    groups: tuple[tuple[int, int], ...] = ()
    wrap_iv: str = ""
    """Hex IV of a CBC wrap mechanism (empty for the AES key wrap mechanisms)."""
    wrap_trusted: bool = False
    """The wrapping key was marked CKA_TRUSTED by the security officer."""

    @property
    def mechanism(self) -> WrapMechanism:
        return WrapMechanism.parse(self.wrap_mechanism)

    def wrapped(self, data: bytes) -> wrap.Wrapped:
        return wrap.Wrapped(
            data, self.check_value, self.mechanism, bytes.fromhex(self.wrap_iv), self.wrap_trusted
        )

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def load(cls, bundle: Bundle) -> BackupFacts:
        """:raises InputError: not valid facts, or an hsm-native backup (no shares to use)."""
        try:
            data = json.loads(bundle.read(BACKUP_FACTS))
            if isinstance(data, dict) and data.get("method") == "hsm-native":
                raise InputError(
                    f"{bundle.path(BACKUP_FACTS)}: the root key's backup is hsm-native (on"
                    f" {data.get('device')!r}); it is restored with the HSM vendor's procedure,"
                    " not from recovery shares"
                )
            data["groups"] = tuple(tuple(g) for g in data.get("groups", ()))
            return cls(**data)
        except (ValueError, TypeError) as ex:
            raise InputError(f"{bundle.path(BACKUP_FACTS)}: not valid backup facts") from ex


def _passphrase(ctx: Context, new: bool) -> bytes:
    if not ctx.definition.backup_passphrase:
        return b""
    return ctx.prompter.passphrase("backup", new).encode("ascii")


def _interrupted_set(ctx: Context) -> dict[str, Any] | None:
    """Recovery cards an interrupted ``backup.create`` may have handed out are void."""
    if not ctx.bundle.exists(BACKUP_FACTS) or BACKUP_FACTS in ctx.recorded_outputs():
        return None
    try:
        set_id: str | None = BackupFacts.load(ctx.bundle).set_id
    except InputError:
        set_id = None
    return void_cards(ctx, "backup.create", "recovery", ctx.custodians, set_id)


def _create(ctx: Context) -> dict[str, Any]:
    if ctx.definition.native_backup is not None:
        return nativebackup.create(ctx)
    void = _interrupted_set(ctx)
    d = ctx.definition
    ref = key_ref(ctx, "root.key")
    root = root_cert(ctx)
    mechanism = ctx.hsm.capabilities(ctx.token_label).require_wrap()
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        backup_key = wrap.new_backup_key(session)
    result = wrap.wrap_root_key(
        ctx.hsm,
        ctx.token_label,
        ctx.pin_pair(),
        ref,
        backup_key,
        mechanism,
        recorded_protection(ctx),
    )
    wrapped, kcv = result.data, result.check_value
    if d.backup_groups:
        params = ShareSetParams.two_level(
            d.backup_group_threshold, d.backup_groups, rehearsal=ctx.rehearsal
        )
    else:
        params = ShareSetParams(
            threshold=d.backup.threshold, count=d.backup.shares, rehearsal=ctx.rehearsal
        )
    share_set = split_secret(backup_key, params, _passphrase(ctx, new=True))
    del backup_key
    out_wrapped = ctx.output(BACKUP_WRAPPED, wrapped)
    facts = BackupFacts(
        set_id=share_set.set_id,
        identifier=share_set.identifier,
        threshold=share_set.threshold,
        shares=share_set.count,
        iteration_exponent=share_set.iteration_exponent,
        passphrase=d.backup_passphrase,
        check_value=kcv,
        wrap_mechanism=mechanism.description,
        key_label=ref.label,
        key_id=ref.key_id.hex(),
        key_algorithm=ref.algorithm.value,
        root_spki_sha256=hashlib.sha256(spki_der(root.public_key())).hexdigest(),  # type: ignore[arg-type]
        wrapped_sha256=out_wrapped["sha256"],
        group_threshold=share_set.group_threshold,
        groups=share_set.groups if len(share_set.groups) > 1 else (),
        wrap_iv=result.iv.hex(),
        wrap_trusted=result.trusted,
    )
    out_facts = ctx.output(BACKUP_FACTS, facts.to_json())
    cards = cards_for_share_set(
        share_set,
        [(p.name, p.role.value) for p in ctx.custodians],
        check_value=kcv,
        ceremony_id=ctx.log.ceremony_id,
        purpose="recovery",
        about=card_about(ctx, share_set.threshold, share_set.count),
    )
    ctx.prompter.print_share_cards(render_share_cards(cards, ctx.rehearsal))
    bags = ctx.prompter.hand_out_shares("recovery", share_set.mnemonics, ctx.custodians)
    ctx.state["recovery_mnemonics"] = share_set.mnemonics
    return {
        "bag_serials": None if bags is None else dict(bags),
        "outputs": [out_wrapped, out_facts],
        "backup": {k: v for k, v in facts.__dict__.items() if k != "wrapped_sha256"},
        **({"void_cards": void} if void else {}),
    }


def _proof(ctx: Context) -> dict[str, Any]:
    if ctx.definition.native_backup is not None:
        return nativebackup.proof(ctx)
    mnemonics: Sequence[str] | None = ctx.state.get("recovery_mnemonics")
    if mnemonics is None:
        return _proof_by_full_entry(ctx)
    return {
        "custodians": prove_by_words(ctx, "recovery", "backup.proof", mnemonics, ctx.custodians)
    }


def _proof_by_full_entry(ctx: Context) -> dict[str, Any]:
    """After a resume the shares are no longer in memory: every custodian enters theirs whole.

    Each must belong to the recorded set, and all of them together must rebuild
    the backup key (its check value).
    """
    facts = BackupFacts.load(ctx.bundle)
    shares = ctx.collect_shares("recovery", facts.shares)
    if len(shares) != facts.shares:
        raise ShareError(f"custodian proof: {len(shares)} shares entered, {facts.shares} expected")
    combine(shares.mnemonics, _passphrase(ctx, new=False), expected_check_value=facts.check_value)
    return {
        "custodians": [
            {"custodian": c.name, "share": i, "method": "full share re-entered"}
            for i, c in enumerate(ctx.custodians, 1)
        ]
    }


def prove_restored(session: Any, ref: KeyRef, root: x509.Certificate) -> str:
    """Sign a random challenge (not a certificate) with the restored key; verify with the root's."""
    challenge = b"restore drill challenge " + secrets.token_bytes(32)
    key = token_key(session, ref, Purpose.DRILL_CHALLENGE)
    public = root.public_key()
    try:
        if isinstance(key, TokenEcKey) and isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(
                key.sign(challenge, ec.ECDSA(hashes.SHA256())), challenge, ec.ECDSA(hashes.SHA256())
            )
        elif isinstance(key, TokenRsaKey) and isinstance(public, rsa.RSAPublicKey):
            sig = key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())
            public.verify(sig, challenge, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, TokenEd25519Key) and isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(key.sign(challenge), challenge)
        else:
            raise PolicyError("restore: the restored key's type differs from the root's")
    except InvalidSignature as ex:
        raise PolicyError("restore: the restored key is not the root certificate's key") from ex
    return hashlib.sha256(challenge).hexdigest()


def recover_backup_key(ctx_bundle: Bundle, shares: Sequence[str], passphrase: bytes) -> bytes:
    facts = BackupFacts.load(ctx_bundle)
    return combine(shares, passphrase, expected_check_value=facts.check_value)


@dataclass(frozen=True)
class Restored:
    """A root key restored from the backup and proven."""

    ref: KeyRef
    challenge_sha256: str
    attributes: dict[str, Value]


def restore_into(
    hsm: Hsm,
    label: str,
    pin: str,
    bundle: Bundle,
    backup_key: bytes,
    protection: Protection,
    scratch: KeyRef | None = None,
) -> Restored:
    """Unwrap the root key into token ``label`` in its end state and prove it.

    ``scratch``: unwrap under this label and ID instead of the recorded ones (a drill on the
    root key's own token, the scratch key destroyed by the caller).
    """
    facts = BackupFacts.load(bundle)
    root = x509.load_pem_x509_certificate(bundle.read("root/root-ca.pem"))
    data = bundle.read(BACKUP_WRAPPED)
    if hashlib.sha256(data).hexdigest() != facts.wrapped_sha256:
        raise InputError(f"{bundle.path(BACKUP_WRAPPED)}: does not match backup.json")
    ref = scratch or KeyRef(
        facts.key_label, bytes.fromhex(facts.key_id), KeyAlgorithm(facts.key_algorithm)
    )
    name = hsm.describe(label)
    with hsm.session(label, pin) as session:
        attrs = wrap.unwrap_root_key(
            session,
            facts.wrapped(data),
            backup_key,
            ref,
            root.public_key(),  # type: ignore[arg-type]
            protection,
            name,
        )
        challenge = prove_restored(session, ref, root)
    return Restored(ref, challenge, attrs)


def delete_token(hsm: Hsm, label: str, so_pin: str) -> str:
    """Destroy a scratch token: deleted on SoftHSM2, else every object on it erased."""
    serial = hsm.info(label).serial
    home = hsm.softhsm_home
    if home is not None and shutil.which("softhsm2-util"):
        delete_softhsm_token(home, serial)
        hsm.reload()
        return "deleted"
    with hsm.so_session(label, so_pin) as session, hsm_errors(f"token {label!r}: erase"):
        for obj in list(session.get_objects()):
            obj.destroy()
    return "erased"


def delete_softhsm_token(home: SoftHsmHome, serial: str) -> None:
    p = subprocess.run(
        ["softhsm2-util", "--delete-token", "--serial", serial],
        capture_output=True,
        text=True,
        env={"SOFTHSM2_CONF": str(home.conf_path.resolve()), "PATH": "/usr/bin:/bin"},
    )
    if p.returncode != 0:
        raise HsmError(f"token serial {serial}: could not be deleted: {p.stderr.strip()}")


def _drill(ctx: Context) -> dict[str, Any]:
    if ctx.definition.native_backup is not None:
        return nativebackup.drill(ctx)
    d = ctx.definition
    shares = ctx.collect_shares("recovery", d.backup.threshold)
    backup_key = recover_backup_key(ctx.bundle, shares.mnemonics, _passphrase(ctx, new=False))
    protection = recorded_protection(ctx)
    if not ctx.hsm.free_tokens():
        return {"drill": _drill_on_own_token(ctx, backup_key, protection, len(shares.mnemonics))}
    label = f"drill-{secrets.token_hex(4)}"
    pins = ctx.hsm.init_token(label)
    try:
        restored = restore_into(ctx.hsm, label, pins.user_pin, ctx.bundle, backup_key, protection)
    finally:
        outcome = delete_token(ctx.hsm, label, pins.so_pin)
    return {
        "drill": {
            "scratch_token": label,
            "shares_used": len(shares.mnemonics),
            "key_label": restored.ref.label,
            "restored_attributes": restored.attributes,
            "challenge_sha256": restored.challenge_sha256,
            "signature_verified_with_root_certificate": True,
            "scratch_token_destroyed": outcome,
        }
    }


DRILL_KEY_SUFFIX = "-drill-"


def _drill_on_own_token(
    ctx: Context, backup_key: bytes, protection: Protection, shares_used: int
) -> dict[str, Any]:
    """The module offers no second token: the backup is unwrapped beside the root key under
    a scratch label, proven, and destroyed (a scratch key an interrupted drill left is
    destroyed first, on record)."""
    root_ref = key_ref(ctx, "root.key")
    prefix = f"{root_ref.label}{DRILL_KEY_SUFFIX}"
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        for left in {lab for lab in keys.key_labels(session) if lab.startswith(prefix)}:
            keys.destroy_key(session, left)
            ctx.exception(
                f"scratch key {left!r} was left on the root key's token by an interrupted drill",
                "it was destroyed and the drill run again",
            )
        with hsm_errors("drill: random CKA_ID"):
            scratch_id = bytes(session.generate_random(64))
    scratch = KeyRef(f"{prefix}{secrets.token_hex(4)}", scratch_id, root_ref.algorithm)
    try:
        restored = restore_into(
            ctx.hsm, ctx.token_label, ctx.user_pin(), ctx.bundle, backup_key, protection, scratch
        )
    finally:
        with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
            destroyed = keys.destroy_key(session, scratch.label)
    return {
        "scratch_token": None,
        "scratch_key": scratch.label,
        "target": "the root key's own token (the module offers no second free token)",
        "shares_used": shares_used,
        "key_label": scratch.label,
        "restored_attributes": restored.attributes,
        "challenge_sha256": restored.challenge_sha256,
        "signature_verified_with_root_certificate": True,
        "scratch_key_destroyed": destroyed > 0,
    }


def _seal(ctx: Context) -> dict[str, Any]:
    """After the proven backup: the root key can never leave the token again."""
    if ctx.definition.native_backup is not None:
        return nativebackup.seal(ctx)
    ref = key_ref(ctx, "root.key")
    what = f"key {ref.label!r} on {ctx.hsm.describe(ctx.token_label)}"
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        attrs = sealing.seal(session, ref, recorded_protection(ctx), what)
    return {
        "key": {
            "label": ref.label,
            "id": ref.key_id.hex(),
            "algorithm": ref.algorithm.value,
            "attributes": attrs,
        }
    }


BACKUP_STEPS = [
    Step(
        "backup.create",
        "Wrap the root key under a new backup key; split it into recovery "
        "shares; print share cards; hand out one share per custodian",
        _create,
        commit=True,
        native_activity="Back up the root key by the HSM vendor's procedure from the ceremony"
        " file, witnessed; the backup device's serial confirmed and its credential holders"
        " recorded",
    ),
    Step(
        "backup.proof",
        "Each custodian proves their share by reciting words at random positions",
        _proof,
        role=Role.WITNESS,
        native_activity="The backup device's credential holders are present and recorded",
    ),
    Step(
        "backup.drill",
        "Restore drill: M shares rebuild the backup key, the root key is "
        "unwrapped into a scratch token and proven, the scratch token destroyed",
        _drill,
        commit=True,
        native_activity="Restore drill: the backup device signs a random challenge with the"
        " root key; the root certificate's key verifies it",
    ),
    Step(
        "root.seal",
        "The root key is made non-extractable and read-only: from now on the HSM refuses"
        " every export of it, and its settings cannot change",
        _seal,
        commit=True,
        native_activity="The root key's attributes are read back: it has never been able to"
        " leave the HSM, and its settings cannot change",
    ),
]
