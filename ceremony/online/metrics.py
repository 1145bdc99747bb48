"""Prometheus text-format metrics (counters and latency histograms), per process.

With several worker processes each reports its own figures with a
``pid`` label; Prometheus sums them.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Labels = tuple[tuple[str, str], ...]


def _fmt_labels(labels: Labels, extra: Labels = ()) -> str:
    items = (("pid", str(os.getpid())), *labels, *extra)
    inner = ",".join(f'{k}="{v}"' for k, v in items)
    return "{" + inner + "}"


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    n: int = 0


class Registry:
    """Counters and histograms keyed by name and label values."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._hists: dict[str, dict[Labels, _Histogram]] = {}
        self._help: dict[str, str] = {}

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            h = self._hists.setdefault(name, {}).setdefault(key, _Histogram())
            h.counts[bisect_left(BUCKETS, seconds)] += 1
            h.total += seconds
            h.n += 1

    @contextmanager
    def timer(self, name: str, **labels: str) -> Iterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.observe(name, perf_counter() - start, **labels)

    def counter_value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines.append(f"# HELP {name} {self._help.get(name, name)}")
                lines.append(f"# TYPE {name} counter")
                for labels, value in sorted(series.items()):
                    lines.append(f"{name}{_fmt_labels(labels)} {value:g}")
            for name, hseries in sorted(self._hists.items()):
                lines.append(f"# HELP {name} {self._help.get(name, name)}")
                lines.append(f"# TYPE {name} histogram")
                for labels, h in sorted(hseries.items()):
                    cumulative = 0
                    for bound, count in zip((*BUCKETS, float("inf")), h.counts, strict=True):
                        cumulative += count
                        le = "+Inf" if bound == float("inf") else f"{bound:g}"
                        lines.append(
                            f"{name}_bucket{_fmt_labels(labels, (('le', le),))} {cumulative}"
                        )
                    lines.append(f"{name}_sum{_fmt_labels(labels)} {h.total:.6f}")
                    lines.append(f"{name}_count{_fmt_labels(labels)} {h.n}")
        return "\n".join(lines) + "\n"


REGISTRY = Registry()
REGISTRY.describe("ceremony_online_issued_total", "Certificates issued")
REGISTRY.describe("ceremony_online_revoked_total", "Certificates revoked")
REGISTRY.describe("ceremony_online_refused_total", "Issuance requests refused by policy or lint")
REGISTRY.describe("ceremony_online_issue_seconds", "Time to approve, lint, sign and store")
REGISTRY.describe("ceremony_online_sign_seconds", "Time spent in the issuing key's sign()")
REGISTRY.describe("ceremony_online_crl_build_seconds", "Time to build and sign one CRL")
REGISTRY.describe("ceremony_online_http_requests_total", "HTTP requests by route and status")
REGISTRY.describe("ceremony_online_ocsp_responses_total", "OCSP responses by status")
REGISTRY.describe("ceremony_online_acme_orders_total", "ACME orders by final status")
