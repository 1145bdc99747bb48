"""Certificate review: fields, profile table, fingerprint as hex and PGP words, QR code."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ceremony.flow.wizard import CertificateReview
from ui.widgets.facts import FactList
from ui.widgets.qr import QrCode
from ui.widgets.text import label, mono, named


class ProfileTable(QTableWidget):
    """The certificate's extensions: name, criticality, value (values wrap)."""

    def __init__(self, rows: tuple[tuple[str, str, str], ...], parent: QWidget | None = None):
        super().__init__(len(rows), 3, parent)
        self.setHorizontalHeaderLabels(["Extension", "Criticality", "Value"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.setItem(r, c, QTableWidgetItem(text))
        self.setWordWrap(True)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.resizeRowsToContents()
        height = self.horizontalHeader().height() + sum(
            self.rowHeight(r) for r in range(self.rowCount())
        )
        self.setMinimumHeight(min(height + 4, 260))
        self.setMaximumHeight(height + 4)
        self.setTabKeyNavigation(False)
        named(self, "Certificate profile: extensions")


class CertificateView(QGroupBox):
    """One certificate for the room to review; ``reviewed`` is ticked by the witness."""

    def __init__(self, review: CertificateReview, parent: QWidget | None = None):
        super().__init__(f"Certificate review: {review.path}", parent)
        self.review = review
        grid = QGridLayout(self)
        grid.addWidget(FactList(review.fields), 0, 0)
        qr = QrCode(review.qr, review.qr_text)
        grid.addWidget(qr, 0, 1)
        grid.setColumnStretch(0, 1)
        box = QVBoxLayout()
        box.addWidget(label("SHA-256 fingerprint (hex):"))
        self.hex = mono(review.fingerprint_hex)
        named(self.hex, "SHA-256 fingerprint in hex", review.fingerprint_hex)
        box.addWidget(self.hex)
        box.addWidget(label("SHA-256 fingerprint as PGP words (read aloud):"))
        self.words = mono(review.fingerprint_words, scale=1.1)
        named(self.words, "SHA-256 fingerprint as PGP words", review.fingerprint_words)
        box.addWidget(self.words)
        grid.addLayout(box, 1, 0, 1, 2)
        grid.addWidget(label("Profile (extensions):"), 2, 0, 1, 2)
        grid.addWidget(ProfileTable(review.extensions), 3, 0, 1, 2)
        self.reviewed = named(
            QCheckBox("The fields and the profile were checked and the fingerprint read aloud"),
            f"Certificate {review.path} reviewed",
        )
        grid.addWidget(self.reviewed, 4, 0, 1, 2)
