"""``serve --workers N`` is one service: ``/metrics`` reports every worker in every scrape,
and a master killed with ``kill -9`` takes its workers with it, so a restart binds again."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

from tests.online.conftest import api, free_port, http, start_server
from tests.online.helpers import make_csr


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_metrics_count_every_worker(tmp_path: Path, bootstrapped: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(bootstrapped, data, symlinks=True)
    srv = start_server(data, extra=["--workers", "2"])
    try:
        token = srv.token("tls-server")
        for i in range(6):
            pem, _ = make_csr([f"m{i}.a.test"])
            status, body = api(
                "POST",
                srv.url("/api/v1/certificates"),
                token,
                {"profile": "tls-server", "csr": pem.decode()},
            )
            assert status == 201, body
        assert len(_children(srv.proc.pid)) >= 2
        seen = set()
        for _ in range(12):
            status, _h, raw = http("GET", srv.url("/metrics"))
            text = raw.decode()
            assert status == 200 and "pid=" not in text
            match = re.search(
                r'^ceremony_online_issued_total\{profile="tls-server"\} (\S+)$', text, re.M
            )
            assert match, text
            seen.add(float(match.group(1)))
            assert "ceremony_online_issue_seconds_bucket" in text
        assert seen == {6.0}, f"scrapes saw {sorted(seen)} certificates issued, not 6"
        assert list((data / ".metrics").iterdir())  # the master's shared folder
    finally:
        srv.stop()
    assert not [p for p in (data / ".metrics").iterdir()]  # removed at stop


def test_workers_exit_when_the_master_is_killed(tmp_path: Path, bootstrapped: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(bootstrapped, data, symlinks=True)
    port = free_port()
    srv = start_server(data, extra=["--workers", "2"], port=port)
    workers = _children(srv.proc.pid)
    try:
        assert len(workers) >= 2
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while not all(_gone(w) for w in workers):
            assert time.monotonic() < deadline, "workers kept running after the master died"
            time.sleep(0.2)
        again = start_server(data, extra=["--workers", "2"], port=port)
        try:
            assert http("GET", again.url("/healthz"))[0] == 200
        finally:
            again.stop()
    finally:
        try:
            os.killpg(srv.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _service_processes(data: Path) -> list[int]:
    """Every process whose environment points to this data folder's metrics (workers and
    whatever they started, such as the pkilint pool)."""
    found = []
    needle = f"PROMETHEUS_MULTIPROC_DIR={data / '.metrics'}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in env and not _gone(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_no_process_outlives_the_service(tmp_path: Path, bootstrapped: Path) -> None:
    """With a profile linted in full, each worker runs a pool of pkilint processes: a
    SIGTERM or SIGKILL to the master ends them too, not only the workers."""
    data = tmp_path / "data"
    shutil.copytree(bootstrapped, data, symlinks=True)
    with (data / "online.toml").open("a") as f:
        f.write(
            '\n[profiles.full-lint]\nkind = "tls-server"\ndomains = ["test"]\nlint = "always"\n'
        )
    for stop in (signal.SIGTERM, signal.SIGKILL):  # to the master alone, as kill PID does
        srv = start_server(data, extra=["--workers", "2"])
        try:
            started = _service_processes(data)
            assert len(started) >= 4, started  # two workers, each with its pool
            os.kill(srv.proc.pid, stop)
            srv.proc.wait(timeout=60)
            deadline = time.monotonic() + 30
            while left := _service_processes(data):
                assert time.monotonic() < deadline, f"after {stop.name}: {left} still running"
                time.sleep(0.2)
        finally:
            try:
                os.killpg(srv.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
