"""Page 2: the bundle folder, the PKCS#11 module, and for a new ceremony its parameters."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ceremony.errors import CeremonyError, InputError
from ceremony.flow.wizard import BundleProbe, Choices, Page, probe_bundle
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.module import MODULE_ENV
from ui.pages.base import WizardPage
from ui.widgets.text import label, named, notice, set_buddies, set_notice

if TYPE_CHECKING:
    from ui.shell import Shell


def _with_browse(edit: QLineEdit, browse: QPushButton) -> QWidget:
    w = QWidget()
    row = QHBoxLayout(w)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    row.addWidget(browse)
    return w


class SetupPage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        self.probe: BundleProbe | None = None
        self.intro = label("")
        self.layout_.addWidget(self.intro)
        self.form = QFormLayout()
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)

        self.folder = named(QLineEdit(), "Bundle folder")
        self.folder.textChanged.connect(self._probe)
        browse = named(QPushButton("Bro&wse…"), "Browse for the bundle folder")
        browse.clicked.connect(self._browse_folder)
        self.form.addRow("Bundle &folder:", _with_browse(self.folder, browse))

        self.definition = named(QLineEdit(), "Reviewed ceremony file")
        self.definition.textChanged.connect(self._probe)
        browse_def = named(QPushButton("B&rowse…"), "Browse for the ceremony file")
        browse_def.clicked.connect(self._browse_definition)
        self.definition_row = _with_browse(self.definition, browse_def)
        self.form.addRow("Ceremony f&ile:", self.definition_row)

        self.key = named(QComboBox(), "Root key type")
        for k in KeyAlgorithm:
            self.key.addItem(k.description, k)
        self.key.setCurrentIndex(list(KeyAlgorithm).index(KeyAlgorithm.ECDSA_P384))
        self.form.addRow("Root &key:", self.key)
        self.shares = named(QSpinBox(), "Number of custodians, N")
        self.shares.setRange(1, 16)
        self.shares.setValue(5)
        self.threshold = named(QSpinBox(), "Custodians needed, M")
        self.threshold.setRange(1, 5)
        self.threshold.setValue(3)
        self.shares.valueChanged.connect(lambda n: self.threshold.setMaximum(n))
        self.form.addRow("&Custodians (N):", self.shares)
        self.form.addRow("Needed to &activate or recover (M):", self.threshold)

        self.module = named(QLineEdit(), "PKCS#11 module path")
        self.module.setPlaceholderText(
            os.environ.get(MODULE_ENV) or "default: the installed SoftHSM2 (libsofthsm2.so)"
        )
        self.form.addRow("PKCS#11 &module:", self.module)
        set_buddies(self.form)
        self.layout_.addLayout(self.form)
        self.status = notice("", "info")
        self.status.setAccessibleName("Bundle folder check")
        self.layout_.addWidget(self.status)
        self.print_script = named(
            QPushButton("Print the &script…"),
            "Print the ceremony's script",
            "The script the room reads: every step, who does what, initials and time boxes, the"
            " bag-serial table and the sign-in sheet; its SHA-256 is recorded when the ceremony"
            " opens",
        )
        self.print_script.setAutoDefault(False)
        self.print_script.clicked.connect(self._print_script)
        row = QHBoxLayout()
        row.addWidget(self.print_script)
        row.addStretch(1)
        self.layout_.addLayout(row)
        self.script_status = label("")
        self.layout_.addWidget(self.script_status)
        self.layout_.addStretch(1)
        if shell.options.folder is not None:
            self.folder.setText(str(shell.options.folder))
        if shell.options.module_path:
            self.module.setText(shell.options.module_path)

    # -- what changes with the ceremony and the mode

    def _new_root(self) -> bool:
        return self.shell.plan.creates_bundle

    def title(self) -> str:
        return "Bundle folder and HSM"

    def subtitle(self) -> str:
        return self.shell.plan.title + (" (rehearsal)" if self.shell.data.rehearsal else "")

    def enter(self) -> None:
        data = self.shell.data
        new_root, rehearsal = self._new_root(), data.rehearsal
        if new_root and rehearsal:
            intro = (
                "Choose a new, empty folder for the evidence bundle (it is created), or "
                "a folder holding an interrupted rehearsal to resume it."
            )
        elif new_root:
            intro = (
                "Choose the reviewed ceremony file and a new, empty folder for the "
                "evidence bundle, or a folder holding an interrupted ceremony."
            )
        else:
            intro = (
                "Choose the evidence bundle of the root ceremony. This ceremony adds "
                "its outputs and a new transcript to it."
            )
        self.intro.setText(intro)
        for w in (self.key, self.shares, self.threshold):
            self.form.setRowVisible(w, new_root and rehearsal)
        self.form.setRowVisible(self.definition_row, new_root and not rehearsal)
        self._probe()

    def script_pdf(self) -> bytes:
        """The script of this ceremony, from the file it will run: the bundle's, the chosen
        reviewed file, or the rehearsal file the wizard drafts from the parameters.

        :raises CeremonyError: no ceremony file yet, or one that is refused.
        """
        from ceremony.config import ceremonyfile
        from ceremony.flow.scriptdoc import render_script

        data = self.shell.data
        folder = Path(self.folder.text().strip() or ".")
        chosen = self.definition.text().strip()
        if self.probe is not None and self.probe.has_definition:
            definition, raw = ceremonyfile.load(folder / "ceremony.toml")
        elif chosen and not data.rehearsal:
            definition, raw = ceremonyfile.load(Path(chosen))
        elif self._new_root() and data.rehearsal:
            key = self.key.currentData()
            definition = ceremonyfile.rehearsal_definition(
                key if isinstance(key, KeyAlgorithm) else data.key,
                self.threshold.value(),
                self.shares.value(),
            )
            raw = ceremonyfile.render(definition)
        else:
            raise InputError("the script: choose the bundle folder or the ceremony file first")
        return render_script(definition, raw, self.shell.plan.kind, data.rehearsal)

    def _print_script(self) -> None:
        import hashlib

        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        from ui.printing import paint, render_pages

        try:
            pdf = self.script_pdf()
        except CeremonyError as ex:
            set_notice(self.script_status, ex.message, "error")
            return
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.NativeFormat)
        dialog = QPrintDialog(printer, self)
        if dialog.exec() != QPrintDialog.DialogCode.Accepted:
            return
        paint(printer, render_pages(pdf))
        set_notice(
            self.script_status,
            f"Script sent to {printer.printerName()}; SHA-256 {hashlib.sha256(pdf).hexdigest()}"
            " (the log records it when the ceremony opens).",
            "ok",
        )

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Bundle folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def _browse_definition(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Reviewed ceremony file", self.definition.text(), "Ceremony file (*.toml)"
        )
        if path:
            self.definition.setText(path)

    def _probe(self) -> None:
        text = self.folder.text().strip()
        self.probe = None
        if not text:
            set_notice(self.status, "Type or browse for a folder.", "info")
        else:
            try:
                self.probe = probe_bundle(Path(text), self.shell.plan, self.shell.data.rehearsal)
            except (OSError, CeremonyError) as ex:
                set_notice(self.status, f"{text}: {ex}", "error")
            else:
                self._show_probe(self.probe)
        self.changed.emit()

    def _show_probe(self, probe: BundleProbe) -> None:
        if probe.problem:
            set_notice(self.status, probe.problem, "error")
        elif probe.resumable:
            set_notice(
                self.status,
                f"An interrupted ceremony ({self.shell.plan.title}) is open in "
                f"{probe.open_transcript.name if probe.open_transcript else ''}: "
                f"{len(probe.done)} steps recorded, last {probe.last_step or '(none)'}. "
                "Next, the wizard offers to continue it.",
                "warning",
            )
        elif probe.has_definition:
            set_notice(self.status, "The folder holds this ceremony's bundle.", "ok")
        else:
            set_notice(self.status, "A new bundle will be created in this folder.", "ok")

    def is_complete(self) -> bool:
        if self.probe is None or self.probe.problem:
            return False
        needs_file = self._new_root() and not self.shell.data.rehearsal
        return not (
            needs_file and not self.probe.has_definition and not self.definition.text().strip()
        )

    def apply(self, data: Choices) -> Choices:
        key = self.key.currentData()
        definition = self.definition.text().strip()
        return replace(
            data,
            bundle=Path(self.folder.text().strip()),
            key=key if isinstance(key, KeyAlgorithm) else data.key,
            threshold=self.threshold.value(),
            shares=self.shares.value(),
            definition_file=Path(definition) if definition else None,
            module_path=self.module.text().strip() or None,
            resume=bool(self.probe and self.probe.resumable),
        )

    def accept(self, proceed):  # type: ignore[no-untyped-def]
        self._probe()
        if self.is_complete():
            self.shell.new_session(self.apply(self.shell.data), self.probe)
            proceed()

    def first_focus(self) -> QWidget | None:
        return self.folder
