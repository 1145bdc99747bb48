"""Share cards: one printable A4 page per custodian holding one SLIP-39 share.

:class:`ShareCard` is what one page shows; :func:`render_share_cards` lays
the pages out with reportlab (embedded DejaVu fonts, the QR code drawn as
vector squares) and returns the PDF bytes; the same cards give the same
bytes. The caller decides where, if anywhere, those bytes go: in a real
ceremony straight to the printer, in a rehearsal into ``rehearsal/``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import qrcode
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm as _mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from ceremony.audit import fonts
from ceremony.backup.shares import ShareSet
from ceremony.errors import InputError

PURPOSES = ("recovery", "activation")

REHEARSAL_BANNER = "REHEARSAL — NOT FOR PRODUCTION"
WARNING_TITLE = "Never copy this share digitally."
WARNING_TEXT = (
    "No photos, no scans, no typing into a computer or phone, no cloud, no password "
    "manager. Copy it only by hand, keep it sealed in its tamper-evident bag, and enter it "
    "only on the air-gapped ceremony machine during a ceremony."
)

_TITLES = {"recovery": "Root key recovery share", "activation": "HSM activation share"}
_PURPOSE_TEXT = {
    "recovery": "Rebuilds the backup key that restores the root CA private key.",
    "activation": "Rebuilds the HSM PIN that lets the root CA key be used.",
}

_MM: float = float(_mm)
_PAGE_W: float = float(A4[0])
_PAGE_H: float = float(A4[1])
_MARGIN = 18 * _MM
_WIDTH = _PAGE_W - 2 * _MARGIN
_QR_SIZE = 50 * _MM
_COLUMNS = 3
_ROW_H = 9 * _MM
_RED = colors.HexColor("#b00020")
_GREY = colors.HexColor("#6b6b6b")
_LIGHT = colors.HexColor("#b4b4b4")


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name}: must not be empty")
    return value


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: expected int, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class ShareCard:
    """What one custodian's card shows."""

    custodian: str
    """The custodian's name, as in the ceremony file."""
    role: str
    """The custodian's role, e.g. ``custodian``."""
    index: int
    """1-based number of this share in the set."""
    count: int
    """N: shares in the set."""
    threshold: int
    """M: shares that rebuild the secret."""
    set_id: str
    """Printable set identifier, e.g. ``id 01234`` (:attr:`ShareSet.set_id`)."""
    mnemonic: str = field(repr=False)
    """The share itself. Secret."""
    check_value: str
    """Check value of the secret the set rebuilds (:func:`~ceremony.backup.shares.check_value`)."""
    ceremony_id: str
    """Identifies the ceremony that made the card."""
    purpose: str
    """``recovery`` (backup key) or ``activation`` (HSM PIN)."""
    group_rule: str = ""
    """For a two-level set: which group the share belongs to and what rebuilds the secret."""
    about: tuple[str, ...] = ()
    """Who the card belongs to and what to do: the CA and organization, the root fingerprint,
    what M of N means, whom to call."""

    @property
    def rule(self) -> str:
        if self.group_rule:
            return f"share {self.index} of {self.count}; {self.group_rule}"
        return f"share {self.index} of {self.count}, any {self.threshold} recover"

    def __post_init__(self) -> None:
        for name in ("custodian", "role", "set_id", "mnemonic", "check_value", "ceremony_id"):
            _check_str(name, getattr(self, name))
        index = _check_int("index", self.index)
        count = _check_int("count", self.count)
        threshold = _check_int("threshold", self.threshold)
        if not 1 <= index <= count:
            raise ValueError(f"index {index}: must be 1..{count}")
        if not 1 <= threshold <= count:
            raise ValueError(f"threshold {threshold}: must be 1..{count}")
        if self.purpose not in PURPOSES:
            raise ValueError(f"purpose {self.purpose!r}: must be one of {', '.join(PURPOSES)}")


def cards_for_share_set(
    share_set: ShareSet,
    custodians: Sequence[tuple[str, str]],
    *,
    check_value: str,
    ceremony_id: str,
    purpose: str,
    about: Sequence[str] = (),
) -> list[ShareCard]:
    """One card per share; ``custodians`` are (name, role) in order, groups flattened.

    :raises ValueError: not one custodian per share.
    """
    rules = [""] * len(share_set.mnemonics)
    if len(share_set.groups) > 1:
        rules = [
            f"group {g} of {len(share_set.groups)}: any {m} of its {n} members, and "
            f"{share_set.group_threshold} groups, rebuild it"
            for g, (m, n) in enumerate(share_set.groups, 1)
            for _ in range(n)
        ]
    if len(custodians) != len(share_set.mnemonics):
        raise ValueError(
            f"share cards: {len(custodians)} custodians for {len(share_set.mnemonics)} shares"
        )
    return [
        ShareCard(
            custodian=name,
            role=role,
            index=i,
            count=share_set.count,
            threshold=share_set.threshold,
            set_id=share_set.set_id,
            mnemonic=mnemonic,
            check_value=check_value,
            ceremony_id=ceremony_id,
            purpose=purpose,
            group_rule=rule,
            about=tuple(about),
        )
        for i, ((name, role), mnemonic, rule) in enumerate(
            zip(custodians, share_set.mnemonics, rules, strict=True), 1
        )
    ]


def render_share_cards(cards: Sequence[ShareCard], rehearsal: bool) -> bytes:
    """Render one A4 page per card and return the PDF bytes (same cards, same bytes).

    :raises InputError: a name or identifier has characters the card font cannot print.
    """
    if not cards:
        raise ValueError("share cards: no cards to render")
    for card in cards:
        if not isinstance(card, ShareCard):
            raise TypeError(f"cards: expected ShareCard, got {type(card).__name__}")
    if not isinstance(rehearsal, bool):
        raise TypeError(f"rehearsal: expected bool, got {type(rehearsal).__name__}")
    fonts.register_fonts()
    for card in cards:
        _check_printable(card)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1, pageCompression=1)
    first = cards[0]
    canvas.setTitle(f"{_TITLES[first.purpose]} cards, ceremony {first.ceremony_id}")
    canvas.setAuthor("ceremony")
    canvas.setCreator("ceremony")
    canvas.setProducer("ceremony")
    canvas.setSubject("REHEARSAL share cards" if rehearsal else "share cards")
    for card in cards:
        _page(canvas, card, rehearsal)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def _check_printable(card: ShareCard) -> None:
    for name, font in (
        ("custodian", fonts.SANS_BOLD),
        ("role", fonts.SANS),
        ("ceremony_id", fonts.SANS),
        ("set_id", fonts.MONO_BOLD),
        ("check_value", fonts.MONO_BOLD),
        ("mnemonic", fonts.MONO_BOLD),
    ):
        glyphs = pdfmetrics.getFont(font).face.charToGlyph
        text: str = getattr(card, name)
        missing = "".join(sorted({ch for ch in text if ord(ch) not in glyphs}))
        if missing:
            shown = "the share" if name == "mnemonic" else repr(text)
            raise InputError(
                f"share card {card.index}: {name} {shown}: the card font cannot print {missing!r}"
            )


def _fit(text: str, font: str, size: float, width: float) -> float:
    """The largest font size up to ``size`` at which ``text`` fits ``width``."""
    w = stringWidth(text, font, size)
    return size if w <= width else max(6.0, size * width / w)


def _page(c: Canvas, card: ShareCard, rehearsal: bool) -> None:
    top = _PAGE_H - _MARGIN
    if rehearsal:
        _banner(c, top - 11 * _MM)
        _banner(c, _MARGIN - 7 * _MM)
        top -= 15 * _MM

    text_w = _WIDTH - _QR_SIZE - 6 * _MM
    y = top - 20
    c.setFillColor(colors.black)
    c.setFont(fonts.SANS_BOLD, 20)
    c.drawString(_MARGIN, y, _TITLES[card.purpose])
    y -= 16
    c.setFont(fonts.SANS, 9.5)
    c.setFillColor(_GREY)
    c.drawString(_MARGIN, y, _PURPOSE_TEXT[card.purpose])
    y -= 13
    ceremony = f"Ceremony {card.ceremony_id}"
    c.setFont(fonts.SANS, _fit(ceremony, fonts.SANS, 9.5, text_w))
    c.drawString(_MARGIN, y, ceremony)

    for line in card.about:
        y -= 11.5
        c.setFont(fonts.SANS, _fit(line, fonts.SANS, 9, text_w))
        c.drawString(_MARGIN, y, line)

    y -= 28
    c.setFillColor(colors.black)
    c.setFont(fonts.SANS_BOLD, _fit(card.custodian, fonts.SANS_BOLD, 16, text_w))
    c.drawString(_MARGIN, y, card.custodian)
    y -= 16
    role = f"Role: {card.role}"
    c.setFont(fonts.SANS, _fit(role, fonts.SANS, 11, text_w))
    c.drawString(_MARGIN, y, role)
    y -= 26
    c.setFont(fonts.SANS_BOLD, _fit(card.rule, fonts.SANS_BOLD, 14, text_w))
    c.drawString(_MARGIN, y, card.rule)
    y -= 20
    c.setFont(fonts.SANS, 10.5)
    c.drawString(_MARGIN, y, "Set identifier:")
    c.drawString(_MARGIN + 30 * _MM, y, "Check value:")
    y -= 14
    c.setFont(fonts.MONO_BOLD, 12)
    c.drawString(_MARGIN, y, card.set_id)
    c.drawString(_MARGIN + 30 * _MM, y, card.check_value)

    qr_top = top - 4
    _qr(c, card.mnemonic, _PAGE_W - _MARGIN - _QR_SIZE, qr_top - _QR_SIZE, _QR_SIZE)
    c.setFont(fonts.SANS, 7.5)
    c.setFillColor(_GREY)
    c.drawCentredString(
        _PAGE_W - _MARGIN - _QR_SIZE / 2, qr_top - _QR_SIZE - 9, "the same words as a QR code"
    )

    y = min(y, qr_top - _QR_SIZE - 9) - 26
    y = _word_grid(c, card.mnemonic.split(), y)

    c.setFont(fonts.SANS, 8.5)
    c.setFillColor(_GREY)
    c.drawString(
        _MARGIN,
        y - 12,
        "SLIP-39 words: the first four letters identify each word. "
        "Check every word against the card when copying.",
    )
    y = _fields(c, y - 34)
    _warning(c, y - 10)

    c.setFont(fonts.SANS, 7.5)
    c.setFillColor(_GREY)
    footer = f"ceremony {card.ceremony_id} · {card.purpose} set {card.set_id} · card {card.index}"
    c.drawCentredString(_PAGE_W / 2, _MARGIN - (12 * _MM if rehearsal else 4 * _MM), footer)


def _banner(c: Canvas, y: float) -> None:
    c.setFillColor(_RED)
    c.rect(_MARGIN, y, _WIDTH, 11 * _MM, stroke=0, fill=1)
    c.setFillColor(colors.white)
    c.setFont(fonts.SANS_BOLD, 16)
    c.drawCentredString(_PAGE_W / 2, y + 3.6 * _MM, REHEARSAL_BANNER)


def _qr(c: Canvas, data: str, x: float, y: float, size: float) -> None:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    matrix: list[list[bool]] = [[bool(v) for v in row] for row in qr.get_matrix()]
    cell = size / len(matrix)
    c.setFillColor(colors.black)
    for r, row in enumerate(matrix):
        col = 0
        while col < len(row):
            if not row[col]:
                col += 1
                continue
            start = col
            while col < len(row) and row[col]:
                col += 1
            # Runs are drawn a hair taller and wider so no seam shows between cells.
            c.rect(
                x + start * cell,
                y + size - (r + 1) * cell,
                (col - start) * cell + 0.05,
                cell + 0.05,
                stroke=0,
                fill=1,
            )


def _word_grid(c: Canvas, words: list[str], top: float) -> float:
    """Draw the numbered words, down each column first; return the y below the grid."""
    rows = math.ceil(len(words) / _COLUMNS)
    cell_w = _WIDTH / _COLUMNS
    c.setFont(fonts.SANS_BOLD, 11)
    c.setFillColor(colors.black)
    c.drawString(_MARGIN, top, f"The {len(words)} words, in order")
    grid_top = top - 8
    c.setStrokeColor(_LIGHT)
    c.setLineWidth(0.6)
    for i, word in enumerate(words):
        col, row = divmod(i, rows)
        x = _MARGIN + col * cell_w
        y = grid_top - (row + 1) * _ROW_H
        c.rect(x, y, cell_w, _ROW_H, stroke=1, fill=0)
        c.setFillColor(_GREY)
        c.setFont(fonts.MONO, 10)
        c.drawRightString(x + 9 * _MM, y + 3 * _MM, f"{i + 1:2d}")
        c.setFillColor(colors.black)
        c.setFont(fonts.MONO_BOLD, 15)
        c.drawString(x + 12 * _MM, y + 2.8 * _MM, word)
    return grid_top - rows * _ROW_H


def _fields(c: Canvas, top: float) -> float:
    """Blank fields the custodian fills in by hand; return the y below them."""
    c.setStrokeColor(colors.black)
    c.setLineWidth(0.6)
    c.setFillColor(colors.black)
    c.setFont(fonts.SANS, 10.5)
    labels = ("Tamper-evident bag serial:", "Custodian signature:", "Date:")
    line_x = _MARGIN + max(stringWidth(t, fonts.SANS, 10.5) for t in labels) + 4 * _MM
    y = top
    for label in labels:
        c.drawString(_MARGIN, y, label)
        c.line(line_x, y - 2, _MARGIN + _WIDTH, y - 2)
        y -= 11 * _MM
    return y + 11 * _MM - 8


def _warning(c: Canvas, top: float) -> None:
    lines = simpleSplit(WARNING_TEXT, fonts.SANS, 10, _WIDTH - 8 * _MM)
    height = 10 * _MM + len(lines) * 12.5
    c.setStrokeColor(_RED)
    c.setLineWidth(1.5)
    c.rect(_MARGIN, top - height, _WIDTH, height, stroke=1, fill=0)
    y = top - 6 * _MM
    c.setFillColor(_RED)
    c.setFont(fonts.SANS_BOLD, 12.5)
    c.drawString(_MARGIN + 4 * _MM, y, WARNING_TITLE)
    c.setFillColor(colors.black)
    c.setFont(fonts.SANS, 10)
    for line in lines:
        y -= 12.5
        c.drawString(_MARGIN + 4 * _MM, y, line)
