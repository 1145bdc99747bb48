"""A QR code drawn from the module matrix the headless core computes."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

QUIET_ZONE = 4


class QrCode(QWidget):
    """Black modules on white with the standard quiet zone; scales with its size."""

    def __init__(self, matrix: Sequence[Sequence[bool]], text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.matrix = [list(r) for r in matrix]
        self.text = text
        self.setAccessibleName("QR code of the SHA-256 fingerprint")
        self.setAccessibleDescription(text)
        self.setToolTip(text)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        n = len(self.matrix) + 2 * QUIET_ZONE
        side = max(160, min(240, n * 4))
        return QSize(side, side)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        n = len(self.matrix) + 2 * QUIET_ZONE
        side = min(self.width(), self.height())
        cell = side / n
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("black"))
        for y, row in enumerate(self.matrix):
            for x, dark in enumerate(row):
                if dark:
                    p.drawRect(
                        QRectF(
                            (x + QUIET_ZONE) * cell, (y + QUIET_ZONE) * cell, cell + 0.3, cell + 0.3
                        )
                    )
        p.end()
