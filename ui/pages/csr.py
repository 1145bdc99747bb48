"""Signing ceremony input: a CSR from removable media, checked before the ceremony opens.

The volumes are polled: plugging or pulling a stick updates the list. Files
that look like CSRs are listed (a refused one with its reason). Checking the
chosen CSR runs every refusal of the flow before a transcript is opened, so
a bad CSR leaves no trace but the message on this page.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QWidget,
)

from ceremony.bundle import Bundle
from ceremony.flow.wizard.inputs import csr_file, sample_csr, signing_request
from ceremony.flow.wizard.navigation import Page
from ceremony.media.transfer import Candidate, list_candidates, read_candidate
from ceremony.media.volumes import Volume
from ui.pages.base import WizardPage, error_text
from ui.widgets.text import label, mono, named, notice, set_notice

if TYPE_CHECKING:
    from ui.shell import Shell


class CsrPage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        self.volumes: list[Volume] = []
        self.candidates: list[Candidate] = []
        self.request: Any = None
        self.request_volume: Path | None = None
        self.file_dialog: QFileDialog | None = None
        self.layout_.addWidget(label("Removable media (plug the stick in; the list updates):"))
        self.volume_list = named(QListWidget(), "Removable media")
        self.volume_list.setMaximumHeight(110)
        self.volume_list.currentRowChanged.connect(self._volume_chosen)
        self.layout_.addWidget(self.volume_list)
        self.layout_.addWidget(label("Certificate requests found on it:"))
        self.file_list = named(QListWidget(), "Certificate requests on the media")
        self.file_list.setMaximumHeight(140)
        self.file_list.currentRowChanged.connect(lambda _: self._forget())
        self.layout_.addWidget(self.file_list)
        row = QHBoxLayout()
        self.name = named(QLineEdit(), "Name of the issued certificate file (optional)")
        self.name.setPlaceholderText("name in issued/ (default: from the CSR's common name)")
        self.name.textEdited.connect(lambda _: self._forget())
        row.addWidget(self.name, 1)
        self.check_button = named(QPushButton("&Check this CSR"), "Check this CSR")
        self.check_button.clicked.connect(self.check)
        row.addWidget(self.check_button)
        self.file_button = named(QPushButton("Choose a &file…"), "Choose a CSR file")
        self.file_button.clicked.connect(self.open_file_dialog)
        row.addWidget(self.file_button)
        self.sample_button = named(
            QPushButton("Use the &sample CSR (rehearsal)"), "Use the sample CSR"
        )
        self.sample_button.clicked.connect(self.use_sample)
        row.addWidget(self.sample_button)
        self.layout_.addLayout(row)
        self.message = notice("", "info")
        self.message.setVisible(False)
        self.message.setAccessibleName("CSR check result")
        self.layout_.addWidget(self.message)
        self.export = named(
            QCheckBox(
                "&Write the signed certificate, its chain and the root CRL back to this media"
            ),
            "Export the outputs to the media the CSR came from",
        )
        self.export.setChecked(True)
        self.layout_.addWidget(self.export)
        self.review = mono("")
        self.review.setAccessibleName("CSR review")
        self.layout_.addWidget(self.review)
        self.layout_.addStretch(1)
        self.timer = QTimer(self)
        self.timer.setInterval(shell.options.media_poll_ms)
        self.timer.timeout.connect(self.poll)

    def title(self) -> str:
        return "The certificate request"

    def subtitle(self) -> str:
        return (
            "The CSR comes on removable media. It is checked against the intermediate "
            "profile now; its fingerprints are read aloud and confirmed by typing in the "
            "review step."
        )

    def enter(self) -> None:
        if not self.shell.data.rehearsal:
            self.sample_button.hide()
        self.poll()
        self._media_hint()
        self.timer.start()

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)

    # -- media

    def poll(self) -> None:
        volumes = self.shell.options.media.volumes()
        if [v.mount_point for v in volumes] == [v.mount_point for v in self.volumes]:
            return
        chosen = self._volume()
        removed = ""
        self.volumes = volumes
        self.volume_list.blockSignals(True)
        self.volume_list.clear()
        for v in volumes:
            self.volume_list.addItem(f"{v.display_name}  ({v.mount_point}, {v.device})")
        self.volume_list.blockSignals(False)
        keep = [i for i, v in enumerate(volumes) if chosen and v.mount_point == chosen.mount_point]
        if keep:
            self.volume_list.setCurrentRow(keep[0])
        else:
            if chosen is not None:
                removed = f"{chosen.display_name} was removed. "
                set_notice(self.message, removed, "warning")
            self.file_list.clear()
            self.candidates = []
            self._forget()
            if volumes:
                self.volume_list.setCurrentRow(0)
        if volumes and self.message.text().startswith("No removable media found"):
            self.message.setVisible(False)
        self._media_hint(removed)

    def _media_hint(self, before: str = "") -> None:
        if self.volumes or self.request is not None:
            return
        extra = (
            " In a rehearsal, a file from any folder will do: Choose a file…"
            if self.shell.data.rehearsal
            else ""
        )
        set_notice(
            self.message,
            before + "No removable media found. Plug in the operator's stick; the list updates"
            " by itself." + extra,
            "warning",
        )

    def _volume(self) -> Volume | None:
        row = self.volume_list.currentRow()
        return self.volumes[row] if 0 <= row < len(self.volumes) else None

    def _volume_chosen(self, row: int) -> None:
        self.file_list.clear()
        self.candidates = []
        volume = self._volume()
        if volume is None:
            return
        try:
            self.candidates = list_candidates(volume.mount_point)
        except Exception as ex:  # media errors are shown, not raised
            set_notice(self.message, error_text(ex), "error")
            return
        for c in self.candidates:
            rel = c.path.relative_to(volume.mount_point)
            text = (
                f"{rel}  ({c.encoding}, {c.size} bytes)"
                if c.accepted
                else (f"{rel}: refused, {c.refused}")
            )
            item = QListWidgetItem(text)
            if not c.accepted:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.file_list.addItem(item)
        first = next((i for i, c in enumerate(self.candidates) if c.accepted), None)
        if first is not None:
            self.file_list.setCurrentRow(first)
        self._forget()

    # -- checking

    def _forget(self) -> None:
        self.request = None
        self.request_volume = None
        self.review.setText("")
        self.notify()

    def open_file_dialog(self) -> QFileDialog:
        """A file chooser: any folder in a rehearsal, a detected removable medium for real."""
        volume = self._volume()
        start = str(volume.mount_point) if volume else str(Path.home())
        dialog = QFileDialog(self, "Choose the certificate request", start)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(["Certificate requests (*.csr *.pem *.der *.req *.p10)", "All (*)"])
        dialog.fileSelected.connect(lambda path: self.choose_file(Path(path)))
        self.file_dialog = dialog
        dialog.open()
        return dialog

    def _volume_of(self, path: Path) -> Volume | None:
        resolved = path.resolve()
        for v in self.volumes:
            if resolved.is_relative_to(Path(v.mount_point).resolve()):
                return v
        return None

    def choose_file(self, path: Path) -> None:
        """Check the CSR at ``path``; for real, only from a detected removable medium."""
        volume = self._volume_of(path)
        if volume is None and not self.shell.data.rehearsal:
            set_notice(
                self.message,
                f"Refused: {path} is not on a detected removable medium; a real ceremony takes "
                "the CSR only from the operator's media.",
                "error",
            )
            return

        def read() -> tuple[bytes, str]:
            return csr_file(path), str(path)

        self._check(read, self.name.text().strip() or None, volume.mount_point if volume else None)

    def use_sample(self) -> None:
        data, name = sample_csr()
        self._check(lambda: (data, name), "sample-intermediate", None)

    def check(self) -> None:
        row = self.file_list.currentRow()
        if not 0 <= row < len(self.candidates) or not self.candidates[row].accepted:
            set_notice(self.message, "Choose a certificate request on the media first.", "warning")
            return
        c = self.candidates[row]

        def read() -> tuple[bytes, str]:
            data, _ = read_candidate(c.path, expected_sha256=c.sha256)
            return data, str(c.path)

        volume = self._volume()
        self._check(read, self.name.text().strip() or None, volume.mount_point if volume else None)

    def _check(self, read: Any, name: str | None, volume: Path | None) -> None:
        folder = self.shell.data.bundle
        if folder is None or self.busy:
            return
        self.set_busy(True)
        self._forget()
        self.request_volume = volume

        def job() -> Any:
            data, source = read()
            return signing_request(Bundle(folder), data, source, name)

        self.shell.submit(job, self._checked, self._refused)

    def _checked(self, request: Any) -> None:
        self.request = request
        media = (
            " The certificate, its chain and the root CRL go back to the same media."
            if self.request_volume is not None
            else " It came from no removable medium: nothing is written back to media; the "
            "outputs stay in the bundle."
        )
        set_notice(
            self.message,
            f"The CSR passed every check; it will be written as {request.output}." + media,
            "ok",
        )
        self.export.setEnabled(self.request_volume is not None)
        self.review.setText("\n".join(request.review.lines()[:-1]))
        self.set_busy(False)

    def _refused(self, ex: BaseException) -> None:
        set_notice(
            self.message, f"Refused: {error_text(ex)}. Choose another file, or abort.", "error"
        )
        self.set_busy(False)

    def is_complete(self) -> bool:
        return not self.busy and self.request is not None

    def apply(self, data: Any) -> Any:
        session = self.shell.session
        if session is not None and self.request is not None:
            session.state["request"] = self.request
            session.state.pop("media", None)
            if self.export.isChecked() and self.request_volume is not None:
                session.state["media"] = self.request_volume
        return data

    def first_focus(self) -> QWidget | None:
        return self.volume_list

    def source_path(self) -> Path | None:
        row = self.file_list.currentRow()
        return self.candidates[row].path if 0 <= row < len(self.candidates) else None
