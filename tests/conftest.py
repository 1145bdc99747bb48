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
