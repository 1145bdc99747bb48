"""The root key ceremony: token, root key and certificate, transcript signer,
backup, first CRL.

Each step is a commit point: its event is on disk before the next begins.
Resuming after a crash re-runs only unrecorded steps; a token or key left by
an interrupted step is an orphan, reported to the prompter and, if it
agrees, destroyed with an exception event before the step runs again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ceremony import pgpwords, software
from ceremony.bundle import CEREMONY_FILE, ROOT_CERT, ROOT_CRL, SIGNER_CERT, numbered_crl
from ceremony.config.ceremonyfile import Participant, Role
from ceremony.errors import HsmError, InputError, PolicyError
from ceremony.flow import preflight
from ceremony.flow.engine import Context, Step
from ceremony.flow.keyprotection import probe_token, recorded_protection
from ceremony.flow.shareproof import ACTIVATION_PROOF, void_cards
from ceremony.hsm import keys
from ceremony.hsm.errors import hsm_errors
from ceremony.hsm.keys import KeyAlgorithm, KeyRef
from ceremony.hsm.protection import Protection
from ceremony.hsm.signers import spki_der, token_key
from ceremony.x509 import build
from ceremony.x509.serial import serial_text

SIGNER_ALGORITHM = KeyAlgorithm.ECDSA_P384
"""The transcript signer's key type where the token offers it (else RSA 3072: see
:meth:`ceremony.hsm.capabilities.Capabilities.signer_algorithm`)."""


def now(ctx: Context) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def cert_facts(der: bytes) -> dict[str, Any]:
    cert = x509.load_der_x509_certificate(der)
    fp = cert.fingerprint(hashes.SHA256())
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": serial_text(cert.serial_number),
        "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256_fingerprint": fp.hex(),
        "fingerprint_words": pgpwords.words(fp),
        "spki_sha256": hashlib.sha256(spki_der(cert.public_key())).hexdigest(),  # type: ignore[arg-type]
    }


def _attendance(ctx: Context) -> dict[str, Any]:
    """Who signed in (the wizard's sign-in page, else the prompter asks); refused short of
    the people this ceremony's quorum needs."""
    from ceremony.flow import attendance

    present = ctx.state.get("present")
    if present is None:
        present = ctx.prompter.sign_in(ctx.definition.participants)
    record = attendance.check(ctx.definition, ctx.log.kind, list(present))
    ctx.state["present"] = record.present
    return record.payload()


def _open(ctx: Context) -> dict[str, Any]:
    from ceremony.flow.scriptdoc import script_sha256

    attendance = _attendance(ctx)
    data = ctx.bundle.read(CEREMONY_FILE)
    digest = hashlib.sha256(data).digest()
    script = script_sha256(ctx.definition, data, ctx.log.kind, ctx.rehearsal)
    return {
        "inputs": [{"path": CEREMONY_FILE, "sha256": digest.hex(), "size": len(data)}],
        "ceremony_file_words": pgpwords.words(digest),
        "software_version": software.version(),
        "software_hash": software.package_hash(),
        "rehearsal": ctx.rehearsal,
        "place": ctx.definition.place,
        "name": ctx.definition.name,
        "participants": [
            {"name": p.name, "role": p.role.value} for p in ctx.definition.participants
        ],
        "attendance": attendance,
        "previous": ctx.state.get("previous"),
        "software": software.identity(),
        "recording": ctx.state.get("recording"),
        "script_sha256": script,
    }


def _preflight(ctx: Context) -> dict[str, Any]:
    up = preflight.network_up(ctx.state.get("sys_net", preflight.SYS_NET))
    if up and not ctx.rehearsal:
        raise PolicyError(
            f"network interface {up[0]} is up: a real ceremony runs air-gapped; bring it down"
        )
    if up:
        ctx.exception(
            f"network interfaces up during a rehearsal: {', '.join(up)}",
            "accepted for a rehearsal; a real ceremony refuses",
            ctx.actor(Role.ADMINISTRATOR),
        )
    token = ctx.hsm.info(ctx.token_label).as_dict() if ctx.hsm.has_token(ctx.token_label) else None
    return {
        "module": ctx.hsm.module_path,
        "module_description": ctx.hsm.description,
        "library": preflight.module_identity(ctx.hsm.module_path),
        "token": token,
        "tokens_present": ctx.hsm.labels(),
        "network_interfaces_up": up,
        "clock_utc": preflight.clock_utc(),
    }


def _orphan_token(ctx: Context, label: str) -> dict[str, Any]:
    """Delete a token an interrupted ``token.init`` left; its activation cards are void."""
    home = ctx.hsm.softhsm_home
    if not ctx.prompter.orphan(
        "token", f"token {label!r} exists but its initialization was not recorded"
    ):
        raise InputError(f"token {label!r}: left by an interrupted initialization; remove it first")
    void = void_cards(ctx, "token.init", "activation", ctx.present_custodians)
    if home is None or shutil.which("softhsm2-util") is None:
        raise HsmError(
            f"token {label!r}: left by an interrupted initialization; re-initialize it with the"
            " HSM's own tools, then resume"
        )
    serial = ctx.hsm.info(label).serial
    subprocess.run(
        ["softhsm2-util", "--delete-token", "--serial", serial],
        check=True,
        capture_output=True,
        env={"SOFTHSM2_CONF": str(home.conf_path.resolve()), "PATH": "/usr/bin:/bin"},
    )
    ctx.hsm.reload()
    ctx.exception(
        f"token {label!r} (serial {serial}) was left by an interrupted initialization",
        "the token was deleted and initialized again; activation shares of the interrupted"
        " attempt are void",
        ctx.actor(Role.ADMINISTRATOR),
    )
    return void


def card_about(ctx: Context, threshold: int, count: int) -> tuple[str, ...]:
    """What every share card says about itself: whose CA, which root, M of N, whom to call."""
    d = ctx.definition
    subject = d.root.subject
    fingerprint = "not made yet (printed before the root certificate)"
    if ctx.bundle.exists(ROOT_CERT):
        fingerprint = root_cert(ctx).fingerprint(hashes.SHA256()).hex().upper()
    admin = d.by_role(Role.ADMINISTRATOR).name
    return (
        f"{subject.common_name}" + (f", {subject.organization}" if subject.organization else ""),
        f"Root certificate SHA-256: {fingerprint}",
        f"{threshold} of {count}: any {threshold} of these cards together rebuild the secret;"
        f" {threshold - 1} or fewer reveal nothing of it.",
        f"Lost, damaged or exposed card: tell the ceremony administrator ({admin}) at once.",
    )


def print_activation_cards(
    ctx: Context, share_set: Any, pins: Any, holders: Sequence[Participant], purpose: str
) -> None:
    """Activation shares are printed on cards like recovery shares: words and QR code; the
    check value is that of the PIN secrets the shares rebuild."""
    from ceremony.backup.cards import cards_for_share_set, render_share_cards
    from ceremony.backup.shares import check_value

    cards = cards_for_share_set(
        share_set,
        [(p.name, p.role.value) for p in holders],
        check_value=check_value(pins.so_secret + pins.user_secret),
        ceremony_id=ctx.log.ceremony_id,
        purpose="activation",
        about=card_about(ctx, share_set.threshold, share_set.count),
    )
    ctx.prompter.print_share_cards(render_share_cards(cards, ctx.rehearsal), purpose)


def pin_pad_activation(ctx: Context, label: str) -> dict[str, Any]:
    """A token that logs in on its own PIN pad or PED: no PIN and no activation share exist
    on this side; the exception is recorded, as the ceremony file declared it."""
    ctx.exception(
        f"{ctx.hsm.describe(label)} logs in on its own PIN pad or PED: no PIN comes from this"
        " host and the activation quorum protects nothing",
        "declared by the ceremony file ([token] protected_authentication_path = true); the"
        " PIN pad's own credentials guard the token",
        ctx.actor(Role.ADMINISTRATOR),
    )
    return {
        "pins": {"protected_authentication_path": True},
        "activation": {"protected_authentication_path": True, "shares": 0},
    }


def _token_init(ctx: Context) -> dict[str, Any]:
    from ceremony.flow.quorum import split_pins

    label = ctx.token_label
    void = _orphan_token(ctx, label) if ctx.hsm.has_token(label) else None
    factory = ctx.state.get("factory_so_pin")
    pins = ctx.hsm.init_token(label, factory_so_pin=factory)
    if pins.on_pin_pad:
        ctx.pins = pins
        return {
            "token": ctx.hsm.info(label).as_dict(),
            "capabilities": ctx.hsm.capabilities(label).as_dict(),
            **pin_pad_activation(ctx, label),
        }
    q = ctx.definition.activation
    share_set = split_pins(pins, q.threshold, q.shares, ctx.rehearsal)
    print_activation_cards(ctx, share_set, pins, ctx.custodians, "activation")
    bags = ctx.prompter.hand_out_shares("activation", share_set.mnemonics, ctx.custodians)
    ctx.state["activation_mnemonics"] = share_set.mnemonics
    ctx.pins = pins
    return {
        "bag_serials": None if bags is None else dict(bags),
        "token": ctx.hsm.info(label).as_dict(),
        "capabilities": ctx.hsm.capabilities(label).as_dict(),
        "factory_so_pin_replaced": factory is not None,
        "pins": pins.pin_format.as_dict(),
        "activation": {
            "threshold": q.threshold,
            "shares": q.shares,
            "set_id": share_set.set_id,
            "holders": [c.name for c in ctx.custodians],
        },
        **({"void_cards": void} if void else {}),
    }


def _generate(
    ctx: Context,
    label: str,
    algorithm: KeyAlgorithm,
    extractable: bool,
    protection: Protection,
) -> dict[str, Any]:
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        if keys.find_objects(session, label):
            if not ctx.prompter.orphan(
                "key", f"key {label!r} exists but its generation was not recorded"
            ):
                raise InputError(f"key {label!r}: left by an interrupted generation; not reused")
            n = keys.destroy_key(session, label)
            ctx.exception(
                f"key {label!r} ({n} objects) was left by an interrupted key generation",
                "the orphan key was destroyed and the key generated again",
                ctx.actor(Role.ADMINISTRATOR),
            )
        ref, attrs = keys.generate_protected(
            session, label, algorithm, protection, extractable=extractable
        )
        pub = keys.public_key(session, ref)
    return {
        "key": {
            "label": ref.label,
            "id": ref.key_id.hex(),
            "algorithm": algorithm.value,
            "spki_sha256": hashlib.sha256(spki_der(pub)).hexdigest(),
            "extractable": extractable,
            "attributes_checked": True,
            "attributes": attrs,
        },
    }


def _root_key(ctx: Context) -> dict[str, Any]:
    d = ctx.definition
    caps = ctx.hsm.capabilities(ctx.token_label)
    caps.require_key(d.key_algorithm)
    split_wrap = d.native_backup is None
    wrap = caps.require_wrap() if split_wrap else None
    protection, record = probe_token(ctx, d.key_algorithm, wrap)
    payload = _generate(ctx, d.key_label, d.key_algorithm, split_wrap, protection)
    payload["protection"] = record
    payload["capabilities"] = caps.as_dict()
    return payload


def newest_step(ctx: Context, step: str) -> dict[str, Any]:
    """The newest record of ``step``: in this ceremony's log, else in earlier ceremonies'."""
    from ceremony.audit.eventlog import read_events

    event = ctx.log.find(step)
    if event is not None:
        return event
    for folder in reversed(ctx.bundle.transcripts()):
        if folder == ctx.log.path.parent or not (folder / "events.jsonl").exists():
            continue
        found = [e for e in read_events(folder / "events.jsonl") if e["step"] == step]
        if found:
            return found[-1]
    raise InputError(f"step {step} has not run in this bundle")


def key_ref(ctx: Context, step: str) -> KeyRef:
    """The key that ``step`` generated, as the newest ceremony recorded it."""
    k = newest_step(ctx, step)["payload"]["key"]
    return KeyRef(k["label"], bytes.fromhex(k["id"]), KeyAlgorithm(k["algorithm"]))


def root_cert(ctx: Context) -> x509.Certificate:
    return x509.load_pem_x509_certificate(ctx.bundle.read(ROOT_CERT))


def _serial(session: Any) -> int:
    with hsm_errors("serial number"):
        return build.serial_from_random(bytes(session.generate_random(128)))


def _skips(signed: build.Signed) -> list[dict[str, str]]:
    return [{"code": f.code, "severity": f.severity} for f in signed.skipped]


def planned(ctx: Context, step: str, session: Any) -> tuple[int, dt.datetime]:
    """Serial and time of what ``step`` signs, drawn once: the preview the room reads and the
    signature the token makes cover the same TBS."""
    key = f"planned:{step}"
    if key not in ctx.state:
        ctx.state[key] = (_serial(session), now(ctx))
    plan: tuple[int, dt.datetime] = ctx.state[key]
    return plan


def check_previewed(ctx: Context, step: str, tbs: bytes) -> bool:
    """True when the room previewed this TBS; refused when it previewed another one."""
    shown = ctx.state.get(f"previewed:{step}")
    if shown is None:
        return False
    if shown != hashlib.sha256(tbs).hexdigest():
        raise PolicyError(f"{step}: the TBS to sign differs from the one previewed to the room")
    return True


def remember_preview(ctx: Context, step: str, tbs: bytes) -> None:
    ctx.state[f"previewed:{step}"] = hashlib.sha256(tbs).hexdigest()


def _root_tbs(ctx: Context, session: Any) -> tuple[Any, x509.CertificateBuilder]:
    signer = token_key(session, key_ref(ctx, "root.key"))
    serial, at = planned(ctx, "root.certificate", session)
    return signer, build.root_builder(ctx.definition.root, signer.public_key(), serial, at)


def _root_certificate(ctx: Context) -> dict[str, Any]:
    d = ctx.definition
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer, builder = _root_tbs(ctx, session)
        signed = build.sign_certificate("root certificate", builder, signer, None, d.skips)
    cert = x509.load_der_x509_certificate(signed.der)
    previewed = check_previewed(ctx, "root.certificate", cert.tbs_certificate_bytes)
    out = ctx.output(ROOT_CERT, build.pem(signed.der))
    return {
        "outputs": [out],
        "certificate": cert_facts(signed.der),
        "lint_skipped": _skips(signed),
        "previewed_to_the_room": previewed,
    }


def _preview_root_certificate(ctx: Context) -> x509.Certificate:
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer, builder = _root_tbs(ctx, session)
        cert = build.preview_certificate(builder, signer.public_key())
    remember_preview(ctx, "root.certificate", cert.tbs_certificate_bytes)
    return cert


def _signer_key(ctx: Context) -> dict[str, Any]:
    protection = recorded_protection(ctx)
    algorithm = ctx.hsm.capabilities(ctx.token_label).signer_algorithm()
    return _generate(ctx, ctx.definition.signer_key_label, algorithm, False, protection)


def _signer_tbs(ctx: Context, session: Any, ref: KeyRef) -> tuple[Any, x509.CertificateBuilder]:
    root = root_cert(ctx)
    signer = token_key(session, key_ref(ctx, "root.key"))
    doc_key = keys.public_key(session, ref)
    serial, at = planned(ctx, "signer.certificate", session)
    return signer, build.document_signer_builder(ctx.definition.signer, doc_key, root, serial, at)


def _signer_certificate(ctx: Context) -> dict[str, Any]:
    return certify_signer(ctx, key_ref(ctx, "signer.key"))


def certify_signer(ctx: Context, ref: KeyRef) -> dict[str, Any]:
    """The root certifies the transcript-signing key ``ref``: lint, sign, verify, write."""
    d = ctx.definition
    root = root_cert(ctx)
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer, builder = _signer_tbs(ctx, session, ref)
        signed = build.sign_certificate(
            "transcript-signing certificate", builder, signer, root, d.skips
        )
    cert = x509.load_der_x509_certificate(signed.der)
    previewed = check_previewed(ctx, "signer.certificate", cert.tbs_certificate_bytes)
    out = ctx.output(ctx.state.get("signer_cert_path", SIGNER_CERT), build.pem(signed.der))
    return {
        "outputs": [out],
        "certificate": cert_facts(signed.der),
        "lint_skipped": _skips(signed),
        "previewed_to_the_room": previewed,
    }


def preview_signer_certificate(ctx: Context) -> x509.Certificate:
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer, builder = _signer_tbs(ctx, session, key_ref(ctx, "signer.key"))
        cert = build.preview_certificate(builder, signer.public_key())
    remember_preview(ctx, "signer.certificate", cert.tbs_certificate_bytes)
    return cert


def crl_tbs(
    ctx: Context, session: Any, number: int, revoked: list[x509.RevokedCertificate]
) -> tuple[Any, x509.CertificateRevocationListBuilder]:
    root = root_cert(ctx)
    signer = token_key(session, key_ref(ctx, "root.key"))
    _, at = planned(ctx, "crl.issue", session)
    return signer, build.crl_builder(root, number, at, ctx.definition.crl.validity_days, revoked)


def preview_crl(
    ctx: Context, number: int, revoked: list[x509.RevokedCertificate]
) -> x509.CertificateRevocationList:
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer, builder = crl_tbs(ctx, session, number, revoked)
        crl = build.preview_crl(builder, signer.public_key())
    remember_preview(ctx, "crl.issue", crl.tbs_certlist_bytes)
    return crl


def issue_crl(ctx: Context, number: int, revoked: list[x509.RevokedCertificate]) -> dict[str, Any]:
    """Sign CRL ``number``, write it as ``root/root-ca-<number>.crl`` and as the newest copy."""
    d = ctx.definition
    root = root_cert(ctx)
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer, builder = crl_tbs(ctx, session, number, revoked)
        signed = build.sign_crl(f"root CRL {number}", builder, signer, root, d.skips)
    crl = x509.load_der_x509_crl(signed.der)
    previewed = check_previewed(ctx, "crl.issue", crl.tbs_certlist_bytes)
    out = ctx.output(numbered_crl(number), signed.der)
    ctx.bundle.replace(ROOT_CRL, signed.der)
    return {
        "outputs": [out],
        "crl": {
            "number": number,
            "this_update": crl.last_update_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "next_update": crl.next_update_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
            if crl.next_update_utc
            else None,
            "revoked": [serial_text(r.serial_number) for r in crl],
            "sha256": hashlib.sha256(signed.der).hexdigest(),
        },
        "lint_skipped": _skips(signed),
        "previewed_to_the_room": previewed,
    }


def _first_crl(ctx: Context) -> dict[str, Any]:
    return issue_crl(ctx, 1, [])


def _preview_first_crl(ctx: Context) -> x509.CertificateRevocationList:
    return preview_crl(ctx, 1, [])


def _close(ctx: Context) -> dict[str, Any]:
    root = root_cert(ctx)
    return {
        "root_fingerprint": root.fingerprint(hashes.SHA256()).hex(),
        "root_pem_sha256": hashlib.sha256(
            root.public_bytes(serialization.Encoding.PEM)
        ).hexdigest(),
    }


OPEN = Step(
    "ceremony.open",
    "Open the ceremony: read the ceremony file hash aloud, sign in participants",
    _open,
)
PREFLIGHT = Step(
    "preflight", "Preflight: HSM detected, network isolated, UTC clock confirmed", _preflight
)
CLOSE = Step("ceremony.close", "Close the ceremony", _close, role=Role.WITNESS)

ROOT_STEPS_HEAD = [
    OPEN,
    PREFLIGHT,
    Step(
        "token.init",
        "Initialize the HSM token; activation shares to the custodians",
        _token_init,
        commit=True,
    ),
    ACTIVATION_PROOF,
    Step(
        "root.key",
        "Generate the root key pair inside the HSM, extractable only under a key the security"
        " officer trusts, until its backup is proven",
        _root_key,
        commit=True,
        native_activity="Generate the root key pair inside the HSM, non-extractable from birth",
    ),
    Step(
        "root.certificate",
        "Lint, sign and verify the self-signed root certificate",
        _root_certificate,
        commit=True,
        preview=_preview_root_certificate,
    ),
    Step(
        "signer.key", "Generate the transcript-signing key inside the HSM", _signer_key, commit=True
    ),
    Step(
        "signer.certificate",
        "Lint, sign and verify the transcript-signing certificate",
        _signer_certificate,
        commit=True,
        preview=preview_signer_certificate,
    ),
]
ROOT_STEPS_TAIL = [
    Step(
        "crl.issue",
        "Lint, sign and verify root CRL number 1",
        _first_crl,
        commit=True,
        preview=_preview_first_crl,
    ),
    CLOSE,
]
