"""The transcript's evidence pages: the facts :mod:`ceremony.audit.facts` reads from the log.

Attendance, the HSM and its library, the software installation, who presented
shares, the bag of every share card, a recovery's tokens, and every key's
attributes as the HSM reported them, explained in the words the wizard uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, Spacer

from ceremony.audit import layout
from ceremony.audit.facts import FATES, CeremonyFacts, ceremony_facts
from ceremony.audit.layout import FRAME_WIDTH, grid, key_values, mono, para


def participants_table(facts: CeremonyFacts, fallback: Sequence[tuple[str, str]]) -> Flowable:
    """Everyone in the ceremony file, with whether they signed in as present."""
    people = facts.participants or tuple(fallback)
    if facts.present is None:
        rows: list[list[object]] = [["Participant", "Role"]]
        rows += [[n, r] for n, r in people]
        return grid(rows, [FRAME_WIDTH * 0.55, FRAME_WIDTH * 0.45])
    rows = [["Participant", "Role", "Signed in"]]
    rows += [[n, r, "present" if n in facts.present else "absent"] for n, r in people]
    return grid(rows, [FRAME_WIDTH * 0.45, FRAME_WIDTH * 0.35, FRAME_WIDTH * 0.2])


def _token_text(token: Mapping[str, Any] | None) -> str:
    if token is None:
        return "not recorded"
    return (
        f"{token.get('manufacturer')} {token.get('model')}, serial {token.get('serial')},"
        f" firmware {token.get('firmware_version')}, token label {token.get('label')!r}"
    )


def _software_rows(sw: Mapping[str, Any] | None) -> list[tuple[str, object]]:
    if sw is None:
        return [("Software", para("not recorded"))]
    c, ui, py = sw.get("ceremony", {}), sw.get("ui", {}), sw.get("python", {})
    osr, kernel = sw.get("os", {}), sw.get("kernel", {})
    dists = sw.get("distributions", [])
    return [
        ("Software", para(f"ceremony {c.get('version')}")),
        ("ceremony package SHA-256", mono(str(c.get("sha256")), 64)),
        (
            "ui package SHA-256",
            mono(str(ui.get("sha256")), 64) if ui.get("sha256") else para("not installed"),
        ),
        (
            "Python",
            para(f"{py.get('implementation')} {py.get('version')} ({py.get('executable')})"),
        ),
        ("Operating system", para(str(osr.get("PRETTY_NAME") or "not recorded"))),
        (
            "Kernel",
            para(f"{kernel.get('release')} {kernel.get('machine')} ({kernel.get('version')})"),
        ),
        (
            "Installed distributions",
            para(
                f"{len(dists)}, listed below; SHA-256 of the list {sw.get('distributions_sha256')}"
            ),
        ),
    ]


def _old_signer_rows(f: CeremonyFacts) -> list[tuple[str, object]]:
    signer = f.old_signer
    if signer is None or not signer.get("certificate"):
        return []
    text = (
        f"{signer['certificate']}, superseded by {signer.get('superseded_by')}; its key stays"
        " on the old token"
    )
    if (f.old_token or {}).get("fate") == "lost":
        text += ": revoke it for key compromise in a CRL ceremony"
    return [("Old transcript signer", para(text))]


def evidence_section(events: Sequence[Mapping[str, Any]]) -> list[Flowable]:
    from ceremony.hsm import attributes

    st = layout.styles()
    f = ceremony_facts(events)
    library = f.library or {}
    auditors = f.auditors
    if auditors:
        auditor = ", ".join(
            f"{a} ({'present' if f.present and a in f.present else 'absent'})" for a in auditors
        )
    else:
        auditor = "none named in the ceremony file"
    rows: list[tuple[str, object]] = [
        ("HSM", para(_token_text(f.token))),
        (
            "PKCS#11 library",
            para(str(library.get("resolved") or library.get("path") or "not recorded")),
        ),
        (
            "PKCS#11 library SHA-256",
            mono(str(library["sha256"]), 64) if library.get("sha256") else para("not recorded"),
        ),
        *_software_rows(f.software),
        ("Auditor", para(auditor)),
        ("Recording reference", para(f.recording or "none given")),
    ]
    out: list[Flowable] = [
        para("Evidence of the ceremony", st.h1),
        key_values(rows, 45 * mm),
    ]
    if f.new_token is not None or f.old_token is not None:
        old = f.old_token or {}
        fate = FATES.get(str(old.get("fate")), "not recorded")
        out += [
            para("Tokens holding the root key", st.h2),
            key_values(
                [
                    ("New token", para(_token_text(f.new_token))),
                    (
                        "Old token",
                        para(
                            f"label {old.get('label')!r}, serial {old.get('serial')}: {fate}"
                            if old
                            else "not recorded"
                        ),
                    ),
                    *_old_signer_rows(f),
                ],
                45 * mm,
            ),
        ]
    if f.presented:
        table: list[list[object]] = [["#", "Step", "Shares presented by"]]
        table += [[str(p.seq), para(p.step, st.cell_mono), ", ".join(p.names)] for p in f.presented]
        out += [
            para("Shares presented", st.h2),
            grid(table, [10 * mm, 40 * mm, FRAME_WIDTH - 50 * mm]),
        ]
    if f.bags:
        table = [["Card", "Custodian", "Tamper-evident bag serial"]]
        for b in f.bags:
            if b.serials is None:
                table.append([f"{b.purpose} share", "every custodian", "not recorded"])
            else:
                table += [[f"{b.purpose} share", n, s] for n, s in b.serials.items()]
        out += [
            para("Share cards and their bags", st.h2),
            grid(table, [35 * mm, 60 * mm, FRAME_WIDTH - 95 * mm]),
        ]
    for what, attrs in f.key_attributes:
        lines = attributes.lines({k: v for k, v in attrs.items() if isinstance(v, bool | None)})
        out.append(
            KeepTogether(
                [
                    para(f"Attributes of the {what}, as read back from the HSM", st.h3),
                    *[para(line, st.small) for line in lines],
                ]
            )
        )
    dists = (f.software or {}).get("distributions", [])
    if dists:
        out += [
            CondPageBreak(30 * mm),
            para("Installed distributions", st.h3),
            para(", ".join(str(d) for d in dists), st.small),
        ]
    out.append(Spacer(1, 4 * mm))
    return out
