"""One page per step of the flow: what it does, who does it, run it, see what it did.

Generic over :class:`ceremony.flow.engine.Step`: a step added to a ceremony
gets this page with no change here. Irreversible steps (``commit=True``) are
commit pages: the witness agrees first, the button says Commit, and there
is no going back. The step runs on the worker thread; its questions appear
in the window's prompt panel; its recorded event is shown when it ends, with
a review of every certificate it wrote.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QGroupBox,
    QPlainTextEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from ceremony.flow.roomscript import script_for
from ceremony.flow.wizard import CeremonySession, Page, StepResult
from ceremony.flow.wizard.review import Preview
from ui.pages.base import WizardPage, error_text
from ui.widgets.certificate import CertificateView
from ui.widgets.facts import FactList
from ui.widgets.text import heading, label, named, notice, set_notice

if TYPE_CHECKING:
    from ui.shell import Shell

READY, RUNNING, DONE, FAILED = "ready", "running", "done", "failed"


class StepPage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        assert page.step is not None
        self.step = shell.plan.step(page.step)
        self.state = READY
        self.result: StepResult | None = None
        self.error: str | None = None
        self.certificates: list[CertificateView] = []
        self.started = 0.0

        steps = [s for s in shell.data.steps]
        number = steps.index(self.step.name) + 1
        session = shell.session
        who = session.performer(self.step) if session else self.step.role.value
        self.number = f"Step {number} of {len(steps)}"
        self.layout_.addWidget(label(f"{self.step.name}  ·  performed by {who}", selectable=True))
        if self.step.commit:
            self.layout_.addWidget(
                notice(
                    "COMMIT POINT: this step cannot be undone. Once it has run, the wizard does "
                    "not go back; after an interruption the ceremony resumes after it.",
                    "warning",
                )
            )
        definition = session.definition if session else None
        self.activity_text = (
            self.step.activity if definition is None else self.step.activity_for(definition)
        )
        self.activity = heading(self.activity_text, 1.15)
        if self.activity_text == self._short():
            self.activity.hide()  # hide() before the layout adopts it: never a top-level
        self.layout_.addWidget(self.activity)
        script = script_for(self.step, definition)
        self.script = script
        aloud = QGroupBox("The ceremony administrator reads aloud")
        a = QVBoxLayout(aloud)
        self.read_aloud = label(script.read_aloud, selectable=True)
        self.read_aloud.setAccessibleName("What the administrator reads aloud")
        a.addWidget(self.read_aloud)
        self.layout_.addWidget(aloud)
        duties = QGroupBox("Who does what")
        d = QVBoxLayout(duties)
        self.duties = FactList([(duty.who, duty.does) for duty in script.duties])
        d.addWidget(self.duties)
        self.layout_.addWidget(duties)
        self.preview_box = QGroupBox("What will be signed: every field, before the signature")
        pv = QVBoxLayout(self.preview_box)
        self.preview_status = label("Building the preview from the TBS to be signed…")
        self.preview_status.setAccessibleName("Preview status")
        pv.addWidget(self.preview_status)
        self.preview_facts = FactList()
        pv.addWidget(self.preview_facts)
        self.layout_.addWidget(self.preview_box)  # before setVisible: never a top-level window
        self.preview_box.setVisible(self.step.preview is not None)
        self.previewed = self.step.preview is None
        self.agree = named(
            QCheckBox(
                "The step and its preview were read aloud and the &witness agrees to proceed"
                if self.step.preview is not None
                else "The step was read aloud and the &witness agrees to proceed"
            ),
            f"Witness agrees to run {self.step.name}",
        )
        self.agree.toggled.connect(self.notify)
        if not self.step.commit:
            self.agree.hide()
        self.layout_.addWidget(self.agree)

        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(12)
        self.bar.setAccessibleName("Step progress")
        self.layout_.addWidget(self.bar)
        self.elapsed = label("Not started.")
        self.elapsed.setAccessibleName("Step status")
        self.layout_.addWidget(self.elapsed)

        self.error_box = notice("", "error")
        self.error_box.setVisible(False)
        self.error_box.setAccessibleName("Step refused")
        self.layout_.addWidget(self.error_box)

        self.result_box = QGroupBox("Recorded in the event log")
        self.result_layout = QVBoxLayout(self.result_box)
        self.means = notice(f"What this means: {script.means}", "ok")
        self.means.setAccessibleName("What the result means")
        self.result_layout.addWidget(self.means)
        self.facts = FactList()
        self.result_layout.addWidget(self.facts)
        self.result_box.setVisible(False)
        self.layout_.addWidget(self.result_box)

        self.messages_box = QGroupBox("Messages from the step")
        m = QVBoxLayout(self.messages_box)
        self.messages = named(QPlainTextEdit(), "Messages from the step")
        self.messages.setReadOnly(True)
        self.messages.setMaximumHeight(90)
        self.messages.setTabChangesFocus(True)
        m.addWidget(self.messages)
        self.layout_.addWidget(self.messages_box)
        self.messages_box.hide()  # shown with the first message
        self.layout_.addStretch(1)

        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self._tick)

    def _short(self) -> str:
        return self.activity_text.split(":")[0].split(";")[0]

    def title(self) -> str:
        return f"{self.number}: {self._short()}"

    def subtitle(self) -> str:
        return (
            "Commit page: irreversible."
            if self.step.commit
            else "Runs when you press the button below; recorded before the wizard goes on."
        )

    def is_commit(self) -> bool:
        return self.step.commit

    # -- the action

    def action_label(self) -> str | None:
        if self.state == DONE:
            return None
        if self.state == FAILED:
            return "Try a&gain"
        return "&Commit: run this step" if self.step.commit else "&Run this step"

    def action_ready(self) -> bool:
        if self.busy or self.state == RUNNING or not self.previewed:
            return False
        return self.agree.isChecked() or not self.step.commit

    def enter(self) -> None:
        if self.step.preview is not None and not self.previewed and not self.busy:
            self.load_preview()

    def load_preview(self) -> None:
        session = self.shell.session
        if session is None:
            return
        self.set_busy(True)
        name = self.step.name

        def done(preview: Preview | None) -> None:
            self.set_busy(False)
            if preview is None:
                self.previewed = True
                return
            self.previewed = True
            self.preview_status.setText(
                f"The {preview.what} as it will be signed (TBS SHA-256 {preview.tbs_sha256}). "
                "The step signs exactly this TBS, or refuses."
            )
            self.preview_facts.set_rows(
                list(preview.fields)
                + [(f"{ext} ({crit})", value) for ext, crit, value in preview.extensions]
            )
            self.changed.emit()
            if QApplication.focusWidget() is None and self.step.commit:
                self.agree.setFocus()

        def failed(ex: BaseException) -> None:
            self.set_busy(False)
            self.preview_status.setText(f"No preview: {error_text(ex)}")
            self.previewed = True  # the step itself refuses what it cannot build
            self.changed.emit()

        self.shell.submit(lambda: session.preview(name), done, failed)

    def run_action(self) -> None:
        session = self.shell.session
        if session is None or self.state == RUNNING:
            return
        self.state = RUNNING
        self.error_box.setVisible(False)
        self.bar.setRange(0, 0)
        self.started = time.monotonic()
        self.timer.start()
        self.set_busy(True)
        name = self.step.name
        self.shell.submit(lambda: self._run(session, name), self._done, self._failed)

    @staticmethod
    def _run(session: CeremonySession, name: str) -> StepResult:
        event = session.run(name)
        return session.result(event)

    def _tick(self) -> None:
        self.elapsed.setText(f"Running… {time.monotonic() - self.started:.1f} s")

    def on_progress(self, step: str, message: str) -> None:
        self.messages_box.show()
        self.messages.appendPlainText(f"[{step}] {message}")

    def _stop(self) -> None:
        self.timer.stop()
        self.bar.setRange(0, 1)

    def _done(self, result: StepResult) -> None:
        self._stop()
        self.bar.setValue(1)
        self.state = DONE
        self.result = result
        took = time.monotonic() - self.started
        self.elapsed.setText(
            f"Done in {took:.1f} s; recorded at {result.time} as event {result.seq}."
        )
        self.agree.setEnabled(False)
        rows = [("Event", f"{result.seq} at {result.time}"), ("Event hash", result.event_hash)]
        rows += list(result.facts)
        rows += [(f"Output {path}", digest) for path, digest in result.outputs]
        self.facts.set_rows(rows)
        for i, review in enumerate(result.certificates):
            view = CertificateView(review)
            view.reviewed.toggled.connect(self.notify)
            self.certificates.append(view)
            self.layout_.insertWidget(self.layout_.indexOf(self.result_box) + i, view)
        self.result_box.setVisible(True)
        self.shell.step_recorded(self.step.name)
        self.set_busy(False)
        if self.certificates:
            self.certificates[0].reviewed.setFocus()
            self.shell.reveal(self.certificates[0])

    def _failed(self, ex: BaseException) -> None:
        self._stop()
        self.state = FAILED
        self.error = error_text(ex)
        self.elapsed.setText("Refused; nothing was recorded for this step.")
        set_notice(
            self.error_box,
            f"Refused: {self.error}\n\nNothing was recorded for this step. Correct the cause "
            "and try again, record an exception, or abort the ceremony (it can be resumed "
            "later).",
            "error",
        )
        self.set_busy(False)

    def is_complete(self) -> bool:
        return self.state == DONE and all(c.reviewed.isChecked() for c in self.certificates)

    def first_focus(self) -> QWidget | None:
        return self.agree if self.step.commit else None

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
