"""scripts/setup's two groups and scripts/run's refusal of an invisible window."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = {"pebble", "lego", "golang-cfssl", "postgresql", "opensc", "curl", "opencryptoki"}


def _listing(*args: str) -> tuple[set[str], str]:
    out = subprocess.run(
        [str(ROOT / "scripts" / "setup"), *args, "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    apt = {line.split()[1] for line in out if line.startswith("apt ")}
    extras = next(line.split()[1] for line in out if line.startswith("extras "))
    return apt, extras


def test_the_ceremony_machine_gets_no_test_only_package() -> None:
    apt, extras = _listing("--ceremony")
    assert not apt & TEST_ONLY
    assert {"softhsm2", "poppler-utils", "fonts-dejavu-core"} <= apt
    assert extras == "gui"


def test_the_full_setup_adds_the_test_group() -> None:
    ceremony, _ = _listing("--ceremony")
    apt, extras = _listing()
    assert ceremony < apt
    assert TEST_ONLY <= apt
    assert set(extras.split(",")) >= {"gui", "online", "test"}


def test_setup_refuses_an_unknown_option() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "setup"), "--bogus"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: scripts/setup: unknown option --bogus")


def test_run_refuses_to_open_a_window_nobody_can_see() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [str(ROOT / "scripts" / "run")], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 2
    assert "error: QT_QPA_PLATFORM=offscreen" in result.stderr
    assert "scripts/screenshots" in result.stdout
