"""The CRL ceremony: optionally revoke an intermediate, then sign the next root CRL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509

from ceremony.bundle import ROOT_CERT, ROOT_CRL, Bundle, numbered_crl
from ceremony.errors import InputError
from ceremony.flow.engine import Context, Step
from ceremony.flow.later import ACTIVATE
from ceremony.flow.root import CLOSE, OPEN, PREFLIGHT, issue_crl, now

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


def check_revocation(bundle: Bundle, serial: int) -> str:
    """The issued/ file of the CA certificate to revoke; refuse anything else."""
    cas = issued_ca_certificates(bundle)
    if serial not in cas:
        raise InputError(
            f"serial {serial:x}: not an intermediate CA certificate issued by this root "
            f"(issued: {', '.join(f'{s:x}' for s in cas) or 'none'})"
        )
    if current_crl(bundle).get_revoked_certificate_by_serial_number(serial) is not None:
        raise InputError(f"serial {serial:x}: already revoked")
    return cas[serial].relative_to(bundle.root).as_posix()


def _crl_step(ctx: Context) -> dict[str, Any]:
    previous = current_crl(ctx.bundle)
    number = previous.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    revoked = list(previous)
    request = ctx.state.get("revoke")
    revocation: dict[str, Any] | None = None
    if request is not None:
        serial, reason = request
        path = check_revocation(ctx.bundle, serial)
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now(ctx))
            .add_extension(x509.CRLReason(reason), False)
            .build()
        )
        revoked.append(entry)
        revocation = {"serial": f"{serial:x}", "reason": reason.value, "certificate": path}
    payload = issue_crl(ctx, number, revoked)
    if revocation:
        payload["revocation"] = revocation
    return payload


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
        "crl.issue",
        "Revoke as requested; lint, sign and verify the next root CRL",
        _crl_step,
        commit=True,
    ),
    Step(
        "media.export",
        "Write the new CRL and the root certificate to the operator's media, read back",
        _export,
    ),
    CLOSE,
]
