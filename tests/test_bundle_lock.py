"""One ceremony at a time per bundle: the second is refused naming the first."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

from tests.helpers import assert_refused, make_csr, run_cli, start_cli, tree, wait_stopped


def _steps(folder: Path) -> list[str]:
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    return [e["step"] for e in events if e["event"] == "step"]


def test_two_ceremonies_at_once_one_runs_the_other_is_refused(
    bundle_copy: Path, tmp_path: Path
) -> None:
    first = make_csr(tmp_path / "first.csr", "First Issuing CA")
    second = make_csr(tmp_path / "second.csr", "Second Issuing CA")
    running = start_cli(
        "sign-csr",
        bundle_copy,
        first,
        "--name",
        "first",
        env={"CEREMONY_FAULT_INJECT": "intermediate.sign:stop"},
    )
    try:
        wait_stopped(running)
        before = tree(bundle_copy)
        for args in (
            ("sign-csr", bundle_copy, second, "--name", "second"),
            ("crl", bundle_copy),
            ("restore", bundle_copy, "--shares", second, "--to-token", "other"),
        ):
            r = run_cli(*args)
            assert_refused(
                r, 2, "another ceremony is running", f"process {running.pid}", socket.gethostname()
            )
            assert "sign-csr" in r.stderr, "the holder's command is shown"
        assert tree(bundle_copy) == before, "the refused ceremonies touched nothing"
    finally:
        os.kill(running.pid, signal.SIGCONT)
    _out, err = running.communicate(timeout=300)
    assert running.returncode == 0, err
    assert (bundle_copy / "issued/first.pem").exists()
    assert not (bundle_copy / "issued/second.pem").exists()
    folders = sorted((bundle_copy / "transcripts").iterdir())
    assert [f.name for f in folders][-1] == "003-sign-csr"
    assert _steps(folders[-1]).count("intermediate.sign") == 1
    v = run_cli("verify", bundle_copy)
    assert v.returncode == 0, v.stdout


def test_the_lock_dies_with_its_holder(bundle_copy: Path, tmp_path: Path) -> None:
    csr = make_csr(tmp_path / "a.csr", "Killed Issuing CA")
    args = ("sign-csr", bundle_copy, csr, "--name", "killed")
    held = start_cli(*args, env={"CEREMONY_FAULT_INJECT": "activation:stop"})
    wait_stopped(held)
    os.kill(held.pid, signal.SIGKILL)
    held.communicate()
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert run_cli("verify", bundle_copy).returncode == 0


def test_a_new_bundle_is_locked_from_its_first_file(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    running = start_cli("demo", "--out", out, env={"CEREMONY_FAULT_INJECT": "root.key:stop"})
    try:
        wait_stopped(running)
        before = tree(out)
        assert_refused(run_cli("demo", "--out", out), 2, f"process {running.pid}")
        assert tree(out) == before
    finally:
        os.kill(running.pid, signal.SIGCONT)
    _out, err = running.communicate(timeout=300)
    assert running.returncode == 0, err
    assert run_cli("verify", out).returncode == 0
