"""The GUI thread keeps serving events while the HSM generates an RSA-4096 key.

The property is structural: the key generation runs on the worker thread and
the GUI's event loop ticks while it runs. The worst gap between ticks is
printed as a figure (it depends on the machine's load), not asserted.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from ceremony.flow.engine import Context, Step
from ceremony.flow.wizard import session
from tests.gui.driver import WizardDriver
from ui.window import CeremonyWindow

TICK_MS = 20
MIN_TICKS_DURING = 5


class GapMeter:
    """A timer on the GUI thread; the largest gap between its ticks is the worst stall."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst = 0.0
        self.ticks = 0

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last:
            self.worst = max(self.worst, now - self.last)
        self.last = now
        self.ticks += 1

    def start(self) -> None:
        self.last, self.worst, self.ticks = 0.0, 0.0, 0
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst * 1000


def test_gui_thread_serves_events_during_rsa_4096_key_generation(
    driver: WizardDriver,
    window: CeremonyWindow,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[threading.Thread, int, int]] = []
    real = session.run_step

    def observed(ctx: Context, step: Step) -> dict[str, Any]:
        before = meter.ticks
        result = real(ctx, step)
        if step.name == "root.key":
            calls.append((threading.current_thread(), before, meter.ticks))
        return result

    monkeypatch.setattr(session, "run_step", observed)
    meter = GapMeter()
    driver.choose("root", rehearsal=True)
    driver.setup(tmp_path / "bundle", key="rsa-4096", threshold=1, shares=1)
    driver.sign_in()
    driver.preflight()
    driver.run_step()  # token.init
    driver.next("step:activation.proof")
    driver.run_step()
    driver.next("step:root.key")

    page = driver.page
    driver.tick(page.agree)
    meter.start()
    started = time.perf_counter()
    driver.click(window.primary)
    qtbot.waitUntil(lambda: page.state == "done", timeout=120_000)
    took = time.perf_counter() - started
    worst = meter.stop()
    driver.shot("step-root-key-rsa-4096-done")
    print(
        f"RSA-4096 key generation: {took:.2f} s, {meter.ticks} ticks, worst GUI stall "
        f"{worst:.0f} ms"
    )
    assert page.result is not None and "rsa-4096" in dict(page.result.facts).values()
    assert took > 0.3, "the key generation really ran while the meter was ticking"
    assert calls, "the root.key step ran through the wizard session's step runner"
    thread, before, after = calls[-1]
    assert thread is not threading.main_thread(), "key generation ran on the GUI thread"
    assert after - before >= MIN_TICKS_DURING, (
        f"the GUI thread ticked {after - before} times during the key generation"
    )
