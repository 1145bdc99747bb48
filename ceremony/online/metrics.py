"""Prometheus metrics (counters and latency histograms) through ``prometheus_client``.

One view of the whole service: with ``serve --workers N`` the master sets
``PROMETHEUS_MULTIPROC_DIR`` (:func:`ceremony.online.workers.multiprocess_dir`)
before any worker starts, every process records into its files there, and
``/metrics`` in any worker answers the sum over all of them
(``prometheus_client``'s multiprocess mode). With one process the figures are
that process's. ``prometheus_client`` is imported on first use, so that the
mode is chosen after ``serve`` set the folder up.

Metrics are declared here (:meth:`Registry.describe`); label names are those
of the first use of a metric.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Registry:
    """Counters and histograms by name, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, str] = {}
        self._metrics: dict[str, Any] = {}
        self._registry: Any = None

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def _prom(self) -> Any:
        if self._registry is None:
            import prometheus_client

            prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
            self._registry = prometheus_client.CollectorRegistry(auto_describe=True)
        return self._registry

    def _metric(self, kind: str, name: str, labels: tuple[str, ...]) -> Any:
        metric = self._metrics.get(name)
        if metric is not None:
            return metric
        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                import prometheus_client

                registry = self._prom()
                text = self._help.get(name, name)
                if kind == "counter":
                    metric = prometheus_client.Counter(name, text, labels, registry=registry)
                else:
                    metric = prometheus_client.Histogram(
                        name, text, labels, registry=registry, buckets=BUCKETS
                    )
                self._metrics[name] = metric
        return metric

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        metric = self._metric("counter", name, tuple(sorted(labels)))
        (metric.labels(**labels) if labels else metric).inc(amount)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        metric = self._metric("histogram", name, tuple(sorted(labels)))
        (metric.labels(**labels) if labels else metric).observe(seconds)

    @contextmanager
    def timer(self, name: str, **labels: str) -> Iterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.observe(name, perf_counter() - start, **labels)

    def render(self) -> bytes:
        """The exposition of the whole service (every worker, in multiprocess mode)."""
        import prometheus_client
        from prometheus_client import multiprocess

        if os.environ.get(MULTIPROC_ENV):
            registry = prometheus_client.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return bytes(prometheus_client.generate_latest(registry))
        return bytes(prometheus_client.generate_latest(self._prom()))


REGISTRY = Registry()
REGISTRY.describe("ceremony_online_issued_total", "Certificates issued")
REGISTRY.describe("ceremony_online_revoked_total", "Certificates revoked")
REGISTRY.describe("ceremony_online_refused_total", "Issuance requests refused by policy or lint")
REGISTRY.describe(
    "ceremony_online_lint_fallback_total", "Certificates outside their profile's linted template"
)
REGISTRY.describe(
    "ceremony_online_lint_findings_total", "Sampled certificates pkilint refused past the template"
)
REGISTRY.describe("ceremony_online_issue_seconds", "Time to approve, lint, sign and store")
REGISTRY.describe("ceremony_online_sign_seconds", "Time spent in the issuing key's sign()")
REGISTRY.describe("ceremony_online_crl_build_seconds", "Time to build and sign one CRL")
REGISTRY.describe("ceremony_online_http_requests_total", "HTTP requests by route and status")
REGISTRY.describe("ceremony_online_ocsp_responses_total", "OCSP responses by status")
REGISTRY.describe("ceremony_online_acme_orders_total", "ACME orders by final status")
