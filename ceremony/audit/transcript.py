"""The PDF transcript of one ceremony, rendered from its event log.

Modelled on the IANA root KSK ceremony scripts: a cover with the facts the
participants read aloud, the script as a table with a box for the witness's
initials, the exceptions, every artifact with its hash, and a page for wet
signatures. The event log itself is attached as ``events.jsonl``.

The same events and :class:`TranscriptInfo` always give the same bytes: the
dates come from the log, the fonts are shipped with the tool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import qrcode
from cryptography import x509
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, PageBreak, Spacer, Table

from ceremony.audit import fonts, layout
from ceremony.audit.eventlog import EVENTS_NAME, Actor, canonical, check_chain
from ceremony.audit.facts import ceremony_facts
from ceremony.audit.layout import FRAME_WIDTH, grid, key_values, mono, para
from ceremony.audit.transcript_evidence import evidence_section, participants_table
from ceremony.audit.x509text import certificate_summary, crl_summary, short_name
from ceremony.errors import InputError
from ceremony.pgpwords import words

EVENTS_MIME = "application/jsonl"


@dataclass(frozen=True)
class Artifact:
    """One input or output file of the ceremony."""

    path: str
    """Path relative to the evidence bundle (or as brought on media, for inputs)."""
    size: int
    """Size in bytes."""
    sha256: str
    """SHA-256 of the file, lowercase hex."""
    direction: str = "output"
    """``"input"`` (brought into the room) or ``"output"`` (written by the ceremony)."""
    summary: tuple[str, ...] = ()
    """Extra lines, e.g. certificate subject, serial and fingerprint."""

    def __post_init__(self) -> None:
        if self.direction not in ("input", "output"):
            raise ValueError(f"artifact direction must be input or output, not {self.direction!r}")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"artifact {self.path}: sha256 must be 64 lowercase hex digits")
        if self.size < 0:
            raise ValueError(f"artifact {self.path}: negative size")


@dataclass(frozen=True)
class TranscriptInfo:
    """What the transcript states beyond the event log."""

    kind: str
    """Ceremony kind, e.g. ``root``, ``sign-csr``, ``crl``, ``restore``."""
    ceremony_id: str
    """Identifier of the ceremony; every event's ``ceremony`` field must equal it."""
    place: str
    """Where the ceremony took place."""
    software_version: str
    """Version of the ceremony tool."""
    software_sha256: str
    """SHA-256 of the installed software package, lowercase hex."""
    ceremony_file_sha256: str
    """SHA-256 of the reviewed ceremony file, lowercase hex (also shown as PGP words)."""
    participants: tuple[Actor, ...]
    """Everyone present, with their ceremony role; each gets a sign-off row."""
    rehearsal: bool = False
    """Mark every page REHEARSAL."""
    artifacts: tuple[Artifact, ...] = ()
    """Every input and output file."""
    certificates: tuple[x509.Certificate, ...] = ()
    """Certificates made or used by the ceremony, summarised with fingerprints."""
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    """CRLs made by the ceremony, summarised with fingerprints."""
    number: int | None = None
    """The ceremony's number in its bundle (``NNN`` of its folder): the head's count."""
    root_fingerprint: str | None = None
    """SHA-256 of the bundle's root certificate, lowercase hex; ``None`` before it exists."""

    def __post_init__(self) -> None:
        for label, value in (
            ("software_sha256", self.software_sha256),
            ("ceremony_file_sha256", self.ceremony_file_sha256),
        ):
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise ValueError(f"{label} must be 64 lowercase hex digits")
        if not self.participants:
            raise ValueError("a transcript needs at least one participant")


def render_transcript(
    events: Sequence[Mapping[str, Any]], info: TranscriptInfo, log_bytes: bytes | None = None
) -> bytes:
    """Render the transcript PDF (unsigned).

    :param events: the ceremony's events, as read from ``events.jsonl``.
    :param info: the facts the log does not hold.
    :param log_bytes: the exact bytes of ``events.jsonl`` to attach; by default
        the canonical serialisation of ``events``, which is what
        :class:`~ceremony.audit.eventlog.EventLog` writes.
    :raises InputError: the log is empty, its hash chain is broken, it belongs
        to another ceremony, or ``log_bytes`` holds other events.
    """
    evs = [dict(e) for e in events]
    _check_events(evs, info)
    if log_bytes is None:
        log_bytes = b"".join(canonical(e) + b"\n" for e in evs)
    elif _parse_log(log_bytes) != evs:
        raise InputError(f"{EVENTS_NAME}: the attached log does not hold the rendered events")
    last = _event_time(evs[-1])
    spec = layout.DocumentSpec(
        title=f"Key ceremony transcript: {info.kind} {info.ceremony_id}",
        subject=f"Transcript of the {info.kind} key ceremony {info.ceremony_id}",
        footer=f"Transcript · {info.kind} ceremony {info.ceremony_id}"
        + (" · REHEARSAL" if info.rehearsal else ""),
        created=last,
        creator=f"ceremony {info.software_version}",
        rehearsal=info.rehearsal,
        attachments=(
            layout.Attachment(
                name=EVENTS_NAME,
                data=log_bytes,
                description="Hash-chained event log of this ceremony (JSON lines)",
                mime_type=EVENTS_MIME,
                modified=last,
            ),
        ),
    )
    story: list[Flowable] = []
    story += _cover(evs, info)
    story += evidence_section(evs)
    story += _script(evs)
    story += _exceptions(evs)
    story += _artifacts(info)
    story += _certificates(info)
    story += _event_log(evs)
    story += _sign_off(info, evs[-1]["hash"])
    return layout.build_pdf(story, spec)


def _check_events(events: list[dict[str, Any]], info: TranscriptInfo) -> None:
    if not events:
        raise InputError(f"{EVENTS_NAME}: the event log is empty")
    problems = check_chain(events, str(events[0].get("prev", "")))
    if problems:
        raise InputError(f"{EVENTS_NAME}: event log is damaged: {problems[0]}")
    for e in events:
        if e["ceremony"] != info.ceremony_id:
            raise InputError(
                f"{EVENTS_NAME}: event {e['seq']} belongs to ceremony {e['ceremony']!r},"
                f" not {info.ceremony_id!r}"
            )
        _event_time(e)


def _parse_log(data: bytes) -> list[Any]:
    try:
        return [json.loads(line) for line in data.splitlines() if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError) as ex:
        raise InputError(f"{EVENTS_NAME}: not valid JSON lines") from ex


def _event_time(event: Mapping[str, Any]) -> datetime:
    try:
        return datetime.strptime(str(event["time"]), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError as ex:
        raise InputError(
            f"{EVENTS_NAME}: event {event.get('seq')} has a malformed time {event['time']!r}"
        ) from ex


def _utc(event: Mapping[str, Any]) -> str:
    return _event_time(event).strftime("%Y-%m-%d %H:%M:%S")


def _result(event: Mapping[str, Any]) -> str:
    return str(_payload(event).get("result", "done"))


def _actor(event: Mapping[str, Any]) -> str:
    actor = event.get("actor") or {}
    name = str(actor.get("name", ""))
    role = str(actor.get("role", ""))
    return f"{name}\n({role})" if role else name


def _payload(event: Mapping[str, Any]) -> Mapping[str, Any]:
    payload = event.get("payload")
    return payload if isinstance(payload, Mapping) else {}


def _cover(events: list[dict[str, Any]], info: TranscriptInfo) -> list[Flowable]:
    st = layout.styles()
    first, last = _utc(events[0]), _utc(events[-1])
    words_text = words(bytes.fromhex(info.ceremony_file_sha256))
    rows: list[tuple[str, object]] = [
        ("Ceremony kind", para(info.kind)),
        ("Ceremony identifier", para(info.ceremony_id)),
        ("Date (UTC)", para(f"{first} to {last}")),
        ("Place", para(info.place)),
        ("Software", para(f"ceremony {info.software_version}")),
        ("Software package SHA-256", mono(info.software_sha256, 64)),
        ("Ceremony file SHA-256", mono(info.ceremony_file_sha256, 64)),
        ("Ceremony file, PGP words", para(words_text)),
        ("Events in the log", para(str(len(events)))),
        ("Final event hash", mono(events[-1]["hash"], 64)),
    ]
    if info.rehearsal:
        rows.insert(0, ("Status", para("REHEARSAL: not a real ceremony", st.cell_bold)))
    people = participants_table(
        ceremony_facts(events), [(p.name, p.role) for p in info.participants]
    )
    return [
        para("Key ceremony transcript", st.title),
        para(f"{info.kind} ceremony {info.ceremony_id}", st.subtitle),
        key_values(rows, 45 * mm),
        Spacer(1, 5 * mm),
        para("Participants", st.h2),
        people,
        Spacer(1, 4 * mm),
        para(
            "The machine-readable event log is attached to this document as "
            f"{EVENTS_NAME}. Each event carries the SHA-256 of its predecessor, so the "
            "final event hash above fixes the whole log. The witness initials each step "
            "of the script and records any deviation under Exceptions.",
            st.body,
        ),
        PageBreak(),
    ]


def _script(events: list[dict[str, Any]]) -> list[Flowable]:
    st = layout.styles()
    steps = [e for e in events if e["event"] == "step"]
    step_w = max(30 * mm, layout.unbroken_width([str(e["step"]) for e in steps], st.cell_mono))
    actor_w = max(30 * mm, layout.unbroken_width([_actor(e) for e in steps], st.cell))
    result_w = max(14 * mm, layout.unbroken_width([_result(e) for e in steps], st.cell))
    widths = [8 * mm, step_w, 0.0, actor_w, 16 * mm, 19 * mm, result_w]
    widths[2] = FRAME_WIDTH - sum(widths)
    rows: list[list[object]] = [
        ["#", "Step", "Activity", "Actor", "Witness initials", "Time (UTC)", "Result"]
    ]
    for e in steps:
        payload = _payload(e)
        rows.append(
            [
                para(str(e["seq"])),
                para(str(e["step"]), st.cell_mono),
                para(str(payload.get("activity") or e["step"])),
                para(_actor(e)),
                layout.Box(12 * mm, 7 * mm),
                para(_utc(e).replace(" ", "\n")),
                para(_result(e)),
            ]
        )
    out: list[Flowable] = [para("Script", st.h1)]
    if len(rows) == 1:
        out.append(para("No steps were recorded.", st.body))
    else:
        out.append(grid(rows, widths))
    return out


def _exceptions(events: list[dict[str, Any]]) -> list[Flowable]:
    st = layout.styles()
    found = [e for e in events if e["event"] == "exception"]
    out: list[Flowable] = [CondPageBreak(60 * mm), para("Exceptions", st.h1)]
    if found:
        step_w = max(31 * mm, layout.unbroken_width([str(e["step"]) for e in found], st.cell_mono))
        actor_w = max(24 * mm, layout.unbroken_width([_actor(e) for e in found], st.cell))
        widths = [8 * mm, 19 * mm, step_w, 0.0, 41 * mm, actor_w]
        widths[3] = FRAME_WIDTH - sum(widths)
        rows: list[list[object]] = [
            ["#", "Time (UTC)", "Step", "Description", "Remediation", "Recorded by"]
        ]
        for e in found:
            payload = _payload(e)
            rows.append(
                [
                    para(str(e["seq"])),
                    para(_utc(e).replace(" ", "\n")),
                    para(str(e["step"]), st.cell_mono),
                    para(str(payload.get("description", ""))),
                    para(str(payload.get("remediation", ""))),
                    para(_actor(e)),
                ]
            )
        out.append(grid(rows, widths))
    else:
        out.append(para("No exceptions were recorded in the event log.", st.body))
    blank = [["Step", "Description and remediation", "Initials"]] + [["", "", ""]] * 3
    out.append(
        KeepTogether(
            [
                Spacer(1, 3 * mm),
                para("Deviations noticed by the witness and not in the log (by hand):", st.small),
                grid(blank, [25 * mm, FRAME_WIDTH - 45 * mm, 20 * mm], row_height=10 * mm),
            ]
        )
    )
    return out


def _artifacts(info: TranscriptInfo) -> list[Flowable]:
    st = layout.styles()
    out: list[Flowable] = [CondPageBreak(50 * mm), para("Artifacts", st.h1)]
    if not info.artifacts:
        out.append(para("The ceremony read and wrote no files.", st.body))
        return out
    widths = [14 * mm, FRAME_WIDTH - 14 * mm - 18 * mm - 58 * mm, 18 * mm, 58 * mm]
    rows: list[list[object]] = [["In/out", "Path", "Size (bytes)", "SHA-256"]]
    for a in info.artifacts:
        path: list[Flowable] = [para(a.path, st.cell_bold)]
        path += [para(line) for line in a.summary]
        rows.append([para(a.direction), path, para(str(a.size)), mono(a.sha256)])
    out.append(grid(rows, widths))
    return out


def _certificates(info: TranscriptInfo) -> list[Flowable]:
    st = layout.styles()
    out: list[Flowable] = []
    if info.certificates:
        out += [CondPageBreak(60 * mm), para("Certificates", st.h1)]
        for cert in info.certificates:
            out.append(
                KeepTogether(
                    [para(short_name(cert.subject), st.h3), _summary(certificate_summary(cert))]
                )
            )
    if info.crls:
        out += [CondPageBreak(50 * mm), para("Certificate revocation lists", st.h1)]
        for crl in info.crls:
            out.append(
                KeepTogether([para(short_name(crl.issuer), st.h3), _summary(crl_summary(crl))])
            )
    return out


def _summary(pairs: list[tuple[str, str]]) -> Table:
    rows: list[tuple[str, object]] = []
    for label, value in pairs:
        rows.append((label, mono(value, 64) if label.startswith("SHA-256") else para(value)))
    return key_values(rows, 38 * mm)


def _event_log(events: list[dict[str, Any]]) -> list[Flowable]:
    st = layout.styles()
    head = events[-1]["hash"]
    widths = [8 * mm, 20 * mm, 19 * mm, 62 * mm]
    widths.append(FRAME_WIDTH - sum(widths))
    rows: list[list[object]] = [["#", "Time (UTC)", "Event", "Step", "Event hash (SHA-256)"]]
    for e in events:
        rows.append(
            [
                para(str(e["seq"])),
                para(_utc(e).replace(" ", "\n")),
                para(str(e["event"])),
                para(str(e["step"]), st.cell_mono),
                mono(e["hash"]),
            ]
        )
    qr = _QrCode(head, 38 * mm)
    final = Table(
        [
            [
                qr,
                [
                    para("Final event hash (head of the hash chain)", st.cell_bold),
                    mono(head, 64),
                    Spacer(1, 2 * mm),
                    para(words(bytes.fromhex(head))),
                ],
            ]
        ],
        colWidths=[42 * mm, FRAME_WIDTH - 42 * mm],
        hAlign="LEFT",
    )
    final.setStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("FONT", (0, 0), (-1, -1), fonts.SANS)])
    return [
        PageBreak(),
        para("Event log", st.h1),
        para(
            f"All {len(events)} events of the attached {EVENTS_NAME}. The QR code holds the "
            "final event hash in hex.",
            st.body,
        ),
        final,
        Spacer(1, 4 * mm),
        grid(rows, widths),
    ]


def _head(info: TranscriptInfo, final_hash: str) -> list[Flowable]:
    """The bundle's head after this ceremony, as ``ceremony verify`` ends with it."""
    st = layout.styles()
    count = f"{info.number}" if info.number is not None else "not numbered"
    root = info.root_fingerprint
    rows: list[tuple[str, object]] = [
        ("Ceremonies in the bundle", para(count)),
        ("Final event hash", mono(final_hash, 64)),
        ("Final event hash, PGP words", para(words(bytes.fromhex(final_hash)))),
        (
            "Root certificate SHA-256",
            mono(root, 64) if root else para("no root certificate yet"),
        ),
    ]
    if root:
        rows.append(("Root fingerprint, PGP words", para(words(bytes.fromhex(root)))))
    return [
        para("Head of the evidence bundle", st.h2),
        para(
            "After this ceremony the bundle's hash chain ends here. ceremony verify prints the "
            "same values at its end; keep them apart from the bundle and pass the final event "
            "hash to ceremony verify --expect-head, so a bundle rolled back or extended "
            "without you is noticed.",
            st.body,
        ),
        key_values(rows, 45 * mm),
        Spacer(1, 4 * mm),
    ]


def _sign_off(info: TranscriptInfo, final_hash: str) -> list[Flowable]:
    st = layout.styles()
    widths = [40 * mm, 30 * mm, 42 * mm, 22 * mm, 16 * mm]
    widths.append(FRAME_WIDTH - sum(widths))
    rows: list[list[object]] = [["Printed name", "Role", "Signature", "Date", "Time", "Time zone"]]
    rows += [[p.name, p.role, "", "", "", ""] for p in info.participants]
    return [
        PageBreak(),
        para("Sign-off", st.h1),
        *_head(info, final_hash),
        para(
            "By signing, each participant confirms that this transcript is a true record of "
            "the ceremony they attended. Write the date, the time and the time zone at which "
            "you sign.",
            st.body,
        ),
        Spacer(1, 3 * mm),
        grid(rows, widths, row_height=14 * mm),
    ]


class _QrCode(Flowable):  # type: ignore[misc]
    """A QR code drawn as vector squares (no raster image, so the bytes stay stable)."""

    def __init__(self, text: str, size: float) -> None:
        super().__init__()
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
        code.add_data(text)
        code.make(fit=True)
        self.matrix: list[list[bool]] = code.get_matrix()
        self.size = size

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        n = len(self.matrix)
        cell = self.size / n
        canv = self.canv
        canv.setFillColor(colors.black)
        for r, row in enumerate(self.matrix):
            y = self.size - (r + 1) * cell
            c = 0
            while c < n:
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < n and row[c]:
                    c += 1
                canv.rect(start * cell, y, (c - start) * cell, cell, stroke=0, fill=1)


__all__ = ["EVENTS_NAME", "Artifact", "TranscriptInfo", "render_transcript"]
