"""REST issuance load for the tests, on top of :mod:`ceremony.online.bench.loadgen`."""

from __future__ import annotations

import json
import threading

from ceremony.online.bench.loadgen import LoadResult, run_load
from tests.online.helpers import make_csr

__all__ = ["LoadResult", "issue_load"]


def issue_load(
    port: int, token: str, total: int, clients: int, stop: threading.Event | None = None
) -> LoadResult:
    csrs = [make_csr([f"load{i}.a.test"])[0].decode() for i in range(clients)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def request_for(i: int) -> tuple[str, str, bytes, dict[str, str]]:
        body = json.dumps({"profile": "tls-server", "csr": csrs[i % clients]}).encode()
        return "POST", "/api/v1/certificates", body, headers

    def accept(status: int, data: bytes) -> str | None:
        return str(json.loads(data)["serial"]) if status == 201 else None

    return run_load(port, total, clients, request_for, accept, stop)
