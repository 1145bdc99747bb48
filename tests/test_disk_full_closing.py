"""Disk full during each closing document of a signing ceremony: the write fails cleanly
(exit 3, nothing half-written), and the same command run again once there is room ends in a
bundle that verifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from ceremony.faults import FAULT_ENV, FAULT_EXIT
from ceremony.flow.scripts import SIGN_CSR
from tests.crash import bundle_events, copy_bundle, verified
from tests.helpers import make_csr, run_cli

pytestmark = pytest.mark.crash


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", mount], check=False)


def _fill(disk: Path) -> Path:
    import errno
    import os

    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * (1 << 16))
    except OSError as ex:
        assert ex.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


@pytest.mark.parametrize("document", ["transcript", "cps", "manifest"])
def test_disk_full_during_each_closing_document(
    document: str, demo_bundle: Path, small_disk: Path, tmp_path: Path
) -> None:
    from tests.helpers import assert_refused

    bundle = copy_bundle(demo_bundle, small_disk)
    csr = make_csr(tmp_path / "ops.csr", "Ops Issuing CA")
    args = ("sign-csr", bundle, csr, "--name", "ops")
    crashed = run_cli(*args, env={FAULT_ENV: f"close.{document}:before"})
    assert crashed.returncode == FAULT_EXIT, crashed.stderr
    filler = _fill(small_disk)
    full = run_cli(*args)
    assert_refused(full, 3, "no space left on the device")
    assert not list(bundle.rglob("*.partial")), "the failed write left nothing"
    filler.unlink()
    rerun = run_cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    verified(bundle)
    steps = [e["step"] for e in bundle_events(bundle, "sign-csr") if e["event"] == "step"]
    assert steps == [s.name for s in SIGN_CSR]
