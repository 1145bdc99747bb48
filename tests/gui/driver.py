"""Drive the real wizard as the room would: clicks and typing only.

Used by the GUI tests (with pytest-qt's ``qtbot``) and by
``scripts/screenshots`` (with :class:`OffscreenBot`, the same QTest calls
without pytest). Custodians "write down" their share from the hand-out
screen (:attr:`WizardDriver.cards`) and type it back when asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QLineEdit,
    QRadioButton,
    QWidget,
)

from ceremony.flow.wizard import View
from ui.panels.collect import CollectPanel
from ui.panels.custody import PassphrasePanel, PrintCardsPanel, ProvePanel
from ui.panels.handout import HandOutPanel
from ui.panels.questions import ConfirmPanel, OrphanPanel
from ui.window import CeremonyWindow

STEP_TIMEOUT_MS = 120_000


class Bot(Protocol):
    def mouseClick(self, widget: QWidget, button: Qt.MouseButton, pos: QPoint = ...) -> None: ...
    def keyClicks(self, widget: QWidget, text: str) -> None: ...
    def keyClick(
        self, widget: QWidget, key: Qt.Key, modifier: Qt.KeyboardModifier = ...
    ) -> None: ...
    def waitUntil(self, callback: Callable[[], Any], *, timeout: int = ...) -> None: ...


class OffscreenBot:
    """The subset of qtbot the driver uses, for running outside pytest."""

    def mouseClick(
        self, widget: QWidget, button: Qt.MouseButton, pos: QPoint | None = None
    ) -> None:
        QTest.mouseClick(widget, button, Qt.KeyboardModifier.NoModifier, pos or QPoint())

    def keyClicks(self, widget: QWidget, text: str) -> None:
        QTest.keyClicks(widget, text)

    def keyClick(
        self,
        widget: QWidget,
        key: Qt.Key,
        modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
    ) -> None:
        QTest.keyClick(widget, key, modifier)

    def waitUntil(self, callback: Callable[[], Any], *, timeout: int = 5000) -> None:
        deadline = time.monotonic() + timeout / 1000
        while True:
            QApplication.processEvents()
            try:
                result = callback()
            except AssertionError:
                result = False
            if result is None or result:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            time.sleep(0.005)


class WizardDriver:
    """Clicks through the wizard; saves a screenshot of every page when ``shots`` is set."""

    def __init__(self, window: CeremonyWindow, bot: Bot, shots: Path | None = None):
        self.w = window
        self.bot = bot
        self.shots = shots
        self.count = 0
        self.cards: dict[tuple[str, str], str] = {}
        """(purpose, custodian) -> the words the custodian wrote down."""
        self.bags: list[tuple[str, str]] = []
        """(purpose, custodian) of each bag serial typed at a hand-out, in order."""
        self.pages_seen: list[str] = []
        self.passphrase = "correct horse battery staple"
        self.proof_shots = 0
        self.inspectors: list[Callable[[CeremonyWindow], None]] = []
        """Called on every page and every question panel (layout, accessibility checks)."""
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)

    # -- primitives

    def click(self, button: QAbstractButton) -> None:
        self.bot.waitUntil(lambda: button.isVisible() and button.isEnabled(), timeout=10_000)
        if isinstance(button, QCheckBox | QRadioButton):
            # a check box reacts on its box and text, not on the empty space right of them
            pos = QPoint(8, button.height() // 2)
            self.bot.mouseClick(button, Qt.MouseButton.LeftButton, pos=pos)
        else:
            self.bot.mouseClick(button, Qt.MouseButton.LeftButton)

    def tick(self, box: QCheckBox, on: bool = True) -> None:
        if box.isChecked() != on:
            self.click(box)
        assert box.isChecked() == on

    def type(self, widget: QWidget, text: str, replace: bool = True) -> None:
        if replace and hasattr(widget, "clear"):
            widget.clear()
        widget.setFocus()
        self.bot.keyClicks(widget, text)

    def shot(self, name: str) -> Path | None:
        QApplication.processEvents()
        for inspect in self.inspectors:
            inspect(self.w)
        if self.shots is None:
            return None
        self.count += 1
        path = self.shots / f"{self.count:02d}-{name.replace(':', '-').replace('.', '-')}.png"
        image = self.w.grab()
        dialogs = [d for d in (self.w.exception_dialog, self.w.abort_box) if d and d.isVisible()]
        if dialogs:  # a dialog is a window of its own: draw it where it sits over the wizard
            painter = QPainter(image)
            for d in dialogs:
                at = d.mapToGlobal(QPoint(0, 0)) - self.w.mapToGlobal(QPoint(0, 0))
                if not self.w.rect().contains(at):
                    at = QPoint(
                        (self.w.width() - d.width()) // 2, (self.w.height() - d.height()) // 3
                    )
                painter.drawPixmap(at, d.grab())
            painter.end()
        assert image.save(str(path)), path
        return path

    @property
    def page(self) -> Any:
        return self.w.current_page

    @property
    def key(self) -> str:
        return self.w.navigator.current.key

    def wait_idle(self, timeout: int = STEP_TIMEOUT_MS) -> None:
        self.bot.waitUntil(
            lambda: self.w.panel is not None or (not self.w.worker.busy and not self.page.busy),
            timeout=timeout,
        )

    def next(self, expect: str | None = None) -> None:
        before = self.key
        self.wait_idle()
        self.click(self.w.primary)
        self.bot.waitUntil(lambda: self.key != before, timeout=STEP_TIMEOUT_MS)
        self.wait_idle()
        if expect is not None:
            assert self.key == expect, (self.key, expect)
        self.pages_seen.append(self.key)

    # -- pages

    def choose(self, kind: str = "root", rehearsal: bool = True) -> None:
        assert self.key == View.CHOOSE.value
        page = self.page
        self.click(page.kind_buttons[kind])
        self.click(page.rehearsal if rehearsal else page.real)
        self.shot("choose")
        self.next(View.SETUP.value)

    def setup(
        self,
        folder: Path,
        key: str | None = None,
        threshold: int | None = None,
        shares: int | None = None,
        module: str | None = None,
        definition: Path | None = None,
        expect: str | None = None,
    ) -> None:
        page = self.page
        self.type(page.folder, str(folder))
        if definition is not None:
            self.type(page.definition, str(definition))
        if key is not None:
            index = next(i for i in range(page.key.count()) if page.key.itemData(i).value == key)
            page.key.setFocus()
            while page.key.currentIndex() != index:
                self.bot.keyClick(
                    page.key, Qt.Key.Key_Down if page.key.currentIndex() < index else Qt.Key.Key_Up
                )
        if shares is not None:
            self.type(page.shares, str(shares))
        if threshold is not None:
            self.type(page.threshold, str(threshold))
        if module is not None:
            self.type(page.module, module)
        self.shot("setup")
        self.next(expect)

    def resume(self) -> None:
        assert self.key == View.RESUME.value
        self.tick(self.page.confirm)
        self.shot("resume")
        self.next(View.PARTICIPANTS.value)

    def sign_in(self, names: Sequence[str] | None = None, absent: Sequence[str] = ()) -> None:
        """Read the hash, tick everyone present; ``absent`` stay unticked."""
        assert self.key == View.PARTICIPANTS.value
        page = self.page
        if names is not None:
            for edit, name in zip(page.names, names, strict=True):
                self.type(edit, name)
        self.tick(page.hash_read)
        for edit, box in zip(page.names, page.present, strict=True):
            self.tick(box, edit.text() not in absent)
        self.shot("participants")
        self.next(View.PREFLIGHT.value)

    def preflight(self, open_ceremony: bool = True) -> None:
        assert self.key == View.PREFLIGHT.value
        page = self.page
        self.wait_idle()
        self.tick(page.clock_ok)
        self.tick(page.software_ok)
        self.shot("preflight")
        if not open_ceremony:
            return
        self.click(self.w.primary)
        self.bot.waitUntil(lambda: page.opened or page.error is not None, timeout=60_000)
        assert page.opened, page.error
        self.next()

    def run_step(self, answer: Callable[[Any], bool] | None = None) -> str:
        """Run the current step page, answering every question; return the final state."""
        page = self.page
        assert self.key.startswith("step:"), self.key
        name = page.step.name
        self.shot(f"step-{name}")
        if page.step.commit:
            self.tick(page.agree)
        self.click(self.w.primary)
        while True:
            self.bot.waitUntil(
                lambda: self.w.panel is not None or page.state in ("done", "failed"),
                timeout=STEP_TIMEOUT_MS,
            )
            panel = self.w.panel
            if panel is None:
                break
            if answer is not None and answer(panel):
                continue
            self.answer(panel)
        if page.state == "done":
            for view in page.certificates:
                self.tick(view.reviewed)
        self.shot(f"step-{name}-{page.state}")
        return str(page.state)

    def answer(self, panel: Any) -> None:
        """Answer a question the way a careful room would."""
        if isinstance(panel, HandOutPanel):
            self.hand_out(panel)
        elif isinstance(panel, CollectPanel):
            self.collect(panel)
        elif isinstance(panel, OrphanPanel):
            self.shot("orphan")
            self.click(panel.destroy_button)
        elif isinstance(panel, PrintCardsPanel):
            self.shot("print-cards")
            self.tick(panel.printed)
            self.click(panel.go_on)
        elif isinstance(panel, ProvePanel):
            self.prove(panel)
        elif isinstance(panel, PassphrasePanel):
            self.shot("passphrase")
            self.type(panel.first, self.passphrase)
            if panel.new:
                self.type(panel.second, self.passphrase)
            self.click(panel.ok)
        elif isinstance(panel, ConfirmPanel):
            self.shot("confirm")
            self.type(panel.typed, panel.phrase)
            self.click(panel.confirm_button)
        else:
            raise AssertionError(f"unexpected panel {panel!r}")
        self.bot.waitUntil(lambda: self.w.panel is not panel, timeout=10_000)

    def hand_out(self, panel: HandOutPanel) -> None:
        first = True
        while self.w.panel is panel and not panel.request.answered:
            name = panel._name(panel.index)
            if first:
                self.shot(f"handout-{panel.purpose}-call")
            clipboard = QApplication.clipboard()
            clipboard.setText("left on the clipboard")
            self.click(panel.show_button)
            assert not clipboard.text(), "the clipboard is cleared before a share is shown"
            no_select = Qt.TextInteractionFlag.NoTextInteraction
            assert all(w.textInteractionFlags() == no_select for w in panel.word_labels)
            self.cards[(panel.purpose, name)] = " ".join(panel.shown_words())
            if first:
                self.shot(f"handout-{panel.purpose}-share")
            self.tick(panel.written)
            if panel.bag.isVisible():
                self.bags.append((panel.purpose, name))
                self.type(panel.bag, f"TEB-{len(self.bags):04}")
            self.click(panel.done_button)
            if first and not panel.request.answered:
                self.shot(f"handout-{panel.purpose}-cleared")
            first = False

    def prove(self, panel: ProvePanel) -> None:
        words = self.cards[(panel.purpose, panel.custodian_name)].split()
        if not self.proof_shots:
            self.shot("prove")
        self.proof_shots += 1
        for position, edit in panel.answers.items():
            self.type(edit, words[position - 1])
        self.click(panel.ok)

    def collect(self, panel: CollectPanel, cards: dict[str, str] | None = None) -> None:
        self.shot(f"collect-{panel.purpose}")
        while not panel.entry.complete:
            name = panel.who.currentText()
            words = (cards or {}).get(name) or self.cards[(panel.purpose, name)]
            self.type(panel.words, words)
            assert panel.words.echoMode() == QLineEdit.EchoMode.Password, "typed shares masked"
            assert str(len(words.split())) + " words" in panel.word_marks.text()
            assert not any(w in panel.word_marks.text() for w in words.split())
            self.click(panel.accept_button)
            assert panel.entry.presented_by[-1] == name, panel.message.text()
        self.shot(f"collect-{panel.purpose}-complete")
        self.click(panel.done_button)

    def run_steps(self, answer: Callable[[Any], bool] | None = None) -> None:
        while self.key.startswith("step:"):
            state = self.run_step(answer)
            assert state == "done", self.page.error
            self.next()

    def summary(self) -> bool:
        assert self.key == View.SUMMARY.value
        page = self.page
        self.bot.waitUntil(lambda: page.valid is not None, timeout=STEP_TIMEOUT_MS)
        self.shot("summary")
        return bool(page.valid)

    def choose_csr(self, file_name: str) -> None:
        """On the CSR page: pick ``file_name`` on the first volume and check it."""
        page = self.page
        self.bot.waitUntil(lambda: page.file_list.count() > 0, timeout=10_000)
        row = next(
            i
            for i in range(page.file_list.count())
            if page.file_list.item(i).text().startswith(file_name)
        )
        page.file_list.setFocus()
        page.file_list.setCurrentRow(row)
        self.click(page.check_button)
        self.bot.waitUntil(lambda: not page.busy, timeout=30_000)

    def sign_csr(self, folder: Path, file_name: str, absent: Sequence[str] = ()) -> bool:
        """An intermediate signing ceremony on the bundle, the CSR from the media."""
        self.choose("sign-csr", rehearsal=True)
        self.setup(folder, expect=View.CSR.value)
        self.choose_csr(file_name)
        assert self.page.request is not None, self.page.message.text()
        self.shot("csr")
        self.next(View.PARTICIPANTS.value)
        self.sign_in(absent=absent)
        self.preflight()
        self.run_steps()
        return bool(self.summary())

    def revoke(self, folder: Path, absent: Sequence[str] = ()) -> bool:
        """A CRL ceremony revoking the first intermediate listed."""
        self.choose("crl", rehearsal=True)
        self.setup(folder, expect=View.REVOCATION.value)
        self.tick(self.page.revoke)
        self.page.reason.setCurrentIndex(1)
        self.shot("revocation")
        self.next(View.PARTICIPANTS.value)
        self.sign_in(absent=absent)
        self.preflight()
        self.run_steps()
        return bool(self.summary())

    def recover(self, folder: Path, label: str, absent: Sequence[str] = ()) -> bool:
        """A recovery ceremony into a new token ``label``."""
        self.choose("recovery", rehearsal=True)
        self.setup(folder, expect=View.TARGET.value)
        self.type(self.page.label_edit, label)
        self.shot("target")
        self.next(View.PARTICIPANTS.value)
        self.sign_in(absent=absent)
        self.preflight()
        self.run_steps()
        return bool(self.summary())

    def rehearse_root(self, folder: Path, names: Sequence[str] | None = None, **setup: Any) -> bool:
        """A complete rehearsal root ceremony from the first page; True if it verifies."""
        self.choose("root", rehearsal=True)
        self.setup(folder, **setup)
        self.sign_in(names)
        self.preflight()
        self.run_steps()
        return bool(self.summary())


class KeyboardDriver(WizardDriver):
    """The same walk with the keyboard only: Tab to reach a control, Space to press it,
    arrow keys for radio buttons and lists, Ctrl+A and typing for text."""

    MAX_TABS = 120

    def _focused(self) -> QWidget:
        self.bot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=10_000)
        w = QApplication.focusWidget()
        assert w is not None, "nothing has keyboard focus"
        return w

    def focus(self, target: QWidget) -> None:
        """Press Tab until ``target`` has focus (proves it is reachable by keyboard)."""
        self.bot.waitUntil(lambda: target.isVisible() and target.isEnabled(), timeout=60_000)
        for _ in range(self.MAX_TABS):
            if self._focused() is target:
                return
            self.bot.keyClick(self._focused(), Qt.Key.Key_Tab)
        raise AssertionError(
            f"{type(target).__name__} {target.accessibleName()!r} cannot be reached with Tab"
        )

    def click(self, button: QAbstractButton) -> None:
        if isinstance(button, QRadioButton):
            parent = button.parentWidget()
            assert parent is not None
            group = [b for b in parent.findChildren(QRadioButton) if b.isEnabled()]
            self.focus(
                next(b for b in group if b.isChecked())
                if any(b.isChecked() for b in group)
                else group[0]
            )
            for _ in range(len(group) * 2):
                if button.isChecked():
                    break
                self.bot.keyClick(self._focused(), Qt.Key.Key_Down)
            assert button.isChecked()
            return
        self.focus(button)
        self.bot.keyClick(button, Qt.Key.Key_Space)

    def type(self, widget: QWidget, text: str, replace: bool = True) -> None:
        self.focus(widget)
        if replace:
            self.bot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
            self.bot.keyClick(widget, Qt.Key.Key_Delete)
        self.bot.keyClicks(widget, text)
