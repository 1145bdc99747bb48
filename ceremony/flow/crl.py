"""The CRL ceremony: optionally revoke an intermediate or a transcript signer, then sign
the next root CRL.

Revoking the current transcript signer (key compromise, or superseded to rotate it)
first replaces it: its key is destroyed in the token, a new key is generated and the
root certifies it, so this ceremony's own transcript is signed by the new signer and
verify refuses the old one for every later document. A signer replaced by a recovery
is revoked without a replacement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ceremony.bundle import CEREMONY_FILE, ROOT_CERT, ROOT_CRL, Bundle, numbered_crl
from ceremony.errors import InputError
from ceremony.flow.engine import Context, Step
from ceremony.flow.later import ACTIVATE
from ceremony.flow.root import CLOSE, OPEN, PREFLIGHT, issue_crl, planned, preview_crl
from ceremony.x509.serial import serial_text

SIGNER_REASONS = {
    "key-compromise": x509.ReasonFlags.key_compromise,
    "superseded": x509.ReasonFlags.superseded,
}

REASONS = {
    "key-compromise": x509.ReasonFlags.key_compromise,
    "ca-compromise": x509.ReasonFlags.ca_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
    "privilege-withdrawn": x509.ReasonFlags.privilege_withdrawn,
}


def parse_reason(text: str) -> x509.ReasonFlags:
    key = text.strip().lower().replace("_", "-")
    key = {
        "keycompromise": "key-compromise",
        "cacompromise": "ca-compromise",
        "affiliationchanged": "affiliation-changed",
        "cessationofoperation": "cessation-of-operation",
        "privilegewithdrawn": "privilege-withdrawn",
    }.get(key, key)
    if key not in REASONS:
        raise InputError(f"reason {text!r}: not one of {', '.join(REASONS)} (RFC 5280)")
    return REASONS[key]


def parse_serial(text: str) -> int:
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise InputError(f"serial {text!r}: not a hexadecimal serial number") from None
    if value <= 0:
        raise InputError(f"serial {text!r}: serial numbers are positive")
    return value


def issued_ca_certificates(bundle: Bundle) -> dict[int, Path]:
    root = x509.load_pem_x509_certificate(bundle.read(ROOT_CERT))
    out: dict[int, Path] = {}
    folder = bundle.path("issued")
    for p in sorted(folder.glob("*.pem")) if folder.is_dir() else []:
        cert = x509.load_pem_x509_certificate(p.read_bytes())
        if cert.issuer != root.subject:
            continue
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        if ca:
            out[cert.serial_number] = p
    return out


def current_crl(bundle: Bundle) -> x509.CertificateRevocationList:
    """The newest CRL a recorded event produced (``root/root-ca.crl`` may hold the CRL of an
    interrupted ``crl.issue`` that no event names)."""
    from ceremony.audit.eventlog import read_events

    newest = None
    for folder in bundle.transcripts():
        log = folder / "events.jsonl"
        if not log.is_file():
            continue
        for e in read_events(log):
            if e["event"] == "step" and e["step"] == "crl.issue":
                newest = str(e["payload"]["outputs"][0]["path"])
    return x509.load_der_x509_crl(bundle.read(newest or ROOT_CRL))


@dataclass(frozen=True)
class Target:
    """A certificate this root issued that a CRL ceremony may revoke."""

    serial: int
    path: str
    signer: bool
    """A transcript-signing certificate (else an intermediate CA)."""
    current: bool = False
    """The transcript signer in use now: revoking it replaces it first."""


def _signers(bundle: Bundle) -> dict[int, Target]:
    from ceremony.audit import record

    ceremonies = record.load(bundle.transcripts())
    current = record.current_signer(ceremonies, 10**9)
    out = {}
    for s in record.signers(ceremonies):
        serial = int(s.serial, 16)
        out[serial] = Target(serial, s.path, True, s == current)
    return out


def check_revocation(bundle: Bundle, serial: int, reason: x509.ReasonFlags | None = None) -> str:
    """The issued/ file of the certificate to revoke; refuse anything else."""
    return revocation_target(bundle, serial, reason).path


def revocation_target(
    bundle: Bundle, serial: int, reason: x509.ReasonFlags | None = None
) -> Target:
    """What ``serial`` names: an intermediate CA or a transcript signer of this root.

    :raises InputError: neither, already revoked, or a reason a signer cannot be revoked for.
    """
    cas = issued_ca_certificates(bundle)
    signers = _signers(bundle)
    if serial in signers:
        target = signers[serial]
        if reason is not None and reason not in SIGNER_REASONS.values():
            raise InputError(
                f"serial {serial_text(serial)}: a transcript signer is revoked for"
                f" {' or '.join(SIGNER_REASONS)}, not {reason.value}"
            )
    elif serial in cas:
        target = Target(serial, cas[serial].relative_to(bundle.root).as_posix(), False)
    else:
        known = [*cas, *signers]
        raise InputError(
            f"serial {serial_text(serial)}: not an intermediate CA or transcript-signing"
            f" certificate issued by this root (issued: "
            f"{', '.join(serial_text(s) for s in known) or 'none'})"
        )
    if current_crl(bundle).get_revoked_certificate_by_serial_number(serial) is not None:
        raise InputError(f"serial {serial_text(serial)}: already revoked")
    return target


def _request(ctx: Context) -> tuple[int, x509.ReasonFlags] | None:
    """The revocation asked for: given to this run, or recorded by the signer replacement."""
    request: tuple[int, x509.ReasonFlags] | None = ctx.state.get("revoke")
    replaced = ctx.log.find("signer.replace")
    if request is None and replaced is not None and "replaces" in replaced["payload"]:
        old = replaced["payload"]["replaces"]
        request = (int(old["serial"], 16), x509.ReasonFlags(old["reason"]))
    return request


def _replace_signer(ctx: Context) -> dict[str, Any]:
    """Before revoking the current transcript signer: destroy its key, certify a new one."""
    from ceremony.flow import root
    from ceremony.hsm import keys
    from ceremony.hsm.keys import KeyAlgorithm, KeyRef

    request = _request(ctx)
    target = revocation_target(ctx.bundle, *request) if request is not None else None
    if target is None or not target.current:
        return {
            "activity": "The transcript signer stays: this ceremony does not revoke it",
            "result": "skipped",
        }
    serial, reason = request  # type: ignore[misc]
    ctx.state.setdefault(
        "signer_cert_path", f"issued/transcript-signer-{ctx.log.path.parent.name[:3]}.pem"
    )
    label = ctx.definition.signer_key_label
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        destroyed = keys.destroy_key(session, label)
    key = root._signer_key(ctx)["key"]
    ref = KeyRef(key["label"], bytes.fromhex(key["id"]), KeyAlgorithm(key["algorithm"]))
    payload = root.certify_signer(ctx, ref)
    payload.update(
        key=key,
        replaces={
            "certificate": target.path,
            "serial": serial_text(serial),
            "reason": reason.value,
            "key_destroyed": {"label": label, "objects": destroyed},
        },
    )
    payload["activity"] = (
        f"The transcript signer {target.path} is replaced before it is revoked ({reason.value}):"
        " its key destroyed in the token, a new key generated and certified by the root"
    )
    return payload


def next_crl(
    bundle: Bundle, request: tuple[int, x509.ReasonFlags] | None, when: dt.datetime
) -> tuple[int, list[x509.RevokedCertificate], dict[str, Any] | None]:
    """Number, entries and revocation record of the CRL after the newest recorded one."""
    previous = current_crl(bundle)
    number = previous.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    revoked = list(previous)
    revocation: dict[str, Any] | None = None
    if request is not None:
        serial, reason = request
        target = revocation_target(bundle, serial, reason)
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(when)
            .add_extension(x509.CRLReason(reason), False)
            .build()
        )
        revoked.append(entry)
        revocation = {
            "serial": serial_text(serial),
            "reason": reason.value,
            "certificate": target.path,
            "kind": "transcript signer" if target.signer else "intermediate CA",
        }
    return number, revoked, revocation


def prepare(
    bundle: Bundle, request: tuple[int, x509.ReasonFlags] | None, media: Path | None = None
) -> None:
    """Everything that can refuse a CRL ceremony's inputs, before its transcript opens: the
    revocation, the lint of the next CRL (signed with a throwaway key), the operator's media.
    An interrupted CRL ceremony resumes only with the revocation it began with.

    :raises InputError: naming the input and the reason; nothing is written.
    """
    from ceremony.flow.ceremonies import ceremony_id, load_definition
    from ceremony.media.transfer import check_export
    from ceremony.x509 import build

    folder = bundle.open_transcript("crl")
    issued = _recorded(folder, "crl.issue") if folder is not None else None
    if folder is not None:
        recorded, before = _began_with(folder)
        wanted = None if request is None else (serial_text(request[0]), request[1].value)
        if recorded and before != wanted:
            how = (
                f"with --revoke {before[0]} --reason {before[1]}"
                if before
                else "without a revocation"
            )
            raise InputError(
                f"{folder.name}: the interrupted CRL ceremony began {how}; run it again the"
                " same way"
            )
    if issued is not None:
        number = int(issued["payload"]["crl"]["number"])
        size = bundle.path(numbered_crl(number)).stat().st_size
    else:
        d = load_definition(bundle)
        root = x509.load_pem_x509_certificate(bundle.read(ROOT_CERT))
        when = dt.datetime.now(dt.UTC).replace(microsecond=0)
        number, revoked, _ = next_crl(bundle, request, when)
        builder = build.crl_builder(root, number, when, d.crl.validity_days, revoked)
        root_key: Any = root.public_key()
        lint_crl, _ = build.prelint_crl(f"root CRL {number}", builder, root_key, d.skips)
        size = len(lint_crl.public_bytes(serialization.Encoding.DER)) + 512
    if media is not None:
        target = folder or bundle.next_transcript("crl")
        name = export_folder(number, ceremony_id(target, bundle.read(CEREMONY_FILE)))
        needed = 2 * size + bundle.path(ROOT_CERT).stat().st_size + 4096
        check_export(media, name, needed, resuming=folder is not None)


def _recorded(folder: Path, step: str) -> dict[str, Any] | None:
    from ceremony.audit.eventlog import read_events

    log = folder / "events.jsonl"
    if not log.is_file():
        return None
    found = [e for e in read_events(log) if e["event"] == "step" and e["step"] == step]
    return found[0] if found else None


def _began_with(folder: Path) -> tuple[bool, tuple[str, str] | None]:
    """Whether the open CRL ceremony of ``folder`` recorded what it revokes, and what: its
    CRL's revocation, or the signer replacement's that comes before the CRL."""
    if _recorded(folder, "crl.issue") is not None:
        return True, recorded_request(folder)
    replaced = _recorded(folder, "signer.replace")
    if replaced is not None and "replaces" in replaced["payload"]:
        old = replaced["payload"]["replaces"]
        return True, (str(old["serial"]), str(old["reason"]))
    return False, None


def recorded_request(folder: Path) -> tuple[str, str] | None:
    """The revocation (serial hex, reason) the CRL ceremony of ``folder`` recorded, if any."""
    issued = _recorded(folder, "crl.issue")
    revocation = issued["payload"].get("revocation") if issued else None
    return (revocation["serial"], revocation["reason"]) if revocation else None


def export_folder(number: int, ceremony: str) -> str:
    return f"root-crl-{number}-{ceremony}"


def _next_crl(ctx: Context) -> tuple[int, list[x509.RevokedCertificate], dict[str, Any] | None]:
    """The next CRL's number and entries, a revocation dated at the planned signing time."""
    request = _request(ctx)
    at = dt.datetime.now(dt.UTC)  # no entry is dated without a revocation
    if request is not None:
        with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
            _, at = planned(ctx, "crl.issue", session)
    return next_crl(ctx.bundle, request, at)


def _crl_step(ctx: Context) -> dict[str, Any]:
    number, revoked, revocation = _next_crl(ctx)
    payload = issue_crl(ctx, number, revoked)
    if revocation:
        payload["revocation"] = revocation
    return payload


def _preview(ctx: Context) -> x509.CertificateRevocationList:
    number, revoked, _ = _next_crl(ctx)
    return preview_crl(ctx, number, revoked)


def _export(ctx: Context) -> dict[str, Any]:
    """The new CRL and the chain (the root certificate) onto the operator's media."""
    media: Path | None = ctx.state.get("media")
    if media is None:
        return {
            "activity": "Nothing written to media: no removable media was chosen; the CRL"
            " stays in the bundle and is published from it",
            "result": "skipped",
            "exported": [],
        }
    issued = ctx.log.find("crl.issue")
    assert issued is not None
    number = issued["payload"]["crl"]["number"]
    files = {
        f"root-ca-{number}.crl": ctx.bundle.read(numbered_crl(number)),
        "root-ca.crl": ctx.bundle.read(ROOT_CRL),
        "root-ca.pem": ctx.bundle.read(ROOT_CERT),
    }
    result = ctx.export(Path(media), export_folder(number, ctx.log.ceremony_id), files)
    return {
        "exported": [
            {"path": w.path.relative_to(media).as_posix(), "sha256": w.sha256, "size": w.size}
            for w in result.files
        ],
        "media": str(media),
        "media_manifest_sha256": result.manifest.sha256,
    }


CRL_STEPS = [
    OPEN,
    PREFLIGHT,
    ACTIVATE,
    Step(
        "signer.replace",
        "If the current transcript signer is to be revoked: destroy its key, generate a new"
        " one and have the root certify it",
        _replace_signer,
    ),
    Step(
        "crl.issue",
        "Revoke as requested; lint, sign and verify the next root CRL",
        _crl_step,
        commit=True,
        preview=_preview,
    ),
    Step(
        "media.export",
        "Write the new CRL and the root certificate to the operator's media, read back",
        _export,
    ),
    CLOSE,
]
