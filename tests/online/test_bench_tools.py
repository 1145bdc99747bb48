"""The measuring parts of ``scripts/bench-online``: wrk's counts as the bench reads them
(answers outside 2xx are errors, not throughput) and a server's CPU time by session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ceremony.online.bench import wrk
from ceremony.online.bench.cpu import Placement, session_cpu_seconds, session_pids
from ceremony.online.bench.main import RATE_LIMITS, bench_limits
from ceremony.online.limits import LimitSettings, Rate, parse_limits, render_limits


def _server(status: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = b"ok" if body == b"the body" and self.headers["Authorization"] == "x" else b""
            self.send_response(status if answer else 400)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def servers() -> Iterator[dict[int, ThreadingHTTPServer]]:
    made = {status: _server(status) for status in (200, 500)}
    yield made
    for srv in made.values():
        srv.shutdown()
        srv.server_close()


@pytest.mark.skipif(not wrk.available(), reason="wrk not installed (scripts/setup installs it)")
def test_wrk_counts_answers_and_errors(servers: dict[int, ThreadingHTTPServer]) -> None:
    def load(status: int) -> wrk.WrkResult:
        port = servers[status].server_address[1]
        return wrk.run_wrk(
            f"http://127.0.0.1:{port}/",
            b"the body",
            "application/octet-stream",
            seconds=1,
            connections=2,
            threads=1,
            placement=Placement.of_this_machine(),
            authorization="x",
        )

    good, bad = load(200), load(500)
    assert good.requests > 0 and good.errors == 0 and good.rate > 0
    assert bad.requests > 0 and bad.errors == bad.requests and bad.rate == 0


def test_session_cpu_counts_every_process_of_the_session() -> None:
    busy = "import time\nwhile time.process_time() < 0.3: pass\nprint('busy', flush=True)\n"
    parent = (
        "import subprocess, sys, time\n"
        f"c = subprocess.Popen([sys.executable, '-c', {busy!r} + 'time.sleep(60)'],"
        " stdout=subprocess.PIPE)\n"
        "c.stdout.readline()\n"
        f"exec({busy!r})\n"
        "time.sleep(60)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", parent], start_new_session=True, stdout=subprocess.PIPE
    )
    try:
        assert p.stdout is not None and p.stdout.readline() == b"busy\n"
        assert len(session_pids(p.pid)) == 2
        assert 0.5 <= session_cpu_seconds(p.pid) < 5  # parent and child, 0.3 s each (one: 0.3)
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the child too
        p.communicate()


def test_the_bench_lifts_every_acme_rate_limit() -> None:
    text = "\n".join(render_limits(LimitSettings())) + "\n"
    lifted = parse_limits(tomllib.loads(bench_limits(text))["limits"], "online.toml")
    for key in RATE_LIMITS:
        assert getattr(lifted, key) == Rate(1_000_000, 1)
    assert lifted.validation_workers == LimitSettings().validation_workers
