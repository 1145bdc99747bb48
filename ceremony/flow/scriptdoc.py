"""The printed script of a ceremony, for the day before and for the room (IANA's practice).

It holds the roles and participants, every step with what the administrator
reads aloud, who does what and what the result means (the very texts of the
wizard's step pages, :mod:`ceremony.flow.roomscript`), boxes for initials and
times, the bag-serial table and the sign-in sheet. The same ceremony file and
kind give the same bytes, so the SHA-256 recorded when the ceremony opens is that
of the paper the room holds.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, PageBreak, Spacer

from ceremony import software
from ceremony.config.ceremonyfile import CeremonyFile, Role
from ceremony.errors import InputError

KINDS = {
    "root": "Root key ceremony",
    "sign-csr": "Intermediate CA signing ceremony",
    "crl": "Root CRL and revocation ceremony",
    "recovery": "Root key recovery ceremony",
}
UNDATED = datetime(2000, 1, 1, tzinfo=UTC)
"""The PDF's date: fixed, so that the same file and kind always give the same bytes."""


def render_script(definition: CeremonyFile, data: bytes, kind: str, rehearsal: bool) -> bytes:
    """The script of a ``kind`` ceremony under ``definition`` (``data``: the file's bytes);
    ``rehearsal`` marks every page REHEARSAL.

    :raises InputError: ``kind`` is not a ceremony kind.
    """
    from ceremony.audit import layout
    from ceremony.audit.layout import FRAME_WIDTH, DocumentSpec, grid, para
    from ceremony.flow import scripts
    from ceremony.flow.roomscript import script_for

    if kind not in KINDS:
        raise InputError(f"kind {kind!r}: not one of {', '.join(KINDS)}")
    st = layout.styles()
    digest = hashlib.sha256(data).hexdigest()
    subject = definition.root.subject
    ca = subject.common_name + (f", {subject.organization}" if subject.organization else "")
    story: list[Flowable] = [
        para(f"{KINDS[kind]}: the script", st.title),
        para(f"{definition.name} · {ca} · {definition.place}", st.subtitle),
        layout.key_values(
            [
                ("Ceremony file SHA-256", layout.mono(digest, 64)),
                ("Mode", "REHEARSAL" if rehearsal else "real ceremony"),
                ("Software", software.version()),
                (
                    "Quorum",
                    f"{definition.activation.threshold} of {definition.activation.shares}"
                    " custodians activate the root key",
                ),
            ]
        ),
        Spacer(1, 4 * mm),
        para(
            "The administrator reads each step's text aloud, the people named do what their line"
            " says, and the witness initials the step and writes the time. The wizard shows the"
            " same text on each step page. Keep this paper with the ceremony's record.",
            st.body,
        ),
        para("Roles and participants", st.h1),
        grid(
            [["Name", "Role", "Duty in this ceremony"]]
            + [
                [p.name, p.role.value, _duty(p.role, kind, definition)]
                for p in definition.participants
            ],
            [45 * mm, 38 * mm, FRAME_WIDTH - 83 * mm],
        ),
        PageBreak(),
        para("Sign-in sheet", st.h1),
        para(
            "Each participant present signs in before the ceremony opens; the wizard records who"
            " is present and who is absent.",
            st.body,
        ),
        grid(
            [["Name", "Role", "Present / absent", "Signature", "Time in", "Time out"]]
            + [[p.name, p.role.value, "", "", "", ""] for p in definition.participants],
            [40 * mm, 38 * mm, 20 * mm, FRAME_WIDTH - 118 * mm, 20 * mm, 20 * mm],
            row_height=11 * mm,
        ),
        PageBreak(),
        para("Steps", st.h1),
    ]
    for number, step in enumerate(scripts.BY_KIND[kind], 1):
        script = script_for(step, definition)
        block: list[Flowable] = [
            para(f"{number}. {step.activity_for(definition)}", st.h2),
            para(f"Read aloud: “{script.read_aloud}”", st.body),
            grid(
                [["Who", "Does"]] + [[d.who, d.does] for d in script.duties],
                [45 * mm, FRAME_WIDTH - 45 * mm],
            ),
            para(f"What it means: {script.means}", st.small),
            grid(
                [["Administrator initials", "Witness initials", "Time (UTC)", "Notes"], [""] * 4],
                [35 * mm, 35 * mm, 30 * mm, FRAME_WIDTH - 100 * mm],
                row_height=10 * mm,
            ),
            Spacer(1, 2 * mm),
        ]
        story.append(KeepTogether(block))
    story += [PageBreak(), para("Tamper-evident bags", st.h1), *_bags(definition, kind)]
    story += [
        para("Sign-off", st.h1),
        para(
            "We read this script aloud, step by step, and the record of the ceremony is as"
            " the wizard's transcript states.",
            st.body,
        ),
        grid(
            [["Role", "Name", "Signature", "Date and time (UTC)"]]
            + [
                [r.value, definition.by_role(r).name, "", ""]
                for r in (Role.ADMINISTRATOR, Role.WITNESS)
            ],
            [38 * mm, 45 * mm, FRAME_WIDTH - 123 * mm, 40 * mm],
            row_height=12 * mm,
        ),
    ]
    spec = DocumentSpec(
        title=f"{KINDS[kind]}: the script",
        subject=f"{definition.name}: the script of the {kind} ceremony",
        footer=f"{definition.name} · {kind} ceremony script · file {digest[:16]}",
        created=UNDATED,
        creator=f"ceremony {software.version()}",
        rehearsal=rehearsal,
    )
    return layout.build_pdf(story, spec)


def script_sha256(definition: CeremonyFile, data: bytes, kind: str, rehearsal: bool) -> str:
    return hashlib.sha256(render_script(definition, data, kind, rehearsal)).hexdigest()


def _duty(role: Role, kind: str, definition: CeremonyFile) -> str:
    m, n = definition.activation.threshold, definition.activation.shares
    if role is Role.ADMINISTRATOR:
        return "runs the wizard, reads every step aloud, calls each custodian in turn"
    if role is Role.WITNESS:
        return "checks each step against this script, initials it, types the bag serials"
    if role is Role.CUSTODIAN:
        if kind == "root":
            return "receives an activation and a recovery share card, proves and seals them"
        if kind == "recovery":
            return (
                f"{m} of {n} present their recovery card; those present receive new"
                " activation cards"
            )
        return f"{m} of {n} present their activation card; bags are checked intact"
    return "brings and takes the removable media"


def _bags(definition: CeremonyFile, kind: str) -> list[Flowable]:
    from ceremony.audit import layout
    from ceremony.audit.layout import FRAME_WIDTH, grid, para

    st = layout.styles()
    custodians = definition.custodians
    if kind in ("root", "recovery"):
        cards = ["activation", "recovery"] if kind == "root" else ["activation (new)"]
        intro = (
            "Each custodian seals each proven card in a tamper-evident bag; the witness types"
            " the serial into the wizard and writes it here."
        )
    else:
        cards = ["activation"]
        intro = (
            "Each custodian who presents a card shows its bag intact, with the serial the last"
            " ceremony recorded, opens it in view and seals the card in a new bag afterwards."
        )
    if kind == "recovery":
        cards = ["recovery (brought)", "activation (new)"]
    header = ["Custodian", "Card", "Bag serial", "Intact / new", "Custodian initials", "Witness"]
    rows = [[c.name, card, "", "", "", ""] for c in custodians for card in cards]
    return [
        para(intro, st.body),
        grid(
            [header, *rows],
            [38 * mm, 30 * mm, FRAME_WIDTH - 136 * mm, 22 * mm, 26 * mm, 20 * mm],
            row_height=9 * mm,
        ),
    ]
