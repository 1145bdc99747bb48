"""GUI tests: the real wizard offscreen, Qt warnings fail, no network, screenshots kept.

Every test here is marked ``gui`` and fails on any Qt warning
(``qt_log_level_fail``). Screenshots go to ``artifacts/gui/<test>/``.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LANG", "C.UTF-8")

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.gui.checks import layout_problems, mnemonic_clashes, unnamed_inputs
from tests.gui.driver import WizardDriver
from ui.options import Options
from ui.style import apply_style
from ui.window import CeremonyWindow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "gui"
GUI_DIR = Path(__file__).resolve().parent
MakeWindow = Callable[..., CeremonyWindow]
MakeDriver = Callable[[CeremonyWindow], WizardDriver]
BENIGN_QT_MESSAGES = [
    # the offscreen platform cannot resize native windows to size hints; harmless
    "This plugin does not support propagateSizeHints",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if GUI_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.gui)
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(*BENIGN_QT_MESSAGES))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wizard runs air-gapped: any attempt to open an IP connection fails the test."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address!r}")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)


def fake_net(folder: Path, **interfaces: bool) -> Path:
    """A /sys/class/net tree: loopback up plus ``name=up`` interfaces."""
    for name, up in {"lo": True, **interfaces}.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        flags = (0x1 if up else 0x0) | (0x8 if name == "lo" else 0x0) | 0x1000
        (folder / name / "flags").write_text(f"0x{flags:x}\n")
    return folder


@pytest.fixture
def sys_net(tmp_path: Path) -> Path:
    return fake_net(tmp_path / "sys-class-net")


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    name = str(request.node.name)
    folder = ARTIFACTS / name.replace("[", "-").replace("]", "")
    shutil.rmtree(folder, ignore_errors=True)
    return folder


@pytest.fixture
def make_window(qtbot: QtBot, qapp: QApplication, sys_net: Path) -> Iterator[MakeWindow]:
    """Create wizards (stopped after the test); each shown at 1366x768."""
    apply_style(qapp)
    made: list[CeremonyWindow] = []

    def make(options: Options | None = None) -> CeremonyWindow:
        w = CeremonyWindow(options or Options(sys_net=sys_net))
        qtbot.addWidget(w)
        w.resize(1366, 768)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()


@pytest.fixture
def window(make_window: MakeWindow) -> CeremonyWindow:
    return make_window()


@pytest.fixture
def make_driver(qtbot: QtBot, shots: Path) -> Iterator[MakeDriver]:
    """Drivers that check every page and panel they see: accessible names, fits 1366x768."""
    problems: list[str] = []

    def make(window: CeremonyWindow) -> WizardDriver:
        d = WizardDriver(window, qtbot, shots)
        d.inspectors.append(lambda w: problems.extend(layout_problems(w)))
        d.inspectors.append(lambda w: problems.extend(mnemonic_clashes(w)))
        d.inspectors.append(
            lambda w: problems.extend(f"{w.navigator.current.key}: {x}" for x in unnamed_inputs(w))
        )
        return d

    yield make
    assert not problems, sorted(set(problems))


@pytest.fixture
def driver(window: CeremonyWindow, make_driver: MakeDriver) -> WizardDriver:
    return make_driver(window)
