"""Page layout shared by the transcript and the CPS appendix.

Everything that makes a PDF of this tool reproducible lives here: the
embedded fonts, ``invariant`` mode, a creation date given by the caller (never
the clock), page numbering in a second pass, the REHEARSAL marking, and
attached files written as plain PDF objects.
"""

from __future__ import annotations

import calendar
import functools
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFStream, PDFString
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle

from ceremony.audit import fonts

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
FRAME_PADDING = 6
"""reportlab's default padding inside the page frame, on every side."""
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN - 2 * FRAME_PADDING
"""The width a flowable gets: a table this wide ends at the right margin, not past it."""
GRID = colors.HexColor("#8c8c8c")
SHADE = colors.HexColor("#e8e8e8")
REHEARSAL_RED = colors.HexColor("#b00020")
REHEARSAL_TEXT = "REHEARSAL"
REHEARSAL_BANNER = "REHEARSAL · NOT A REAL CEREMONY · keys, PINs and shares are for practice only"


@dataclass(frozen=True)
class Attachment:
    """A file embedded in the PDF (shown in the viewer's attachment panel)."""

    name: str
    """File name offered when the reader saves the attachment."""
    data: bytes
    """Exact bytes of the file."""
    description: str
    """One line telling the reader what the file is."""
    mime_type: str
    """MIME type, e.g. ``application/jsonl``."""
    modified: datetime
    """Modification date recorded in the file specification."""


@dataclass(frozen=True)
class DocumentSpec:
    """Metadata and page decoration of one PDF."""

    title: str
    """Document title (PDF metadata and first heading)."""
    subject: str
    """PDF metadata subject."""
    footer: str
    """Left-hand footer text on every page."""
    created: datetime
    """Creation and modification date written into the PDF metadata."""
    creator: str
    """PDF metadata creator, e.g. ``ceremony 0.1.0``."""
    rehearsal: bool = False
    """Mark every page REHEARSAL."""
    attachments: tuple[Attachment, ...] = ()
    """Files embedded in the document."""


@dataclass(frozen=True)
class Styles:
    title: ParagraphStyle
    subtitle: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    h3: ParagraphStyle
    body: ParagraphStyle
    small: ParagraphStyle
    cell: ParagraphStyle
    cell_bold: ParagraphStyle
    cell_mono: ParagraphStyle
    mono: ParagraphStyle
    caption: ParagraphStyle


@functools.cache
def styles() -> Styles:
    fonts.register_fonts()
    body = ParagraphStyle("body", fontName=fonts.SANS, fontSize=9.5, leading=12.5, spaceAfter=5)
    cell = ParagraphStyle("cell", fontName=fonts.SANS, fontSize=8, leading=10)
    return Styles(
        title=ParagraphStyle(
            "title", fontName=fonts.SANS_BOLD, fontSize=20, leading=25, spaceAfter=6
        ),
        subtitle=ParagraphStyle(
            "subtitle", fontName=fonts.SANS, fontSize=12, leading=15, spaceAfter=12
        ),
        h1=ParagraphStyle(
            "h1",
            fontName=fonts.SANS_BOLD,
            fontSize=14,
            leading=18,
            spaceBefore=10,
            spaceAfter=6,
            keepWithNext=1,
        ),
        h2=ParagraphStyle(
            "h2",
            fontName=fonts.SANS_BOLD,
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,
        ),
        h3=ParagraphStyle(
            "h3",
            fontName=fonts.SANS_BOLD,
            fontSize=9.5,
            leading=12,
            spaceBefore=6,
            spaceAfter=3,
            keepWithNext=1,
        ),
        body=body,
        small=ParagraphStyle("small", parent=body, fontSize=8, leading=10),
        cell=cell,
        cell_bold=ParagraphStyle("cell_bold", parent=cell, fontName=fonts.SANS_BOLD),
        cell_mono=ParagraphStyle("cell_mono", parent=cell, fontName=fonts.MONO, fontSize=7.5),
        mono=ParagraphStyle("mono", parent=body, fontName=fonts.MONO, fontSize=8.5, leading=11),
        caption=ParagraphStyle("caption", parent=body, fontSize=8, leading=10, alignment=TA_CENTER),
    )


def esc(text: object) -> str:
    """Escape ``text`` for reportlab's paragraph markup; newlines become line breaks."""
    return "<br/>".join(escape(line) for line in str(text).split("\n"))


def para(text: object, style: ParagraphStyle | None = None) -> Paragraph:
    """A paragraph of plain (escaped) text."""
    return Paragraph(esc(text), style or styles().cell)


def unbroken_width(texts: Sequence[str], style: ParagraphStyle, padding: float = 6) -> float:
    """The narrowest column that holds every word of ``texts`` on one line (cell padding
    included), so no word is split inside: identifiers and roles stay whole."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    words = {w for t in texts for w in str(t).split()}
    widest = max((stringWidth(w, style.fontName, style.fontSize) for w in words), default=0)
    return widest + padding + 1


def hex_text(value: str, per_line: int = 32) -> str:
    """Hex split into lines of ``per_line`` characters, so a hash never overflows its cell."""
    return "\n".join(value[i : i + per_line] for i in range(0, len(value), per_line))


def mono(value: str, per_line: int = 32, style: ParagraphStyle | None = None) -> Paragraph:
    return para(hex_text(value, per_line), style or styles().cell_mono)


def grid(
    rows: Sequence[Sequence[object]],
    widths: Sequence[float],
    header: bool = True,
    extra: Sequence[tuple[Any, ...]] = (),
    row_height: float | None = None,
) -> Table:
    """A ruled table; strings become wrapping paragraphs, the first row repeats on each page.

    ``row_height`` fixes the height of the body rows (room for handwriting).
    """
    st = styles()
    body: list[list[object]] = []
    for r, row in enumerate(rows):
        cells: list[object] = []
        for value in row:
            if isinstance(value, str):
                cells.append(para(value, st.cell_bold if header and r == 0 else st.cell))
            else:
                cells.append(value)
        body.append(cells)
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), fonts.SANS, 8),
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    commands.extend(extra)
    heights = None
    if row_height is not None:
        heights = [None if header and r == 0 else row_height for r in range(len(body))]
    table = Table(
        body,
        colWidths=list(widths),
        rowHeights=heights,
        repeatRows=1 if header else 0,
        hAlign="LEFT",
    )
    table.setStyle(TableStyle(commands))
    return table


def key_values(pairs: Sequence[tuple[str, object]], label_width: float = 40 * mm) -> Table:
    """Two-column label/value table; values may be strings or flowables."""
    st = styles()
    rows = [[para(k, st.cell_bold), v] for k, v in pairs]
    return grid(
        rows,
        [label_width, FRAME_WIDTH - label_width],
        header=False,
        extra=[("BACKGROUND", (0, 0), (0, -1), SHADE)],
    )


class Box(Flowable):  # type: ignore[misc]
    """An empty ruled box for handwriting (witness initials)."""

    def __init__(self, width: float, height: float) -> None:
        super().__init__()
        self.width = width
        self.height = height

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        self.canv.setStrokeColor(colors.black)
        self.canv.setLineWidth(0.8)
        self.canv.rect(0, 0, self.width, self.height)


class _FixedTimeStamp:
    """Stands in for reportlab's TimeStamp so the PDF dates come from the caller."""

    def __init__(self, when: datetime) -> None:
        when = when.astimezone(UTC)
        self.t = calendar.timegm(when.utctimetuple())
        self.lt = when.utctimetuple()
        self.YMDhms = tuple(self.lt)[:6]
        self.dhh = 0
        self.dmm = 0
        self.tzname = "UTC"


class _DecoratedCanvas(Canvas):  # type: ignore[misc]
    """Defers each page until the page count is known, then adds header and footer."""

    def __init__(self, filename: Any, *, spec: DocumentSpec, **kwargs: Any) -> None:
        super().__init__(filename, **kwargs)
        self._spec = spec
        self._pages: list[dict[str, Any]] = []
        self._doc._timeStamp = _FixedTimeStamp(spec.created)
        self.setCreator(spec.creator)
        self.setProducer(spec.creator)

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, 1):
            self.__dict__.update(state)
            self._decorate(number, total)
            super().showPage()
        _attach(self, self._spec.attachments)
        super().save()

    def _decorate(self, number: int, total: int) -> None:
        spec = self._spec
        self.saveState()
        self.setFont(fonts.SANS, 7.5)
        self.setFillColor(colors.black)
        self.setStrokeColor(GRID)
        self.setLineWidth(0.5)
        y = MARGIN - 8 * mm
        self.line(MARGIN, y + 10, PAGE_WIDTH - MARGIN, y + 10)
        self.drawString(MARGIN, y, spec.footer)
        self.drawRightString(PAGE_WIDTH - MARGIN, y, f"Page {number} of {total}")
        if spec.rehearsal:
            self._rehearsal_banner()
        self.restoreState()
        if spec.rehearsal:
            self._behind_the_page(self._rehearsal_watermark)

    def _behind_the_page(self, draw: Any) -> None:
        """Run ``draw`` so that its marks lie under everything already on the page."""
        start = len(self._code)
        draw()
        marks = self._code[start:]
        del self._code[start:]
        self._code[:0] = marks

    def _rehearsal_banner(self) -> None:
        band = 6 * mm
        top = PAGE_HEIGHT - MARGIN + 3 * mm
        self.setFillColor(REHEARSAL_RED)
        self.rect(MARGIN, top, PAGE_WIDTH - 2 * MARGIN, band, stroke=0, fill=1)
        self.setFillColor(colors.white)
        self.setFont(fonts.SANS_BOLD, 8.5)
        self.drawCentredString(PAGE_WIDTH / 2, top + 1.9 * mm, REHEARSAL_BANNER)

    def _rehearsal_watermark(self) -> None:
        """The diagonal REHEARSAL, light, under the text (it never covers a word)."""
        self.saveState()
        self.setFillColor(REHEARSAL_RED)
        self.setFillAlpha(0.10)
        self.setFont(fonts.SANS_BOLD, 96)
        self.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
        self.rotate(45)
        self.drawCentredString(0, -32, REHEARSAL_TEXT)
        self.restoreState()


def _attach(canvas: Any, attachments: Sequence[Attachment]) -> None:
    if not attachments:
        return
    doc = canvas._doc
    names: list[object] = []
    for a in attachments:
        stream = PDFStream(
            PDFDictionary(
                {
                    "Type": "/EmbeddedFile",
                    "Subtype": _name(a.mime_type),
                    "Params": PDFDictionary(
                        {"Size": len(a.data), "ModDate": _pdf_date(a.modified)}
                    ),
                    "Filter": "/FlateDecode",
                }
            ),
            zlib.compress(a.data, 9),
        )
        ref = doc.Reference(stream)
        spec = PDFDictionary(
            {
                "Type": "/Filespec",
                "F": PDFString(a.name),
                "UF": PDFString(a.name),
                "Desc": PDFString(a.description),
                "EF": PDFDictionary({"F": ref, "UF": ref}),
            }
        )
        names += [PDFString(a.name), doc.Reference(spec)]
    tree = PDFDictionary({"Names": PDFArray(names)})
    doc.Catalog.Names = PDFDictionary({"EmbeddedFiles": doc.Reference(tree)})
    doc.Catalog.PageMode = "/UseAttachments"


def _name(value: str) -> str:
    """A PDF name; unlike reportlab's PDFName it also escapes ``/`` (as in MIME types)."""
    out = []
    for ch in value:
        if (ch.isascii() and ch.isalnum()) or ch in "-+._":
            out.append(ch)
        else:
            out.extend(f"#{b:02X}" for b in ch.encode())
    return "/" + "".join(out)


def _pdf_date(when: datetime) -> PDFString:
    return PDFString(when.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ"))


def build_pdf(story: list[Flowable], spec: DocumentSpec) -> bytes:
    """Lay out ``story`` on A4 pages and return the PDF bytes (same inputs, same bytes)."""
    styles()
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + (8 * mm if spec.rehearsal else 0),
        bottomMargin=MARGIN,
        title=spec.title,
        subject=spec.subject,
        author=spec.creator,
        creator=spec.creator,
        producer=spec.creator,
        invariant=1,
        lang="en",
        initialFontName=fonts.SANS,
    )
    doc.build(story, canvasmaker=functools.partial(_DecoratedCanvas, spec=spec))
    return out.getvalue()
