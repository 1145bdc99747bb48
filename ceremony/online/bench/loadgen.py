"""Bounded HTTP load on loopback: N threads, persistent connections, fixed request count."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# (method, path, body, headers) for the i-th request
RequestFor = Callable[[int], tuple[str, str, bytes, dict[str, str]]]
# status, body -> value to keep (e.g. a serial) or None when it is an error
Accept = Callable[[int, bytes], str | None]


@dataclass
class LoadResult:
    ok: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.ok) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(len(lat) * q))] if lat else 0.0


def run_load(
    port: int,
    total: int,
    clients: int,
    request_for: RequestFor,
    accept: Accept,
    stop: threading.Event | None = None,
    deadline_s: float = 900.0,
    keep_alive: bool = True,
) -> LoadResult:
    """Send ``total`` requests over ``clients`` threads; stop early if ``stop`` is set."""
    result = LoadResult()
    lock = threading.Lock()
    counter = iter(range(total))
    end = time.monotonic() + deadline_s

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.monotonic() < end and not (stop is not None and stop.is_set()):
            with lock:
                i = next(counter, None)
            if i is None:
                break
            method, path, body, headers = request_for(i)
            t0 = time.monotonic()
            try:
                if not keep_alive:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conn.request(method, path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
                if not keep_alive:
                    conn.close()
            except (OSError, http.client.HTTPException) as ex:
                with lock:
                    result.errors.append(f"{type(ex).__name__}: {ex}")
                conn.close()
                if stop is not None and stop.is_set():
                    break
                time.sleep(0.05)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                continue
            elapsed = time.monotonic() - t0
            kept = accept(resp.status, data)
            with lock:
                if kept is None:
                    result.errors.append(f"HTTP {resp.status}: {data[:200]!r}")
                else:
                    result.ok.append(kept)
                    result.latencies.append(elapsed)
        conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline_s + 60)
    result.seconds = time.monotonic() - t0
    return result
