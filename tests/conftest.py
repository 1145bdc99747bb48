"""Shared fixtures: fresh SoftHSM2 homes and demo bundles."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceremony.hsm.module import Hsm, SoftHsmHome
from tests.helpers import run_cli


@pytest.fixture
def hsm(tmp_path: Path) -> Iterator[Hsm]:
    """The SoftHSM2 module on a fresh, empty token folder."""
    yield Hsm(softhsm_home=tmp_path / "softhsm")


@pytest.fixture(scope="session")
def demo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete rehearsal bundle (default key type), built once for read-only tests."""
    out = tmp_path_factory.mktemp("demo") / "bundle"
    r = run_cli("demo", "--out", out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture
def bundle_copy(demo_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the demo bundle that a test may tamper with."""
    dst = tmp_path / "bundle"
    shutil.copytree(demo_bundle, dst)
    SoftHsmHome(dst / "rehearsal").ensure()
    return dst


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process without the interpreter's final garbage collection once Qt was loaded.

    PySide6 6.12 can abort there ("bool_dealloc: deallocating True or False") after a run
    that passed, turning exit status 0 into 134. Everything is reported and flushed by now.
    """
    import os
    import sys

    if "PySide6.QtWidgets" not in sys.modules or hasattr(config, "workerinput"):
        return
    status = config.stash.get(_EXIT_STATUS, None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


_EXIT_STATUS = pytest.StashKey[int]()
