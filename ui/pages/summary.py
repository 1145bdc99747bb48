"""The last page: where the bundle is, what it holds, and ``ceremony verify`` on it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QVBoxLayout

from ceremony.errors import CeremonyError
from ceremony.flow.wizard import Page
from ui.pages.base import WizardPage, error_text
from ui.printing import render_pages
from ui.widgets.text import label, mono, named, notice, set_notice

if TYPE_CHECKING:
    from ui.shell import Shell


class SummaryPage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        self.checks: list[tuple[bool, str]] = []
        self.valid: bool | None = None
        self.layout_.addWidget(label("Evidence bundle:"))
        self.location = mono("")
        self.location.setAccessibleName("Bundle location")
        self.layout_.addWidget(self.location)
        self.status = notice("Closing the bundle (manifest) and verifying it…", "info")
        self.status.setAccessibleName("Verification result")
        self.layout_.addWidget(self.status)
        box = QGroupBox("ceremony verify")
        b = QVBoxLayout(box)
        self.report = named(QPlainTextEdit(), "Verification report")
        self.report.setReadOnly(True)
        self.report.setTabChangesFocus(True)
        b.addWidget(self.report)
        self.report.setMinimumHeight(150)
        self.layout_.addWidget(box, 1)
        self.advice = label("")
        self.layout_.addWidget(self.advice)
        self.previews = QGroupBox("Signed documents (first pages)")
        self.preview_row = QHBoxLayout(self.previews)
        self.previews.hide()
        self.layout_.addWidget(self.previews)

    def title(self) -> str:
        return "Summary"

    def subtitle(self) -> str:
        return "The ceremony is closed. An auditor checks the bundle with one command."

    def enter(self) -> None:
        session = self.shell.session
        if session is None or self.busy or self.valid is not None:
            return
        self.location.setText(str(session.folder.resolve()))
        self.set_busy(True)

        def job() -> list[tuple[bool, str]]:
            session.finish()
            return session.verify()

        self.shell.submit(job, self._verified, self._failed)

    def _verified(self, checks: list[tuple[bool, str]]) -> None:
        self.checks = checks
        failed = [line for ok, line in checks if not ok]
        self.valid = not failed
        self.report.setPlainText("\n".join(line for _, line in checks))
        if self.valid:
            set_notice(
                self.status,
                f"ceremony verify: the bundle is valid ({len(checks)} checks passed, exit 0).",
                "ok",
            )
        else:
            set_notice(
                self.status,
                f"ceremony verify: INVALID, {len(failed)} checks failed "
                "(exit 1). Record an exception.",
                "error",
            )
        folder = self.shell.session.folder if self.shell.session else ""
        rehearsal = self.shell.data.rehearsal
        self.advice.setText(
            f"Auditors run: ceremony verify {folder}"
            + (
                "\n\nThis is a rehearsal: rehearsal/ holds the SoftHSM2 token and the shares; "
                "it is never part of a real bundle."
                if rehearsal
                else "\n\nCopy the bundle to the archive media; it holds no secret."
            )
        )
        self._preview()
        self.set_busy(False)

    def _preview(self) -> None:
        session = self.shell.session
        if session is None or session.transcript is None:
            return
        documents = [
            ("Transcript", session.transcript / "transcript.pdf"),
            ("CPS appendix", session.folder / "cps" / "cps-appendix.pdf"),
        ]

        def job() -> list[tuple[str, Path, QImage]]:
            out = []
            for title, path in documents:
                if path.is_file():
                    try:
                        image = render_pages(path.read_bytes(), dpi=45, limit=1)[0]
                    except CeremonyError:
                        continue
                    out.append((title, path, image))
            return out

        self.shell.submit(job, self._show_previews, lambda _: None)

    def _show_previews(self, previews: list[tuple[str, Path, QImage]]) -> None:
        for title, path, image in previews:
            box = QVBoxLayout()
            picture = QLabel()
            picture.setPixmap(QPixmap.fromImage(image))
            picture.setAccessibleName(f"{title}: first page of {path.name}")
            box.addWidget(picture)
            box.addWidget(
                label(
                    f"{title}: {path.relative_to(self.shell.session.folder)}"
                    if self.shell.session
                    else title
                )
            )
            self.preview_row.addLayout(box)
        self.preview_row.addStretch(1)
        self.previews.setVisible(bool(previews))

    def _failed(self, ex: BaseException) -> None:
        self.valid = False
        set_notice(self.status, f"Closing the bundle failed: {error_text(ex)}", "error")
        self.set_busy(False)

    def is_complete(self) -> bool:
        return not self.busy and self.valid is not None
