"""The wizard shell: banner, outline, page, buttons; navigation decided by the flow.

The window owns the headless :class:`~ceremony.flow.wizard.Navigator`, the
:class:`~ceremony.flow.wizard.CeremonySession`, the worker thread and the
prompter. Each page is created when the navigator first reaches it. When
the flow asks a question, the page gives way to a prompt panel until it is
answered; the Exception button works on every page and panel.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ceremony.flow.wizard import (
    OWNED_STEPS,
    BundleProbe,
    CeremonyPlan,
    CeremonySession,
    Choices,
    Navigator,
    Page,
    View,
)
from ui.options import Options
from ui.pages.base import WizardPage, error_text
from ui.pages.choose import ChoosePage
from ui.pages.csr import CsrPage
from ui.pages.participants import ParticipantsPage
from ui.pages.preflight import PreflightPage
from ui.pages.resume import ResumePage
from ui.pages.revocation import RevocationPage
from ui.pages.setup import SetupPage
from ui.pages.step import StepPage
from ui.pages.summary import SummaryPage
from ui.pages.target import TargetPage
from ui.panels import PromptPanel
from ui.panels.collect import CollectPanel
from ui.panels.custody import PassphrasePanel, PrintCardsPanel, ProvePanel
from ui.panels.handout import HandOutPanel
from ui.panels.questions import ConfirmPanel, OrphanPanel
from ui.prompter import (
    COLLECT,
    CONFIRM,
    HAND_OUT,
    ORPHAN,
    PASSPHRASE,
    PRINT_CARDS,
    PROVE,
    RESHOW,
    PromptRequest,
    QtPrompter,
)
from ui.shell import Shell
from ui.widgets.abort_dialog import AbortDialog
from ui.widgets.exception_dialog import ExceptionDialog
from ui.widgets.glossary import GlossaryDialog
from ui.widgets.sidebar import CURRENT, DONE, TODO, StepList
from ui.widgets.text import heading, label, named
from ui.worker import FlowWorker

PAGE_TYPES: dict[View, type[WizardPage]] = {
    View.CHOOSE: ChoosePage,
    View.SETUP: SetupPage,
    View.RESUME: ResumePage,
    View.CSR: CsrPage,
    View.REVOCATION: RevocationPage,
    View.TARGET: TargetPage,
    View.PARTICIPANTS: ParticipantsPage,
    View.PREFLIGHT: PreflightPage,
    View.STEP: StepPage,
    View.SUMMARY: SummaryPage,
}

REHEARSAL_BANNER = (
    "REHEARSAL: not a real ceremony. SoftHSM2 token and shares kept in the "
    "bundle's rehearsal/ folder."
)
REAL_BANNER = "REAL CEREMONY: air-gapped machine, production HSM."


class CeremonyWindow(QWidget):
    """The ceremony wizard."""

    def __init__(
        self, options: Options | None = None, plans: dict[str, CeremonyPlan] | None = None
    ) -> None:
        super().__init__()
        self.options = options or Options()
        self.setWindowTitle("Ceremony")
        self.navigator = Navigator(plans)
        self.worker = FlowWorker()
        self.worker.busy_changed.connect(self._worker_busy)
        self._close_when_idle = False
        self.prompter = QtPrompter(self)
        self.prompter.asked.connect(self.show_prompt)
        self.prompter.progressed.connect(self._progress)
        self.session: CeremonySession | None = None
        self.probe: BundleProbe | None = None
        self.present: list[str] = []
        self.pages: dict[str, WizardPage] = {}
        self.scrolls: dict[str, QScrollArea] = {}
        self.panel: PromptPanel | None = None
        self.exception_dialog: ExceptionDialog | None = None
        self.abort_box: QMessageBox | None = None
        self.abort_dialog: AbortDialog | None = None
        self._noted_early: list[tuple[str, str, str]] = []
        self._closing = False
        self._build()
        start = Choices(
            kind=self.options.kind or "root",
            rehearsal=True if self.options.rehearsal is None else self.options.rehearsal,
            module_path=self.options.module_path,
        )
        self._show(self.navigator.start(start))
        self.worker.submit(self._warm_up, lambda _: None, lambda _: None)

    def _warm_up(self) -> None:
        """Import the ceremonies' flows (pkilint is slow to import) while the room reads."""
        for plan in self.navigator.plans.values():
            if plan.available:
                plan.steps()

    # -- layout

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.banner = QLabel(REHEARSAL_BANNER)
        self.banner.setWordWrap(True)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setAccessibleName("Ceremony mode")
        outer.addWidget(self.banner)

        body = QHBoxLayout()
        body.setContentsMargins(10, 10, 10, 4)
        side = QVBoxLayout()
        self.clock = label("")
        self.clock.setAccessibleName("Elapsed time, local time and UTC")
        side.addWidget(self.clock)
        self.outline = StepList()
        side.addWidget(self.outline, 1)
        self.side = QWidget()
        self.side.setLayout(side)
        side.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.side)
        right = QVBoxLayout()
        self.title = heading("", 1.5)
        self.subtitle = label("")
        right.addWidget(self.title)
        right.addWidget(self.subtitle)
        self.central = QStackedWidget()
        self.page_stack = QStackedWidget()
        self.prompt_holder = QScrollArea()
        self.prompt_holder.setWidgetResizable(True)
        self.central.addWidget(self.page_stack)
        self.central.addWidget(self.prompt_holder)
        self.pause_cover = QWidget()
        cover = QVBoxLayout(self.pause_cover)
        cover.addStretch(1)
        self.pause_text = heading("Paused", 2.0)
        self.pause_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        cover.addWidget(self.pause_text)
        self.resume_button = named(QPushButton("&Continue"), "Continue after the pause")
        self.resume_button.clicked.connect(self.end_pause)
        cover.addWidget(self.resume_button, 0, Qt.AlignmentFlag.AlignCenter)
        cover.addStretch(1)
        self.central.addWidget(self.pause_cover)
        right.addWidget(self.central, 1)
        body.addLayout(right, 1)
        outer.addLayout(body, 1)

        footer = QHBoxLayout()
        footer.setContentsMargins(10, 6, 10, 10)
        self.steps_button = named(QPushButton("Steps"), "Show or hide the list of steps")
        self.steps_button.setCheckable(True)
        self.steps_button.setChecked(True)
        self.steps_button.setToolTip("Show or hide the list of steps (Ctrl+L)")
        self.steps_button.toggled.connect(self.side.setVisible)
        footer.addWidget(self.steps_button)
        self.glossary_button = named(QPushButton("Glossary (F1)"), "Glossary of ceremony terms")
        self.glossary_button.clicked.connect(self.open_glossary)
        footer.addWidget(self.glossary_button)
        self.pause_button = named(QPushButton("&Pause"), "Pause: clear the screen")
        self.pause_button.clicked.connect(self.pause)
        footer.addWidget(self.pause_button)
        self.exception_button = named(QPushButton("Record an e&xception…"), "Record an exception")
        self.exception_button.clicked.connect(self.open_exception_dialog)
        footer.addWidget(self.exception_button)
        self.status = label("")
        self.status.setAccessibleName("Status")
        footer.addWidget(self.status, 1)
        self.abort_button = named(QPushButton("Abor&t…"), "Abort the ceremony")
        self.abort_button.clicked.connect(self.ask_abort)
        self.back_button = named(QPushButton("< &Back"), "Back")
        self.back_button.clicked.connect(self.go_back)
        self.primary = named(QPushButton("&Next >"), "Next")
        self.primary.setObjectName("primary")
        self.primary.setDefault(True)
        self.primary.clicked.connect(self.primary_clicked)
        for b in (self.abort_button, self.back_button, self.primary):
            footer.addWidget(b)
        outer.addLayout(footer)
        QShortcut(QKeySequence("Ctrl+Return"), self, self._primary_if_enabled)
        QShortcut(QKeySequence("F1"), self, self.open_glossary)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            QShortcut(QKeySequence(key), self, self.press_default)
        QShortcut(QKeySequence("Ctrl+L"), self, lambda: self.steps_button.toggle())
        self.glossary: GlossaryDialog | None = None
        self.paused_since: datetime | None = None
        self._before_pause: QWidget = self.page_stack
        self.started_at = datetime.now(UTC)
        self.ticker = QTimer(self)
        self.ticker.setInterval(1000)
        self.ticker.timeout.connect(self._tick)
        self.ticker.start()
        self._tick()
        self.fit_to_screen()

    PREFERRED = QSize(1180, 760)
    TITLE_BAR = 40
    """Room left for the window manager's title bar and frame (not in availableGeometry)."""

    def sizeHint(self) -> QSize:
        return self._fitting()

    def _fitting(self) -> QSize:
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return self.PREFERRED
        room = screen.availableGeometry()
        return QSize(
            min(self.PREFERRED.width(), room.width() - 8),
            min(self.PREFERRED.height(), room.height() - self.TITLE_BAR - 8),
        )

    def fit_to_screen(self) -> None:
        """The preferred size, or the screen's available room less the title bar; the step
        list folds away on a narrow screen."""
        size = self._fitting()
        self.resize(size)
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            room = screen.availableGeometry()
            self.move(
                room.x() + (room.width() - size.width()) // 2,
                room.y() + max(0, (room.height() - self.TITLE_BAR - size.height()) // 2),
            )
            if room.width() < 960:
                self.steps_button.setChecked(False)

    # -- time, pause, glossary

    def _tick(self) -> None:
        now = datetime.now(UTC)
        local = now.astimezone()
        session = self.session
        since = self.started_at
        if session is not None and session.ctx is not None and session.ctx.log.events:
            since = datetime.strptime(
                str(session.ctx.log.events[0]["time"]), "%Y-%m-%dT%H:%M:%SZ"
            ).replace(tzinfo=UTC)
        seconds = int((now - since).total_seconds())
        elapsed = f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        self.clock.setText(
            f"Elapsed {elapsed}\n{local:%H:%M:%S} {local.tzname()} (UTC{local:%z})"
            f"\n{now:%H:%M:%S} UTC, {now:%Y-%m-%d}"
        )
        if self.paused_since is not None:
            self.pause_text.setText(
                f"Paused since {self.paused_since.astimezone():%H:%M:%S}."
                "\nNothing is lost; press Continue to show the ceremony again."
            )

    def pause(self) -> None:
        """Clear the screen (a break, a visitor); nothing of the ceremony is lost."""
        if self.paused_since is not None:
            return
        self.paused_since = datetime.now(UTC)
        self._before_pause = self.central.currentWidget() or self.page_stack
        self.central.setCurrentWidget(self.pause_cover)
        self.title.setText("Paused")
        self.subtitle.setVisible(False)
        self.side.setEnabled(False)
        self._tick()
        self.update_buttons()
        self.resume_button.setFocus()

    def end_pause(self) -> None:
        if self.paused_since is None:
            return
        self.paused_since = None
        self.central.setCurrentWidget(self._before_pause)
        self.side.setEnabled(True)
        w = self.current_page
        self.title.setText(w.title())
        self.subtitle.setVisible(bool(w.subtitle()))
        self.update_buttons()

    def open_glossary(self) -> GlossaryDialog:
        if self.glossary is None:
            self.glossary = GlossaryDialog(self)
        self.glossary.show()
        self.glossary.activateWindow()
        return self.glossary

    def press_default(self) -> None:
        """Enter presses the default button: the question's, else Next (or the page's action).

        A text field that takes Enter itself (share words, a reason) keeps it.
        """
        if self.paused_since is not None:
            self.end_pause()
            return
        if self.panel is not None:
            for b in self.panel.findChildren(QPushButton):
                if b.isDefault() and b.isVisible() and b.isEnabled():
                    b.click()
                    return
            return
        self._primary_if_enabled()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers():
            self.press_default()
            return
        super().keyPressEvent(event)

    # -- state shared with the pages

    @property
    def data(self) -> Choices:
        return self.navigator.data

    def set_data(self, data: Choices) -> None:
        self.navigator.update(data)

    @property
    def plan(self) -> CeremonyPlan:
        return self.navigator.plan(self.data)

    @property
    def plans(self) -> dict[str, CeremonyPlan]:
        return self.navigator.plans

    @property
    def page_parent(self) -> QWidget:
        return self.page_stack

    def supports(self, plan: CeremonyPlan) -> bool:
        """The wizard has a page for every input ``plan`` needs."""
        return plan.available and all(v in PAGE_TYPES for v in plan.inputs)

    @property
    def current_page(self) -> WizardPage:
        return self.pages[self.navigator.current.key]

    def submit(
        self,
        job: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.worker.submit(job, done, failed)
        self.update_buttons()

    def new_session(self, data: Choices, probe: BundleProbe | None) -> None:
        """Set-up accepted: the session for this ceremony and bundle."""
        assert data.bundle is not None
        plan = self.navigator.plan(data)
        self.probe = probe
        self.session = CeremonySession(
            plan,
            data.rehearsal,
            data.bundle,
            self.prompter,
            sys_net=self.options.sys_net,
            module_path=data.module_path,
        )
        self.prompter.rehearsal_dir = data.bundle / "rehearsal" if data.rehearsal else None
        done = frozenset(probe.done) if probe and probe.resumable else frozenset()
        steps = tuple(s.name for s in plan.steps())
        self.set_data(Choices(**{**data.__dict__, "steps": steps, "done": done}))
        for description, remediation, by in self._noted_early:
            self.session.note_exception(description, remediation, by)
        self._noted_early.clear()

    def ceremony_started(self) -> None:
        """The log is open: no going back; pages now follow the log."""
        session = self.session
        assert session is not None
        from dataclasses import replace

        self.set_data(replace(self.data, started=True, done=session.done_steps()))
        self.update_buttons()

    def step_recorded(self, step: str) -> None:
        self.set_data(self.data.with_done(step))
        self._show_outline()

    def reveal(self, widget: QWidget) -> None:
        """Scroll the current page so that ``widget`` is in view."""
        scroll = self.page_stack.currentWidget()
        if isinstance(scroll, QScrollArea):
            QTimer.singleShot(0, lambda: scroll.ensureWidgetVisible(widget, 0, 0))

    def show_banner(self, rehearsal: bool) -> None:
        self.banner.setText(REHEARSAL_BANNER if rehearsal else REAL_BANNER)
        self.banner.setObjectName("banner-rehearsal" if rehearsal else "banner-real")
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)

    # -- navigation

    def page_for(self, page: Page) -> WizardPage:
        if page.key not in self.pages:
            shell: Shell = self
            w = PAGE_TYPES[page.view](shell, page)
            w.changed.connect(self.update_buttons)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setWidget(w)
            self.page_stack.addWidget(scroll)
            self.pages[page.key] = w
            self.scrolls[page.key] = scroll
        return self.pages[page.key]

    def _show(self, page: Page) -> None:
        self.status.setText("")  # a message belongs to the page it was said on
        w = self.page_for(page)
        self.page_stack.setCurrentWidget(self.scrolls[page.key])
        self.show_banner(self.data.rehearsal)
        w.enter()
        self.title.setText(w.title())
        self.subtitle.setText(w.subtitle())
        self.subtitle.setVisible(bool(w.subtitle()))
        self._show_outline()
        self.update_buttons()
        focus = w.first_focus()
        (focus or self.primary).setFocus()

    def _show_outline(self) -> None:
        data = self.data
        current = self.navigator.current
        entries: list[tuple[str, str]] = []
        fixed = [(View.CHOOSE, "Choose the ceremony"), (View.SETUP, "Bundle folder and HSM")]
        if data.resume:
            fixed.append((View.RESUME, "Resume"))
        plan = self.navigator.plan(data)
        fixed += [
            (
                v,
                {
                    "csr": "Certificate request",
                    "revocation": "What to revoke",
                    "target": "New token",
                }.get(v.value, v.value.capitalize()),
            )
            for v in plan.inputs
        ]
        fixed += [(View.PARTICIPANTS, "Sign-in"), (View.PREFLIGHT, "Preflight")]
        order = [v for v, _ in fixed]
        for view, text in fixed:
            if view is current.view:
                state = CURRENT
            elif current.view in order and order.index(view) < order.index(current.view):
                state = DONE
            elif current.view in (View.STEP, View.SUMMARY):
                state = DONE
            else:
                state = TODO
            entries.append((text, state))
        steps = [plan.step(n) for n in data.steps if n not in OWNED_STEPS]
        for s in steps:
            if current.view is View.STEP and current.step == s.name:
                state = CURRENT
            else:
                state = DONE if s.name in data.done else TODO
            short = s.activity.split(":")[0].split(";")[0]
            entries.append((short + (" (commit)" if s.commit else ""), state))
        entries.append(("Summary", CURRENT if current.view is View.SUMMARY else TODO))
        self.outline.show_steps(entries)

    def update_buttons(self) -> None:
        if not self.pages:
            return
        w = self.current_page
        prompt = self.panel is not None
        if self.paused_since is not None:
            for b in (self.primary, self.back_button, self.abort_button, self.exception_button):
                b.setEnabled(False)
            return
        action = w.action_label()
        busy = w.busy or self.worker.busy
        if prompt or (busy and action is not None):
            self.primary.setText("Waiting for the room…" if prompt else "Working…")
            self.primary.setEnabled(False)
            commit = False
        elif action is not None:
            self.primary.setText(action)
            self.primary.setEnabled(not prompt and not busy and w.action_ready())
            commit = w.is_commit() and "Commit" in action
        else:
            last = self.navigator.is_last()
            self.primary.setText("&Finish" if last else "&Next >")
            self.primary.setEnabled(not prompt and not busy and w.is_complete())
            commit = False
        named(self.primary, self.primary.text().replace("&", ""))
        self.primary.setProperty("commit", "true" if commit else "false")
        self.primary.style().unpolish(self.primary)
        self.primary.style().polish(self.primary)
        self.back_button.setEnabled(not prompt and not busy and self.navigator.can_go_back())
        self.abort_button.setEnabled(not self._closing and not self.navigator.is_last())
        self.exception_button.setEnabled(not self._closing)
        self._keep_focus(w)

    def _keep_focus(self, page: WizardPage) -> None:
        """A disabled button loses the keyboard focus; give it back where work goes on."""
        if not self.isActiveWindow() or self.panel is not None:
            return
        focus = QApplication.focusWidget()
        if (
            focus is not None
            and focus.isVisible()
            and focus.isEnabled()
            and not isinstance(focus, QScrollArea)
        ):
            return
        if self.primary.isEnabled():
            self.primary.setFocus()
        elif (first := page.first_focus()) is not None and first.isEnabled():
            first.setFocus()

    def _primary_if_enabled(self) -> None:
        if self.primary.isEnabled():
            self.primary.click()

    def primary_clicked(self) -> None:
        w = self.current_page
        if w.action_label() is not None:
            if w.action_ready():
                w.run_action()
                self.update_buttons()
            return
        if self.navigator.is_last():
            self.finish()
            return
        if w.is_complete():
            w.accept(lambda: self._advance(w))

    def _advance(self, w: WizardPage) -> None:
        data = w.apply(self.data)
        self._show(self.navigator.resolve_next(data))

    def go_back(self) -> None:
        if self.navigator.can_go_back():
            self._show(self.navigator.resolve_prev())

    def finish(self) -> None:
        self._closing = True
        self.close()

    # -- the flow's questions

    def show_prompt(self, request: PromptRequest) -> None:
        rehearsal_dir = self.prompter.rehearsal_dir
        session = self.session
        expected = session.expected_set(request.args.get("purpose", "")) if session else None
        panels: dict[str, Callable[[], PromptPanel]] = {
            HAND_OUT: lambda: HandOutPanel(request),
            COLLECT: lambda: CollectPanel(request, rehearsal_dir, expected),
            ORPHAN: lambda: OrphanPanel(request),
            CONFIRM: lambda: ConfirmPanel(request),
            RESHOW: lambda: HandOutPanel(request),
            PASSPHRASE: lambda: PassphrasePanel(request),
            PRINT_CARDS: lambda: PrintCardsPanel(request),
            PROVE: lambda: ProvePanel(request),
        }
        factory = panels.get(request.kind)
        if factory is None:
            request.cancel(f"the wizard cannot answer a {request.kind!r} question")
            return
        panel = factory()
        panel.finished.connect(self._prompt_finished)
        self.panel = panel
        self.prompt_holder.setWidget(panel)
        if self.paused_since is None:
            self.central.setCurrentWidget(self.prompt_holder)
        else:
            self._before_pause = self.prompt_holder
        self.update_buttons()
        focus = panel.focusWidget()
        if focus is None:
            panel.setFocus()

    def _prompt_finished(self) -> None:
        panel = self.panel
        self.panel = None
        if self.paused_since is None:
            self.central.setCurrentWidget(self.page_stack)
        else:
            self._before_pause = self.page_stack
        if panel is not None:
            self.prompt_holder.takeWidget()
            panel.deleteLater()
        self.update_buttons()

    def _progress(self, step: str, message: str) -> None:
        if self.pages:
            self.current_page.on_progress(step, message)

    # -- exceptions

    def participants(self) -> list[str]:
        if self.session and self.session.definition:
            return [p.name for p in self.session.definition.participants]
        return []

    def open_exception_dialog(self) -> ExceptionDialog:
        people = self.participants()
        witness = "witness"
        if self.session and self.session.definition:
            from ceremony.config.ceremonyfile import Role

            witness = self.session.definition.by_role(Role.WITNESS).name
        dialog = ExceptionDialog(people, witness, self)
        dialog.accepted.connect(lambda: self._record_exception(dialog))
        dialog.finished.connect(lambda _: setattr(self, "exception_dialog", None))
        self.exception_dialog = dialog
        dialog.open()
        return dialog

    def _record_exception(self, dialog: ExceptionDialog) -> None:
        description, remediation, by = dialog.values()
        session = self.session
        if session is None:
            self._noted_early.append((description, remediation, by))
            self.status.setText("Exception noted; it is recorded when the ceremony log opens.")
            return
        waiting = self.worker.busy
        self.status.setText(
            "Exception noted; recorded when the running step ends."
            if waiting
            else "Recording the exception…"
        )

        def done(recorded: bool) -> None:
            self.status.setText(
                "Exception recorded in the event log."
                if recorded
                else "Exception noted; it is recorded when the ceremony log opens."
            )

        def failed(ex: BaseException) -> None:
            self.status.setText(f"Exception not recorded: {error_text(ex)}")

        self.submit(lambda: session.note_exception(description, remediation, by), done, failed)

    # -- abort and close

    def ask_abort(self) -> None:
        opened = self.session is not None and self.session.ctx is not None
        text = (
            "Stop the ceremony? Resume later keeps everything recorded so far; the ceremony "
            "stays open and continues from its last commit point. Close as aborted records "
            "why it stops, closes the log and signs its transcript: the ceremony is over."
            if opened
            else "Stop the wizard? Nothing has been recorded yet."
        )
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Stop the ceremony",
            text,
            QMessageBox.StandardButton.NoButton,
            self,
        )
        self.abort_confirm = box.addButton(
            "&Resume later" if opened else "&Stop the wizard",
            QMessageBox.ButtonRole.DestructiveRole,
        )
        named(self.abort_confirm, "Stop now and resume later" if opened else "Stop the wizard")
        self.abort_closing: QPushButton | None = None
        if opened:
            self.abort_closing = box.addButton(
                "Close as &aborted…", QMessageBox.ButtonRole.ActionRole
            )
            named(self.abort_closing, "Close the ceremony as aborted")
        keep = box.addButton("&Continue the ceremony", QMessageBox.ButtonRole.RejectRole)
        named(keep, "Continue the ceremony")
        box.setDefaultButton(keep)

        def clicked(button: QAbstractButton) -> None:
            if button is self.abort_confirm:
                self.abort()
            elif button is self.abort_closing:
                self.open_abort_dialog()

        box.buttonClicked.connect(clicked)
        self.abort_box = box
        box.open()

    def open_abort_dialog(self) -> AbortDialog:
        people = self.participants()
        witness = "witness"
        if self.session and self.session.definition:
            from ceremony.config.ceremonyfile import Role

            witness = self.session.definition.by_role(Role.WITNESS).name
        dialog = AbortDialog(people, witness, self)
        dialog.accepted.connect(lambda: self.close_as_aborted(*dialog.values()))
        dialog.finished.connect(lambda _: setattr(self, "abort_dialog", None))
        self.abort_dialog = dialog
        dialog.open()
        return dialog

    def close_as_aborted(self, reason: str, by: str) -> None:
        """Stop the running step's question, then record the abort and sign the record."""
        session = self.session
        if session is None:
            return
        self.prompter.cancel_pending("the ceremony is being closed as aborted")
        self.status.setText("Closing the ceremony as aborted…")

        def done(_: object) -> None:
            self.status.setText("The ceremony was closed as aborted; its record is signed.")
            self._show(self.navigator.jump(Page(View.SUMMARY)))

        def failed(ex: BaseException) -> None:
            self.status.setText(f"Not closed: {error_text(ex)}")

        self.submit(lambda: session.close_as_aborted(reason, by), done, failed)

    def abort(self) -> None:
        self._closing = True
        self.prompter.cancel_pending()
        self.status.setText("Stopping: waiting for the running step to end…")
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if (
            not self._closing
            and self.session
            and self.session.ctx is not None
            and not self.navigator.is_last()
        ):
            event.ignore()
            self.ask_abort()
            return
        self.prompter.cancel_pending()
        if self.worker.busy:  # an HSM call cannot be interrupted: close when it returns
            event.ignore()
            self._close_when_idle = True
            self.status.setText("Closing: waiting for the running step to end…")
            return
        self.worker.stop()
        super().closeEvent(event)

    def _worker_busy(self, busy: bool) -> None:
        self.update_buttons()
        if not busy and self._close_when_idle:
            QTimer.singleShot(0, self.close)

    def shutdown(self) -> None:
        """Stop the worker (tests and the app's exit)."""
        self._closing = True
        self.prompter.cancel_pending()
        self.worker.stop()

    # -- for tests and screenshots

    def bundle_path(self) -> Path | None:
        return self.session.folder if self.session else None
