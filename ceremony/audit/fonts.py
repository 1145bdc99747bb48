"""The TrueType fonts every PDF of the tool embeds, found from the package.

The same fonts on every machine make the same event log render to the same
PDF bytes. They are looked up, in order, as package data
(``ceremony/data/fonts/``, for an installed wheel) and in the source checkout
(``assets/fonts/`` beside the ``ceremony`` package, also used by an editable
install).
"""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from ceremony.errors import FaultError

SANS = "DejaVuSans"
SANS_BOLD = "DejaVuSans-Bold"
MONO = "DejaVuSansMono"
MONO_BOLD = "DejaVuSansMono-Bold"

FONT_FILES = {name: f"{name}.ttf" for name in (SANS, SANS_BOLD, MONO, MONO_BOLD)}

_PACKAGE = Path(__file__).resolve().parent.parent


def candidate_dirs() -> tuple[Path, ...]:
    return (_PACKAGE / "data" / "fonts", _PACKAGE.parent / "assets" / "fonts")


def font_dir() -> Path:
    """Return the first folder holding every font file.

    :raises FaultError: the installation lacks the fonts.
    """
    for folder in candidate_dirs():
        if all((folder / f).is_file() for f in FONT_FILES.values()):
            return folder
    searched = ", ".join(str(d) for d in candidate_dirs())
    raise FaultError(f"the PDF fonts are missing from the installation (searched {searched})")


def register_fonts() -> None:
    """Register the fonts with reportlab once per process."""
    if SANS in pdfmetrics.getRegisteredFontNames():
        return
    folder = font_dir()
    for name, filename in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / filename)))
    addMapping(SANS, 0, 0, SANS)
    addMapping(SANS, 1, 0, SANS_BOLD)
    addMapping(SANS, 0, 1, SANS)
    addMapping(SANS, 1, 1, SANS_BOLD)
    addMapping(MONO, 0, 0, MONO)
    addMapping(MONO, 1, 0, MONO_BOLD)
    addMapping(MONO, 0, 1, MONO)
    addMapping(MONO, 1, 1, MONO_BOLD)
