"""The HTTP server under ``serve``: keep-alive answers are not held back by Nagle's
algorithm with one worker or several, and uvloop and httptools run the connections.

Nagle's algorithm holds a response's second segment until the client acknowledges the
first, and the client delays that acknowledgement (Linux: at least 40 ms). A server that
writes the headers and the body separately without ``TCP_NODELAY`` therefore answers every
keep-alive request after the first in 40 ms or more, however idle the machine. The test
takes the fastest of many keep-alive requests: a busy machine makes some slow, but cannot
make the fastest of them reach the delayed-ACK timer unless Nagle holds every one.
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from typing import Any

import pytest

from tests.online.conftest import Server

REQUESTS = 60
NAGLE_FLOOR_S = 0.040  # Linux TCP_DELACK_MIN: the least a delayed ACK waits
FASTEST_BOUND_S = 0.020


def keep_alive_latencies(server: Server, path: str, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path)
        first = conn.getresponse()
        first.read()
        assert first.status == 200
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            times.append(time.perf_counter() - t0)
            assert r.status == 200
            assert not r.will_close, "the server closed a keep-alive connection"
        return times
    finally:
        conn.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_keep_alive_responses_are_not_nagle_bound(server_factory: Any, workers: str) -> None:
    srv = server_factory(extra=["--workers", workers])
    times = keep_alive_latencies(srv, "/ca/root.pem", REQUESTS)
    fastest = min(times)
    assert fastest < FASTEST_BOUND_S, (
        f"--workers {workers}: the fastest of {REQUESTS} keep-alive requests took "
        f"{fastest * 1000:.1f} ms (Nagle + delayed ACK hold each for >= "
        f"{NAGLE_FLOOR_S * 1000:.0f} ms); median {sorted(times)[len(times) // 2] * 1000:.1f} ms"
    )


def _worker_maps(pid: int) -> str:
    """The memory maps of ``pid`` and of its children (the worker processes)."""
    text = Path(f"/proc/{pid}/maps").read_text()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            text += Path(f"/proc/{child}/maps").read_text()
        except FileNotFoundError:
            pass
    return text


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_runs_uvloop_and_httptools(server_factory: Any, workers: str) -> None:
    srv = server_factory(extra=["--workers", workers])
    maps = _worker_maps(srv.proc.pid)
    assert "uvloop" in maps and "httptools" in maps, (
        f"--workers {workers}: uvloop/httptools not loaded in pid {srv.proc.pid} or its workers"
    )
