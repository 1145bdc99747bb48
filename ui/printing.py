"""Printing share cards: pages rasterised in memory, sent to a printer, never to a file.

The PDF comes from the flow (``ceremony.backup.cards``). Without Qt's PDF
module, poppler's ``pdftoppm`` rasterises it from stdin to stdout, so no copy
of a share lands on disk here. (CUPS may still spool the job: configure the
ceremony printer not to retain jobs.)
"""

from __future__ import annotations

import shutil
import subprocess

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtPrintSupport import QPrinter

from ceremony.errors import InputError

DPI = 200


def page_count(pdf: bytes) -> int:
    """Pages in ``pdf`` (counted from its page objects; good enough for a label)."""
    return max(1, pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages"))


def render_pages(pdf: bytes, dpi: int = DPI, limit: int | None = None) -> list[QImage]:
    """Rasterise the pages of ``pdf`` (the first ``limit``) in memory with pdftoppm."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise InputError("printing needs poppler's pdftoppm (apt install poppler-utils)")
    images = []
    count = page_count(pdf) if limit is None else min(limit, page_count(pdf))
    for page in range(1, count + 1):
        p = subprocess.run(
            [
                tool,
                "-r",
                str(dpi),
                "-f",
                str(page),
                "-l",
                str(page),
                "-png",
                "-",
            ],
            input=pdf,
            capture_output=True,
            timeout=60,
        )
        if p.returncode != 0:
            break
        image = QImage.fromData(p.stdout)
        if image.isNull():
            break
        images.append(image)
    if not images:
        raise InputError("share cards: the PDF could not be rasterised for printing")
    return images


def paint(printer: QPrinter, images: list[QImage]) -> None:
    """Paint one image per printed page, scaled to the printable area."""
    painter = QPainter(printer)
    try:
        for i, image in enumerate(images):
            if i:
                printer.newPage()
            area = painter.viewport()
            size = image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            painter.setViewport(QRect(area.x(), area.y(), size.width(), size.height()))
            painter.setWindow(image.rect())
            painter.drawImage(0, 0, image)
            painter.setViewport(area)
    finally:
        painter.end()
