"""Share cards through the print path: rasterised in memory, painted onto a printer."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from PIL import Image
from PySide6.QtPrintSupport import QPrinter
from pytestqt.qtbot import QtBot

from ceremony.backup.cards import cards_for_share_set, render_share_cards
from ceremony.backup.shares import ShareSetParams, split_secret
from ui.printing import page_count, paint, render_pages


def test_cards_printed_page_by_page_keep_their_qr_codes(qtbot: QtBot, tmp_path: Path) -> None:
    import zxingcpp

    share_set = split_secret(bytes(range(32)), ShareSetParams(2, 3), iteration_exponent=0)
    people = [(f"Custodian {i}", "custodian") for i in range(1, 4)]
    pdf = render_share_cards(
        cards_for_share_set(
            share_set, people, check_value="00" * 8, ceremony_id="c", purpose="recovery"
        ),
        rehearsal=True,
    )
    assert page_count(pdf) == 3
    images = render_pages(pdf, dpi=100)
    assert len(images) == 3

    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    out = tmp_path / "printed.pdf"  # a test printer; the wizard never prints to a file
    printer.setOutputFileName(str(out))
    paint(printer, images)
    info = subprocess.run(["pdfinfo", out], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+3$", info, re.MULTILINE), info
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", "2", "-l", "2", out, tmp_path / "page"], check=True
    )
    [png] = list(tmp_path.glob("page*.png"))
    [code] = zxingcpp.read_barcodes(Image.open(png))
    assert code.text == share_set.mnemonics[1]
