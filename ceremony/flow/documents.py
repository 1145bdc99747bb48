"""What every ceremony leaves after its close event: the signed transcript of
its log and the regenerated, signed CPS appendix of the whole bundle.

Both are signed by the transcript-signing key in the HSM, whose certificate
the root issued in the root ceremony. A transcript already written (by a run
interrupted after it) is kept; the CPS appendix is replaced each time.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from ceremony import software
from ceremony.audit import cps, record
from ceremony.audit.eventlog import Actor, read_events
from ceremony.audit.facts import FATES
from ceremony.audit.pdfsign import PdfSigner, sign_pdf
from ceremony.audit.transcript import Artifact, TranscriptInfo, render_transcript
from ceremony.audit.x509text import fingerprint
from ceremony.bundle import CEREMONY_FILE, CPS, ROOT_CERT, ROOT_CRL, Bundle
from ceremony.config.ceremonyfile import CeremonyFile, Role
from ceremony.errors import InputError
from ceremony.flow.engine import Context
from ceremony.flow.keyprotection import key_protection_lines
from ceremony.flow.root import root_cert

TRANSCRIPT = "transcript.pdf"


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _signer(ctx: Context) -> PdfSigner:
    """The current transcript signer: its key in the token and its certificate."""
    ceremonies = record.load(ctx.bundle.transcripts())
    event = record.signer_event(ceremonies)
    if event is None:
        raise InputError("no transcript-signing certificate is recorded in this bundle")
    key = event["payload"].get("key")
    if key is None:
        same = next(c for c in ceremonies if event in c.events)
        key = same.steps("signer.key")[-1]["payload"]["key"]
    return PdfSigner(
        module=ctx.hsm.module_path,
        token_label=ctx.token_label,
        user_pin=ctx.user_pin(),
        key_label=str(key["label"]),
        certificate=x509.load_pem_x509_certificate(
            ctx.bundle.read(str(event["payload"]["outputs"][0]["path"]))
        ),
        chain=(root_cert(ctx),),
    )


def _artifacts(
    bundle: Bundle, events: list[dict[str, Any]]
) -> tuple[
    tuple[Artifact, ...], tuple[x509.Certificate, ...], tuple[x509.CertificateRevocationList, ...]
]:
    arts: list[Artifact] = []
    certs: list[x509.Certificate] = []
    crls: list[x509.CertificateRevocationList] = []
    for e in events:
        for direction in ("inputs", "outputs"):
            for item in e["payload"].get(direction, []):
                arts.append(Artifact(item["path"], item["size"], item["sha256"], direction[:-1]))
                path = bundle.path(item["path"])
                if direction == "outputs" and item["path"].endswith(".pem"):
                    certs.append(x509.load_pem_x509_certificate(path.read_bytes()))
                elif direction == "outputs" and item["path"].endswith(".crl"):
                    crls.append(x509.load_der_x509_crl(path.read_bytes()))
    return tuple(arts), tuple(certs), tuple(crls)


def transcript_pdf(
    bundle: Bundle, definition: CeremonyFile, folder: Path, rehearsal: bool
) -> tuple[bytes, datetime]:
    """The unsigned transcript of the closed ceremony in ``folder``, and its signing time."""
    log_bytes = (folder / "events.jsonl").read_bytes()
    events = list(read_events(folder / "events.jsonl"))
    arts, certs, crls = _artifacts(bundle, events)
    info = TranscriptInfo(
        kind=str(events[0]["kind"]),
        ceremony_id=str(events[0]["ceremony"]),
        place=definition.place,
        software_version=software.version(),
        software_sha256=software.package_hash(),
        ceremony_file_sha256=hashlib.sha256(bundle.read(CEREMONY_FILE)).hexdigest(),
        participants=tuple(Actor(p.name, p.role.value) for p in definition.participants),
        rehearsal=rehearsal,
        artifacts=arts,
        certificates=certs,
        crls=crls,
        number=int(folder.name[:3]),
        root_fingerprint=fingerprint(x509.load_pem_x509_certificate(bundle.read(ROOT_CERT)))
        if bundle.exists(ROOT_CERT)
        else None,
    )
    return render_transcript(events, info, log_bytes), _time(events[-1]["time"])


def write_transcript(ctx: Context, folder: Path) -> None:
    rel = (folder / TRANSCRIPT).relative_to(ctx.bundle.root).as_posix()
    if ctx.bundle.exists(rel):
        return
    pdf, last = transcript_pdf(ctx.bundle, ctx.definition, folder, ctx.rehearsal)
    signed = sign_pdf(
        pdf,
        _signer(ctx),
        clock=lambda: last,
        reason="ceremony transcript",
        location=ctx.definition.place,
    )
    ctx.bundle.write(rel, signed)


_DUTIES = {
    Role.ADMINISTRATOR: "runs the ceremony script and operates the machine",
    Role.WITNESS: "initials every step, records exceptions",
    Role.CUSTODIAN: "holds one activation share and one recovery share",
    Role.OPERATOR: "brings CSRs and carries outputs on removable media",
    Role.AUDITOR: "reviews the evidence",
}


def _folder_events(folder: Path) -> list[dict[str, Any]]:
    log = folder / "events.jsonl"
    return list(read_events(log)) if log.exists() else []


def cps_facts(bundle: Bundle, d: CeremonyFile, rehearsal: bool) -> cps.CpsFacts:
    root = x509.load_pem_x509_certificate(bundle.read(ROOT_CERT))
    issued = tuple(
        x509.load_pem_x509_certificate(p.read_bytes())
        for p in sorted(bundle.path("issued").glob("*.pem"))
    )
    crl = x509.load_der_x509_crl(bundle.read(ROOT_CRL)) if bundle.exists(ROOT_CRL) else None
    root_folder = bundle.latest_transcript("root")
    assert root_folder is not None
    root_events = list(read_events(root_folder / "events.jsonl"))
    by_step = {e["step"]: e for e in root_events if e["event"] == "step"}
    token = by_step["token.init"]["payload"]["token"]
    backup = by_step.get("backup.create", {}).get("payload", {}).get("backup")
    records = []
    for folder in bundle.transcripts():
        pdf = folder / TRANSCRIPT
        if not pdf.exists():
            continue
        events = list(read_events(folder / "events.jsonl"))
        records.append(
            cps.CeremonyRecord(
                number=int(folder.name[:3]),
                kind=folder.name[4:],
                ceremony_id=events[0]["ceremony"],
                date=_time(events[-1]["time"]),
                transcript=pdf.relative_to(bundle.root).as_posix(),
                transcript_sha256=hashlib.sha256(pdf.read_bytes()).hexdigest(),
            )
        )
    last = max((r.date for r in records), default=_time(root_events[-1]["time"]))
    witnesses = tuple(p.name for p in d.participants if p.role is Role.WITNESS)
    custodians = tuple(p.name for p in d.custodians)
    return cps.CpsFacts(
        ca_name=d.root.subject.common_name,
        root=root,
        issued=issued,
        crl=crl,
        roles=tuple(
            cps.Role(r.value, tuple(p.name for p in d.participants if p.role is r), _DUTIES[r])
            for r in Role
            if any(p.role is r for p in d.participants)
        ),
        quorums=(
            *(
                ()
                if d.protected_authentication_path
                else (
                    cps.Quorum(
                        "activation of the root key (HSM PINs)",
                        d.activation.threshold,
                        d.activation.shares,
                        custodians,
                    ),
                )
            ),
            cps.Quorum(
                "recovery of the root key (backup key)",
                d.backup.threshold,
                d.backup.shares,
                custodians,
            )
            if d.native_backup is None
            else cps.Quorum(
                "the backup device's credentials (HSM-native backup)",
                d.backup.threshold,
                d.backup.shares,
                d.native_backup.credential_holders,
            ),
        ),
        key_generation=cps.KeyGeneration(
            ceremony_id=root_events[0]["ceremony"],
            generated_at=_time(by_step["root.key"]["time"]),
            hsm=cps.HsmInfo(
                token["manufacturer"],
                token["model"],
                token["serial"],
                token["firmware_version"],
                token["label"],
            ),
            key_label=by_step["root.key"]["payload"]["key"]["label"],
            witnesses=witnesses,
        ),
        key_protection=key_protection_lines(
            e for folder in bundle.transcripts() for e in _folder_events(folder)
        ),
        backup=_backup_facts(backup),
        ceremonies=tuple(records),
        generated_at=last,
        software_version=software.version(),
        tokens=token_history(bundle),
        status=certificate_status(bundle, issued, crl),
        rehearsal=rehearsal,
    )


def _backup_facts(backup: dict[str, Any] | None) -> cps.BackupFacts | cps.NativeBackupFacts | None:
    """The CPS's 6.2.4 from the ``backup.create`` event's ``backup`` payload."""
    if backup is None:
        return None
    if backup.get("method") == "hsm-native":
        return cps.NativeBackupFacts(
            device=backup["device"],
            device_serial=backup["device_serial"],
            credential_holders=tuple(backup["credential_holders"]),
            procedure_sha256=backup["procedure_sha256"],
            rehearsal_model=backup.get("rehearsal_device", ""),
        )
    return cps.BackupFacts(
        scheme="SLIP-39 shares of an AES-256 backup key",
        threshold=backup["threshold"],
        shares=backup["shares"],
        wrap_mechanism=backup["wrap_mechanism"],
        check_value=backup["check_value"],
        share_set_id=backup["set_id"],
    )


def _hsm_info(token: dict[str, Any]) -> cps.HsmInfo:
    return cps.HsmInfo(
        str(token.get("manufacturer")),
        str(token.get("model")),
        str(token.get("serial")),
        str(token.get("firmware_version")),
        str(token.get("label")),
    )


def token_history(bundle: Bundle) -> tuple[cps.TokenRecord, ...]:
    """Every token the record put the root key into, and what a recovery said became of it."""
    tokens: list[list[Any]] = []  # [HsmInfo, ceremony id, status]
    for c in record.load(bundle.transcripts()):
        for e in c.events:
            payload = e.get("payload") or {}
            if e.get("step") == "token.init" and isinstance(payload.get("token"), dict):
                if tokens and tokens[-1][2] == HOLDS:
                    tokens[-1][2] = "replaced; what became of it is not recorded"
                tokens.append([_hsm_info(payload["token"]), str(e["ceremony"]), HOLDS])
            elif e.get("step") == "recovery.old-token" and len(tokens) > 1:
                fate = (payload.get("old_token") or {}).get("fate")
                tokens[-2][2] = f"replaced; {FATES.get(str(fate), 'fate not stated')}"
    return tuple(cps.TokenRecord(h, i, s) for h, i, s in tokens)


HOLDS = "holds the root key"


def certificate_status(
    bundle: Bundle,
    issued: tuple[x509.Certificate, ...],
    crl: x509.CertificateRevocationList | None,
) -> dict[str, str]:
    """What became of each issued certificate no longer in force: revoked by the newest
    CRL (with its reason), or a transcript signer another one replaced."""
    from ceremony.audit.x509text import DOCUMENT_SIGNING

    event = record.signer_event(record.load(bundle.transcripts()))
    current = None
    if event is not None:
        path = str(event["payload"]["outputs"][0]["path"])
        current = fingerprint(x509.load_pem_x509_certificate(bundle.read(path)))
    out: dict[str, str] = {}
    for cert in issued:
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number) if crl else None
        if crl is not None and entry is not None:
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value
                why = f" {reason.reason.value}"
            except x509.ExtensionNotFound:
                why = ""
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            out[fingerprint(cert)] = f"revoked:{why} (CRL {number})"
            continue
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if DOCUMENT_SIGNING in usages and current not in (None, fingerprint(cert)):
            out[fingerprint(cert)] = "superseded: no longer signs documents"
    return out


def write_cps(ctx: Context, folder: Path) -> None:
    facts = cps_facts(ctx.bundle, ctx.definition, ctx.rehearsal)
    pdf = cps.render_cps_appendix(facts)
    signed = sign_pdf(
        pdf,
        _signer(ctx),
        clock=lambda: facts.generated_at,
        reason="CPS appendix",
        location=ctx.definition.place,
    )
    ctx.bundle.replace(CPS, signed)


CLOSERS = [write_transcript, write_cps]
