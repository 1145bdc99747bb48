"""The CPS appendix: the facts of the hierarchy, by RFC 3647 section.

Regenerated from the evidence bundle after each ceremony. It holds facts, not
policy prose: who holds which role, which quorum guards what, how and where
the root key was made and backed up, and every field and extension of every
certificate and of the CRL. A machine-readable ``fingerprints.json`` is
attached so a verifier can compare the appendix with the files without
parsing its text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import CondPageBreak, Flowable, Spacer

from ceremony.audit import fonts, layout
from ceremony.audit.layout import FRAME_WIDTH, grid, key_values, mono, para
from ceremony.audit.x509text import (
    certificate_fields,
    crl_fields,
    extension_rows,
    fingerprint,
    key_algorithm,
    oid_name,
    period_text,
    revoked_rows,
    short_name,
    time_text,
)
from ceremony.x509.serial import serial_text

FINGERPRINTS_NAME = "fingerprints.json"


@dataclass(frozen=True)
class Role:
    """A trusted role (RFC 3647 5.2.1)."""

    name: str
    """Role name, e.g. ``crypto officer``."""
    holders: tuple[str, ...]
    """Names of the people holding the role."""
    duties: str
    """What the role does and may not do."""


@dataclass(frozen=True)
class Quorum:
    """An M-of-N control (RFC 3647 5.2.2, 6.2.2)."""

    purpose: str
    """What the quorum unlocks, e.g. ``HSM activation (user PIN)``."""
    threshold: int
    """M: shares needed."""
    shares: int
    """N: shares issued."""
    holders: tuple[str, ...] = ()
    """Names of the share holders."""

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= self.shares:
            raise ValueError(
                f"quorum {self.purpose!r}: need 1 <= threshold <= shares,"
                f" got {self.threshold} of {self.shares}"
            )


@dataclass(frozen=True)
class HsmInfo:
    """The cryptographic module holding the root key (RFC 3647 6.2.1)."""

    manufacturer: str
    """Token manufacturer (``CK_TOKEN_INFO.manufacturerID``)."""
    model: str
    """Token model."""
    serial: str
    """Token serial number."""
    firmware: str
    """Firmware version, e.g. ``2.6``."""
    token_label: str = ""
    """Label of the token holding the root key."""


@dataclass(frozen=True)
class TokenRecord:
    """A token that holds or held the root key (RFC 3647 6.2.1) and what became of it."""

    hsm: HsmInfo
    """The token."""
    ceremony_id: str
    """Ceremony that put the root key into it (the root ceremony or a recovery)."""
    status: str
    """E.g. ``holds the root key`` or, for a replaced token, what the recovery recorded."""


@dataclass(frozen=True)
class KeyGeneration:
    """How the root key pair was made (RFC 3647 6.1.1); algorithm and size come from the root."""

    ceremony_id: str
    """Ceremony that generated the key."""
    generated_at: datetime
    """Time of the key-generation event."""
    hsm: HsmInfo
    """Module the key was generated in."""
    key_label: str
    """PKCS#11 label of the private key."""
    witnesses: tuple[str, ...]
    """Names of the witnesses of the generation."""


@dataclass(frozen=True)
class BackupFacts:
    """The root key backup (RFC 3647 6.2.4), as in ``backup/backup.json``."""

    scheme: str
    """How the backup works, e.g. ``SLIP-39 shares of a random AES-256 wrapping key``."""
    threshold: int
    """Shares needed to rebuild the backup key."""
    shares: int
    """Shares issued."""
    wrap_mechanism: str
    """PKCS#11 mechanism wrapping the root key, e.g. ``CKM_AES_KEY_WRAP_PAD``."""
    check_value: str
    """Check value of the backup key (hex)."""
    share_set_id: str
    """Identifier of the share set."""

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= self.shares:
            raise ValueError(
                f"backup: need 1 <= threshold <= shares, got {self.threshold} of {self.shares}"
            )


@dataclass(frozen=True)
class NativeBackupFacts:
    """An hsm-native backup (RFC 3647 6.2.4): the HSM vendor's means hold the root key's copy."""

    device: str
    """What the backup device is."""
    device_serial: str
    """Its serial number, confirmed in the room."""
    credential_holders: tuple[str, ...]
    """Who holds the backup device's credentials."""
    procedure_sha256: str
    """SHA-256 of the vendor's procedure text the ceremony file supplied (lowercase hex)."""
    rehearsal_model: str = ""
    """How a rehearsal modelled the device (empty for a real ceremony)."""


@dataclass(frozen=True)
class CeremonyRecord:
    """One ceremony of the bundle and its transcript."""

    number: int
    """Sequence number (the ``NNN`` of ``transcripts/NNN-kind``)."""
    kind: str
    """Ceremony kind, e.g. ``root``."""
    ceremony_id: str
    """Identifier of the ceremony."""
    date: datetime
    """Time of the ceremony's last event."""
    transcript: str
    """Path of the signed transcript inside the bundle."""
    transcript_sha256: str
    """SHA-256 of the signed transcript file, lowercase hex."""


@dataclass(frozen=True)
class CpsFacts:
    """Everything the CPS appendix states."""

    ca_name: str
    """Name of the hierarchy, used as the title."""
    root: x509.Certificate
    """The self-signed root certificate."""
    issued: tuple[x509.Certificate, ...]
    """Every certificate the hierarchy issued (intermediates, transcript signer, ...)."""
    crl: x509.CertificateRevocationList | None
    """The newest root CRL."""
    roles: tuple[Role, ...]
    """Trusted roles and who holds them (5.2.1)."""
    quorums: tuple[Quorum, ...]
    """M-of-N controls (5.2.2, 6.2.2)."""
    key_generation: KeyGeneration
    """Generation of the root key (6.1.1)."""
    key_protection: tuple[str, ...]
    """How the private key is stored in the module (6.2.7), e.g. its PKCS#11 attributes."""
    backup: BackupFacts | NativeBackupFacts | None
    """The root key backup (6.2.4), or ``None`` when there is none."""
    ceremonies: tuple[CeremonyRecord, ...]
    """Every ceremony of the bundle so far, in order."""
    generated_at: datetime
    """Date of the appendix (the last ceremony's last event); also the PDF date."""
    software_version: str
    """Version of the ceremony tool."""
    tokens: tuple[TokenRecord, ...] = ()
    """Every token that has held the root key, oldest first."""
    status: Mapping[str, str] = field(default_factory=dict)
    """SHA-256 fingerprint -> what became of a certificate no longer in force, e.g.
    ``revoked: keyCompromise (CRL 3)`` or ``superseded: no longer signs documents``."""
    rehearsal: bool = False
    """Mark every page REHEARSAL."""

    def __post_init__(self) -> None:
        if not isinstance(self.root, x509.Certificate):
            raise TypeError("root must be a cryptography x509.Certificate")
        if not all(isinstance(c, x509.Certificate) for c in self.issued):
            raise TypeError("issued must hold cryptography x509.Certificate objects")
        if self.crl is not None and not isinstance(self.crl, x509.CertificateRevocationList):
            raise TypeError("crl must be a cryptography x509.CertificateRevocationList")


def render_cps_appendix(facts: CpsFacts) -> bytes:
    """Render the CPS appendix PDF (unsigned); same facts, same bytes."""
    st = layout.styles()
    spec = layout.DocumentSpec(
        title=f"CPS appendix: {facts.ca_name}",
        subject=f"Certification practice facts of {facts.ca_name} (RFC 3647 structure)",
        footer=f"CPS appendix · {facts.ca_name}" + (" · REHEARSAL" if facts.rehearsal else ""),
        created=facts.generated_at,
        creator=f"ceremony {facts.software_version}",
        rehearsal=facts.rehearsal,
        attachments=(
            layout.Attachment(
                name=FINGERPRINTS_NAME,
                data=fingerprints_json(facts),
                description="SHA-256 fingerprints of the certificates, CRL and transcripts",
                mime_type="application/json",
                modified=facts.generated_at,
            ),
        ),
    )
    story: list[Flowable] = [
        para("Certification Practice Statement: appendix", st.title),
        para(facts.ca_name, st.subtitle),
        para(
            f"Generated from the evidence bundle on {time_text(facts.generated_at)} by ceremony "
            f"{facts.software_version}. Section numbers follow RFC 3647; this appendix records "
            "the facts of the key ceremonies and the certificates, the policy text is in the "
            "CPS itself.",
            st.body,
        ),
    ]
    story += _hierarchy(facts)
    story += _roles(facts)
    story += _key_generation(facts)
    story += _key_protection(facts)
    story += _validity(facts)
    story += _certificate_profiles(facts)
    story += _crl_profile(facts)
    story += _fingerprints(facts)
    story += _ceremonies(facts)
    return layout.build_pdf(story, spec)


def fingerprints_json(facts: CpsFacts) -> bytes:
    """The attached machine-readable fingerprints (canonical JSON, one object)."""
    doc: dict[str, Any] = {
        "certificates": [
            {
                "subject": c.subject.rfc4514_string(),
                "serial": serial_text(c.serial_number),
                "sha256": fingerprint(c),
            }
            for c in _all_certs(facts)
        ],
        "crl": None
        if facts.crl is None
        else {"issuer": facts.crl.issuer.rfc4514_string(), "sha256": fingerprint(facts.crl)},
        "transcripts": [
            {"path": c.transcript, "sha256": c.transcript_sha256} for c in facts.ceremonies
        ],
    }
    return json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False).encode() + b"\n"


def _all_certs(facts: CpsFacts) -> list[x509.Certificate]:
    return [facts.root, *facts.issued]


def _section(number: str, title: str) -> list[Flowable]:
    heading = f"{number} {title}" if number else title
    return [CondPageBreak(40 * mm), para(heading, layout.styles().h1)]


def _subsection(number: str, title: str) -> Flowable:
    return para(f"{number} {title}", layout.styles().h2)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _role_text(cert: x509.Certificate) -> str:
    if cert.issuer == cert.subject:
        return "root CA"
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is not None and bc.ca:
        depth = "" if bc.path_length is None else f", path length {bc.path_length}"
        return f"subordinate CA{depth}"
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        return "end entity: " + ", ".join(oid_name(o) for o in eku)
    except x509.ExtensionNotFound:
        return "end entity"


# -- 1.3 ---------------------------------------------------------------------------------------

_ROW_H = 15 * mm
_BOX_H = 11 * mm
_INDENT = 10 * mm
_BOX_W = 120 * mm
_STEM = 5 * mm


@dataclass(frozen=True)
class _TreeRow:
    cert: x509.Certificate
    depth: int
    last: bool
    open_levels: tuple[bool, ...]
    has_children: bool
    status: str = ""
    """``revoked`` or ``superseded`` for a certificate no longer in force."""


def _tree_rows(facts: CpsFacts) -> list[_TreeRow]:
    certs = _all_certs(facts)
    children: dict[int, list[int]] = {i: [] for i in range(len(certs))}
    tops: list[int] = []
    for i, c in enumerate(certs):
        parents = [j for j, p in enumerate(certs) if j != i and p.subject == c.issuer and _is_ca(p)]
        if c.issuer == c.subject or not parents:
            tops.append(i)
        else:
            children[parents[0]].append(i)
    rows: list[_TreeRow] = []

    def walk(i: int, depth: int, last: bool, open_levels: tuple[bool, ...]) -> None:
        state = facts.status.get(fingerprint(certs[i]), "").split(":")[0]
        rows.append(_TreeRow(certs[i], depth, last, open_levels, bool(children[i]), state))
        kids = children[i]
        for n, k in enumerate(kids):
            walk(k, depth + 1, n == len(kids) - 1, (*open_levels, not last) if depth else ())

    for n, i in enumerate(tops):
        walk(i, 0, n == len(tops) - 1, ())
    return rows


def _tree_row_drawing(row: _TreeRow) -> Drawing:
    d = Drawing(FRAME_WIDTH, _ROW_H)
    line = {"strokeColor": colors.black, "strokeWidth": 0.7}
    mid = _ROW_H - _BOX_H / 2
    x0 = row.depth * _INDENT
    for level, is_open in enumerate(row.open_levels):
        if is_open:
            x = level * _INDENT + _STEM
            d.add(Line(x, 0, x, _ROW_H, **line))
    if row.depth:
        x = (row.depth - 1) * _INDENT + _STEM
        d.add(Line(x, _ROW_H, x, mid, **line))
        d.add(Line(x, mid, x0, mid, **line))
        if not row.last:
            d.add(Line(x, mid, x, 0, **line))
    if row.has_children:
        d.add(Line(x0 + _STEM, _ROW_H - _BOX_H, x0 + _STEM, 0, **line))
    ca = _is_ca(row.cert)
    d.add(
        Rect(
            x0,
            _ROW_H - _BOX_H,
            _BOX_W,
            _BOX_H,
            strokeColor=colors.black,
            strokeWidth=1.2 if ca else 0.6,
            strokeDashArray=None if ca else [2, 2],
            fillColor=layout.SHADE if row.depth == 0 else colors.white,
        )
    )
    cert = row.cert
    algorithm, size = key_algorithm(cert.public_key())
    if algorithm in ("RSA", "DSA"):
        algorithm = f"{algorithm} {size}"
    status = row.status
    lines = [
        (fonts.SANS_BOLD, 8, short_name(cert.subject) + (f" · {status.upper()}" if status else "")),
        (fonts.SANS, 6.8, f"{_role_text(cert)} · {algorithm}"),
        (
            fonts.SANS,
            6.8,
            f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}"
            f" · SHA-256 {fingerprint(cert)[:16]}…",
        ),
    ]
    y = _ROW_H - 3.6 * mm
    for font, size_pt, text in lines:
        d.add(
            String(
                x0 + 2 * mm,
                y,
                _fit(text, font, size_pt, _BOX_W - 4 * mm),
                fontName=font,
                fontSize=size_pt,
            )
        )
        y -= 3.2 * mm
    return d


def _fit(text: str, font: str, size: float, width: float) -> str:
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _hierarchy(facts: CpsFacts) -> list[Flowable]:
    st = layout.styles()
    out = _section("1.3", "PKI participants")
    out.append(_subsection("1.3.1", "Certification authorities and other certificate holders"))
    out.append(
        para(
            "Solid boxes are CAs, dashed boxes end-entity certificates. Each line joins a "
            "certificate to its issuer.",
            st.body,
        )
    )
    out += [_tree_row_drawing(r) for r in _tree_rows(facts)]
    out.append(Spacer(1, 3 * mm))
    rows: list[list[object]] = [["Certificate", "Role", "Issuer", "Serial number", "Status"]]
    for c in _all_certs(facts):
        rows.append(
            [
                short_name(c.subject),
                _role_text(c),
                short_name(c.issuer),
                mono(serial_text(c.serial_number), 16),
                facts.status.get(fingerprint(c), "in force"),
            ]
        )
    widths = [40 * mm, 36 * mm, 32 * mm, 28 * mm]
    widths.append(FRAME_WIDTH - sum(widths))
    out.append(grid(rows, widths))
    return out


# -- 5.2 ---------------------------------------------------------------------------------------


def _roles(facts: CpsFacts) -> list[Flowable]:
    st = layout.styles()
    out = _section("5.2", "Procedural controls")
    out.append(_subsection("5.2.1", "Trusted roles"))
    if facts.roles:
        rows: list[list[object]] = [["Role", "Held by", "Duties"]]
        rows += [[r.name, "\n".join(r.holders) or "-", r.duties] for r in facts.roles]
        out.append(grid(rows, [40 * mm, 50 * mm, FRAME_WIDTH - 90 * mm]))
    else:
        out.append(para("No roles recorded.", st.body))
    out.append(_subsection("5.2.2", "Number of persons required per task (M-of-N quorums)"))
    if facts.quorums:
        rows = [["Task", "Quorum", "Share holders"]]
        rows += [
            [q.purpose, f"{q.threshold} of {q.shares}", ", ".join(q.holders) or "-"]
            for q in facts.quorums
        ]
        out.append(grid(rows, [60 * mm, 20 * mm, FRAME_WIDTH - 80 * mm]))
    else:
        out.append(para("No quorums recorded.", st.body))
    return out


# -- 6.1, 6.2 ----------------------------------------------------------------------------------


def _hsm_text(hsm: HsmInfo) -> str:
    text = f"{hsm.manufacturer} {hsm.model}, serial {hsm.serial}, firmware {hsm.firmware}"
    return text + (f", token {hsm.token_label}" if hsm.token_label else "")


def _key_generation(facts: CpsFacts) -> list[Flowable]:
    kg = facts.key_generation
    algorithm, size = key_algorithm(facts.root.public_key())
    out = _section("6.1", "Key pair generation and installation")
    out.append(_subsection("6.1.1", "Key pair generation"))
    out.append(
        key_values(
            [
                ("Key", para(f"root CA key {kg.key_label!r}")),
                ("Algorithm", para(algorithm)),
                ("Key size", para(f"{size} bits")),
                ("Generated in", para(_hsm_text(kg.hsm))),
                ("HSM manufacturer", para(kg.hsm.manufacturer)),
                ("HSM model", para(kg.hsm.model)),
                ("HSM serial number", para(kg.hsm.serial)),
                ("HSM firmware", para(kg.hsm.firmware)),
                ("Date", para(time_text(kg.generated_at))),
                ("Ceremony", para(kg.ceremony_id)),
                ("Witnesses", para(", ".join(kg.witnesses) or "-")),
                ("Public key SHA-256", mono(_spki_sha256(facts.root), 64)),
            ],
            45 * mm,
        )
    )
    return out


def _spki_sha256(cert: x509.Certificate) -> str:
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _key_protection(facts: CpsFacts) -> list[Flowable]:
    st = layout.styles()
    out = _section("6.2", "Private key protection and cryptographic module controls")
    out.append(_subsection("6.2.1", "Cryptographic module"))
    current = facts.tokens[-1].hsm if facts.tokens else facts.key_generation.hsm
    out.append(para(_hsm_text(current), st.body))
    if len(facts.tokens) > 1:
        held: list[list[object]] = [["Token", "Root key put in by", "Status"]]
        held += [[_hsm_text(t.hsm), t.ceremony_id, t.status] for t in facts.tokens]
        out.append(para("Tokens that hold or held the root key:", st.body))
        out.append(grid(held, [FRAME_WIDTH * 0.5, FRAME_WIDTH * 0.25, FRAME_WIDTH * 0.25]))
    out.append(_subsection("6.2.2", "Private key multi-person control"))
    if facts.quorums:
        for q in facts.quorums:
            out.append(para(f"{q.purpose}: {q.threshold} of {q.shares} share holders.", st.body))
    else:
        out.append(para("No quorums recorded.", st.body))
    out.append(_subsection("6.2.4", "Private key backup"))
    b = facts.backup
    if b is None:
        out.append(para("The root key has no backup.", st.body))
    elif isinstance(b, NativeBackupFacts):
        rows = [
            ("Scheme", para("HSM-native: the root key never leaves the HSM; the vendor's means")),
            ("Backup device", para(b.device)),
            ("Device serial", para(b.device_serial)),
            ("Credential holders", para(", ".join(b.credential_holders))),
            ("Procedure SHA-256", mono(b.procedure_sha256, 64)),
        ]
        if b.rehearsal_model:
            rows.append(("Rehearsal", para(b.rehearsal_model)))
        out.append(key_values(rows, 45 * mm))
    else:
        out.append(
            key_values(
                [
                    ("Scheme", para(b.scheme)),
                    ("Threshold", para(f"{b.threshold} of {b.shares} shares")),
                    ("Share count", para(str(b.shares))),
                    ("Share set", para(b.share_set_id)),
                    ("Wrap mechanism", para(b.wrap_mechanism)),
                    ("Backup key check value", mono(b.check_value, 64)),
                ],
                45 * mm,
            )
        )
    if facts.key_protection:
        out.append(_subsection("6.2.7", "Private key storage on cryptographic module"))
        out += [para(f"• {line}", st.body) for line in facts.key_protection]
    return out


# -- 6.3.2 -------------------------------------------------------------------------------------


def _validity(facts: CpsFacts) -> list[Flowable]:
    out = _section("6.3.2", "Certificate operational periods and key pair usage periods")
    rows: list[list[object]] = [["Certificate", "Not before", "Not after", "Period"]]
    for c in _all_certs(facts):
        rows.append(
            [
                short_name(c.subject),
                time_text(c.not_valid_before_utc),
                time_text(c.not_valid_after_utc),
                period_text(c.not_valid_before_utc, c.not_valid_after_utc),
            ]
        )
    crl = facts.crl
    next_update = crl.next_update_utc if crl is not None else None
    if crl is not None and next_update is not None:
        rows.append(
            [
                f"CRL of {short_name(crl.issuer)}",
                time_text(crl.last_update_utc),
                time_text(next_update),
                period_text(crl.last_update_utc, next_update),
            ]
        )
    widths = [55 * mm, 38 * mm, 38 * mm]
    widths.append(FRAME_WIDTH - sum(widths))
    out.append(grid(rows, widths))
    return out


# -- 7.1, 7.2 ----------------------------------------------------------------------------------


def _fields_table(pairs: Sequence[tuple[str, str]]) -> Flowable:
    return key_values([(k, para(v)) for k, v in pairs], 38 * mm)


def _extensions_table(extensions: x509.Extensions) -> Flowable:
    st = layout.styles()
    rows: list[list[object]] = [["Extension", "Criticality", "Value"]]
    for name, critical, value in extension_rows(extensions):
        rows.append([name, critical, para(value)])
    if len(rows) == 1:
        return para("No extensions.", st.body)
    return grid(rows, [52 * mm, 20 * mm, FRAME_WIDTH - 72 * mm])


def _certificate_profiles(facts: CpsFacts) -> list[Flowable]:
    st = layout.styles()
    out = _section("7.1", "Certificate profiles")
    for n, cert in enumerate(_all_certs(facts), 1):
        out.append(CondPageBreak(60 * mm))
        out.append(_subsection(f"7.1.{n}", f"{short_name(cert.subject)} ({_role_text(cert)})"))
        out.append(_fields_table(certificate_fields(cert)))
        out.append(Spacer(1, 2 * mm))
        out.append(_extensions_table(cert.extensions))
        out.append(Spacer(1, 1 * mm))
        out.append(para(f"SHA-256 fingerprint: {fingerprint(cert)}", st.small))
    return out


def _crl_profile(facts: CpsFacts) -> list[Flowable]:
    st = layout.styles()
    out = _section("7.2", "CRL profile")
    crl = facts.crl
    if crl is None:
        out.append(para("No CRL has been issued yet.", st.body))
        return out
    out.append(_fields_table(crl_fields(crl)))
    out.append(Spacer(1, 2 * mm))
    out.append(_extensions_table(crl.extensions))
    revoked = revoked_rows(crl)
    if revoked:
        out.append(para("Revoked certificates", st.h3))
        rows: list[list[object]] = [["Serial number", "Revocation date", "Entry extensions"]]
        rows += [[mono(s, 32), d, para(e)] for s, d, e in revoked]
        out.append(grid(rows, [60 * mm, 40 * mm, FRAME_WIDTH - 100 * mm]))
    out.append(Spacer(1, 1 * mm))
    out.append(para(f"SHA-256 fingerprint: {fingerprint(crl)}", st.small))
    return out


# -- fingerprints and ceremonies ---------------------------------------------------------------


def _fingerprints(facts: CpsFacts) -> list[Flowable]:
    out = _section("", "Fingerprints (SHA-256 of the DER encoding)")
    rows: list[list[object]] = [["Object", "SHA-256"]]
    for c in _all_certs(facts):
        rows.append([short_name(c.subject), mono(fingerprint(c), 64)])
    if facts.crl is not None:
        rows.append([f"CRL of {short_name(facts.crl.issuer)}", mono(fingerprint(facts.crl), 64)])
    out.append(grid(rows, [FRAME_WIDTH - 110 * mm, 110 * mm]))
    return out


def _ceremonies(facts: CpsFacts) -> list[Flowable]:
    st = layout.styles()
    out = _section("", "Ceremonies and their transcripts")
    if not facts.ceremonies:
        out.append(para("No ceremonies recorded.", st.body))
        return out
    rows: list[list[object]] = [["#", "Ceremony", "Date (UTC)", "Transcript and its SHA-256"]]
    for c in facts.ceremonies:
        rows.append(
            [
                f"{c.number:03d}",
                f"{c.kind}\n{c.ceremony_id}",
                time_text(c.date),
                [para(c.transcript), mono(c.transcript_sha256)],
            ]
        )
    widths = [10 * mm, 40 * mm, 30 * mm]
    widths.append(FRAME_WIDTH - sum(widths))
    out.append(grid(rows, widths))
    return out
