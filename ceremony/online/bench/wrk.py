"""HTTP load with ``wrk`` (Debian ``wrk``): the same request body posted over and over by
a native load generator, pinned to its own core where the machine has one to spare, so
that the load does not compete with the server under test for the interpreter or a core.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ceremony.online.bench.cpu import Placement

SCRIPT = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
local auth = os.getenv("BENCH_AUTHORIZATION")
if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = auth end
if os.getenv("BENCH_CLOSE") == "1" then wrk.headers["Connection"] = "close" end
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    """Connection, read, write and timeout errors, and answers outside 2xx/3xx."""
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    body: bytes,
    content_type: str,
    *,
    seconds: float,
    connections: int,
    threads: int,
    placement: Placement,
    authorization: str = "",
    new_connection: bool = False,
) -> WrkResult:
    """POST ``body`` to ``url`` for ``seconds`` over ``connections`` connections."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(SCRIPT)
        body_file = Path(tmp) / "body"
        body_file.write_bytes(body)
        env = {
            **os.environ,
            "BENCH_BODY": str(body_file),
            "BENCH_CONTENT_TYPE": content_type,
            "BENCH_AUTHORIZATION": authorization,
            "BENCH_CLOSE": "1" if new_connection else "0",
        }
        args = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ]
        out = subprocess.run(
            placement.load_prefix() + args,
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=seconds + 60,
        ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    doc = json.loads(line.removeprefix("BENCH "))
    errors = sum(doc[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        requests=doc["requests"],
        seconds=doc["duration_us"] / 1e6,
        errors=errors,
        p50_ms=doc["p50_us"] / 1000,
        p99_ms=doc["p99_us"] / 1000,
    )
