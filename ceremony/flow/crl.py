"""The CRL ceremony: optionally revoke an intermediate or a transcript signer, then sign
the next root CRL.

Revoking the current transcript signer (key compromise, or superseded to rotate it)
first replaces it: its key is destroyed in the token, a new key is generated and the
root certifies it, so this ceremony's own transcript is signed by the new signer and
verify refuses the old one for every later document. A signer replaced by a recovery
is revoked without a replacement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from ceremony.bundle import ROOT_CERT, ROOT_CRL, Bundle, numbered_crl
from ceremony.errors import InputError
from ceremony.flow.engine import Context, Step
from ceremony.flow.later import ACTIVATE
from ceremony.flow.root import CLOSE, OPEN, PREFLIGHT, issue_crl, planned, preview_crl

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
    return x509.load_der_x509_crl(bundle.read(ROOT_CRL))


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
    from ceremony.x509.serial import serial_text

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
    from ceremony.x509.serial import serial_text

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


def _next_crl(ctx: Context) -> tuple[int, list[x509.RevokedCertificate], dict[str, Any] | None]:
    """The next CRL's number and entries, dated at the planned signing time."""
    from ceremony.x509.serial import serial_text

    previous = current_crl(ctx.bundle)
    number = previous.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    revoked = list(previous)
    request = _request(ctx)
    revocation: dict[str, Any] | None = None
    if request is not None:
        serial, reason = request
        target = revocation_target(ctx.bundle, serial, reason)
        with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
            _, at = planned(ctx, "crl.issue", session)
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(at)
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
    from ceremony.media.transfer import export_files

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
    result = export_files(Path(media), f"root-crl-{number}-{ctx.log.ceremony_id}", files)
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
