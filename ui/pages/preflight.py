"""Preflight: network isolation, UTC clock, software hash, HSM; then the ceremony opens.

A real ceremony cannot go on while a non-loopback interface is up; a
rehearsal shows a warning and the flow records it. The page's action opens
the ceremony log: it records the sign-in (``ceremony.open``) and the
preflight step, or on a resumed ceremony who is present now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ceremony.flow.wizard import Page, PreflightReport
from ui.pages.base import WizardPage, error_text
from ui.widgets.facts import FactList
from ui.widgets.text import heading, label, mono, named, notice, set_notice

if TYPE_CHECKING:
    from ui.shell import Shell


class PreflightPage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        self.report: PreflightReport | None = None
        self.opened = False
        self.error: str | None = None

        net = QGroupBox("Network isolation")
        n = QVBoxLayout(net)
        self.network = notice("Checking…", "info")
        self.network.setAccessibleName("Network check")
        self.interfaces = FactList()
        n.addWidget(self.network)
        n.addWidget(self.interfaces)
        self.layout_.addWidget(net)

        clock = QGroupBox("Clock (UTC)")
        c = QVBoxLayout(clock)
        self.clock = heading("", 1.6)
        self.clock.setAccessibleName("Current UTC time of this machine")
        c.addWidget(self.clock)
        c.addWidget(
            label(
                "Compare with the reference clock (a radio time signal or the "
                "witness's watch set from it). Event times in the log come from "
                "this clock."
            )
        )
        self.clock_ok = named(
            QCheckBox("The UTC clock &matches the reference clock"),
            "UTC clock confirmed against the reference",
        )
        self.clock_ok.toggled.connect(self.notify)
        c.addWidget(self.clock_ok)
        self.layout_.addWidget(clock)

        soft = QGroupBox("Software")
        s = QVBoxLayout(soft)
        self.software = FactList()
        self.software_words = mono("", scale=1.1)
        self.software_words.setAccessibleName("Software package hash as PGP words")
        s.addWidget(self.software)
        s.addWidget(
            label("Package hash as PGP words (read aloud, compare with the published release):")
        )
        s.addWidget(self.software_words)
        self.software_ok = named(
            QCheckBox("The software &hash was read aloud and matches the published value"),
            "Software hash confirmed",
        )
        self.software_ok.toggled.connect(self.notify)
        s.addWidget(self.software_ok)
        self.layout_.addWidget(soft)

        hsm = QGroupBox("HSM")
        h = QVBoxLayout(hsm)
        row = QHBoxLayout()
        self.module = named(QLineEdit(), "PKCS#11 module path")
        self.module.setPlaceholderText("default: the installed SoftHSM2")
        row.addWidget(label("PKCS#11 module:"))
        row.addWidget(self.module, 1)
        self.recheck = named(QPushButton("Check &again"), "Check network, clock and HSM again")
        self.recheck.clicked.connect(self.check)
        row.addWidget(self.recheck)
        h.addLayout(row)
        self.hsm_status = notice("", "info")
        self.hsm_status.setAccessibleName("HSM check")
        h.addWidget(self.hsm_status)
        self.hsm_facts = FactList()
        h.addWidget(self.hsm_facts)
        self.layout_.addWidget(hsm)

        self.result = notice("", "ok")
        self.result.setVisible(False)
        self.result.setAccessibleName("Preflight result")
        self.layout_.addWidget(self.result)
        self.layout_.addStretch(1)

        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self._tick)
        self._tick()

    def title(self) -> str:
        return "Preflight checks"

    def subtitle(self) -> str:
        return (
            "Before anything touches the HSM: the machine is off every network, its "
            "clock is right, the software is the reviewed release, and the HSM is the "
            "one expected."
        )

    def _tick(self) -> None:
        self.clock.setText(datetime.now(UTC).strftime("%Y-%m-%d  %H:%M:%S  UTC"))

    def enter(self) -> None:
        self.timer.start()
        if not self.module.text() and self.shell.data.module_path:
            self.module.setText(self.shell.data.module_path)
        if self.report is None and not self.busy:
            self.check()

    def check(self) -> None:
        session = self.shell.session
        if session is None or self.busy:
            return
        self.set_busy(True)
        set_notice(self.network, "Checking…", "info")
        module = self.module.text().strip()
        self.shell.submit(lambda: session.preflight_report(module), self._checked, self._failed)

    def _checked(self, report: PreflightReport) -> None:
        self.report = report
        self.set_busy(False)
        if report.network_refusal:
            set_notice(self.network, f"Refused: {report.network_refusal}", "error")
        elif report.network_warning:
            set_notice(self.network, f"Warning: {report.network_warning}", "warning")
        else:
            set_notice(self.network, "No network interface is up (loopback only).", "ok")
        self.interfaces.set_rows(
            [
                (i.name, ("up" if i.up else "down") + (" (loopback)" if i.loopback else ""))
                for i in report.interfaces
            ]
            or [("(none)", "no interfaces found")]
        )
        self.software.set_rows(
            [
                ("Version", report.software_version),
                ("Package SHA-256", report.software_hash),
            ]
        )
        self.software_words.setText(report.software_words)
        hsm = report.hsm
        if hsm.ok:
            tokens = ", ".join(t.label for t in hsm.tokens) or "no initialized token yet"
            set_notice(self.hsm_status, f"Found: {hsm.description} ({tokens}).", "ok")
            rows: list[tuple[str, str]] = [("Module", hsm.module_path)]
            for t in hsm.tokens:
                rows.append((f"Token {t.label}", ""))
                rows += [(f"{t.label}.{k}", v) for k, v in t.rows]
            self.hsm_facts.set_rows(rows)
        else:
            set_notice(
                self.hsm_status,
                f"HSM not available: {hsm.problem}. Fix the module "
                "path or connect the HSM, then check again; or abort.",
                "error",
            )
            self.hsm_facts.set_rows([("Module", hsm.module_path)])
        self.changed.emit()

    def _failed(self, ex: BaseException) -> None:
        self.set_busy(False)
        set_notice(self.network, error_text(ex), "error")

    # -- the action: open the ceremony

    def action_label(self) -> str | None:
        if self.opened:
            return None
        resumed = self.shell.data.resume
        return "&Reopen the ceremony" if resumed else "&Open the ceremony"

    def action_ready(self) -> bool:
        return (
            not self.busy
            and self.report is not None
            and self.report.ready
            and self.clock_ok.isChecked()
            and self.software_ok.isChecked()
        )

    def run_action(self) -> None:
        session = self.shell.session
        if session is None:
            return
        self.set_busy(True)
        present = list(self.shell.present)
        self.shell.submit(lambda: session.open(present), self._opened, self._open_failed)

    def _opened(self, events: list[dict[str, Any]]) -> None:
        self.opened = True
        self.shell.ceremony_started()
        self.recheck.setEnabled(False)
        self.module.setReadOnly(True)
        recorded = ", ".join(f"{e['step']} (event {e['seq']})" for e in events) or (
            "the resumption"
        )
        set_notice(self.result, f"The ceremony is open. Recorded: {recorded}.", "ok")
        self.set_busy(False)

    def _open_failed(self, ex: BaseException) -> None:
        self.error = error_text(ex)
        set_notice(self.result, f"Refused: {self.error}", "error")
        self.set_busy(False)

    def is_complete(self) -> bool:
        return self.opened and not self.busy

    def first_focus(self) -> QWidget | None:
        return self.clock_ok

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)
