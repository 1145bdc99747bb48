"""The wizard's look: Fusion style, framed notices, the REHEARSAL banner, commit buttons."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

STYLE_SHEET = """
QLabel[notice="error"] { background: #fde7e9; border: 1px solid #a4262c; color: #4a0a0e;
                         border-radius: 4px; }
QLabel[notice="warning"] { background: #fff4ce; border: 1px solid #8a5300; color: #3b2300;
                           border-radius: 4px; }
QLabel[notice="ok"] { background: #dff6dd; border: 1px solid #107c10; color: #0b3d0b;
                      border-radius: 4px; }
QLabel[notice="info"] { background: #eef4fb; border: 1px solid #5b7fa8; color: #102a43;
                        border-radius: 4px; }
QLabel#banner-rehearsal { background: #ffb000; color: #000000; font-weight: bold;
                          padding: 6px; }
QLabel#banner-real { background: #1f3a5f; color: #ffffff; font-weight: bold; padding: 6px; }
QPushButton#primary { font-weight: bold; padding: 4px 14px; }
QPushButton#primary[commit="true"] { background: #a4262c; color: #ffffff; }
QPushButton#primary[commit="true"]:disabled { background: #d9a3a6; color: #f5f5f5; }
"""


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setStyleSheet(STYLE_SHEET)
