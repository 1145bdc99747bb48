"""Load: 32 concurrent clients, 5,000 issuances, zero errors; then kill -9 of the service
mid-load and a restart: every certificate a client received is in the database and revocable.

Marked ``slow`` (minutes on 2 cores). Runs on PostgreSQL when ``CEREMONY_TEST_POSTGRES_URL``
is set, otherwise on the embedded SQLite.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from ceremony.online import audit
from ceremony.online.db.models import Certificate
from ceremony.online.service import ServiceOptions, open_service
from tests.online.conftest import PG_ENV, api, start_server
from tests.online.load_client import issue_load

pytestmark = pytest.mark.slow

TOTAL = 5000
CLIENTS = 32


@pytest.fixture
def load_db(tmp_path: Path, request: pytest.FixtureRequest) -> str | None:
    if not os.environ.get(PG_ENV):
        return None
    return str(request.getfixturevalue("pg_url"))


def test_load_then_kill_and_restart(data_dir: Path, load_db: str | None) -> None:
    data = data_dir
    srv = start_server(data, load_db, ["--workers", "2"])
    try:
        token = srv.token("tls-server")
        first = issue_load(srv.port, token, TOTAL, CLIENTS)
        assert first.errors == [], first.errors[:5]
        assert len(first.ok) == TOTAL
        print(
            f"\nload: {TOTAL} issuances by {CLIENTS} clients in {first.seconds:.1f} s "
            f"({TOTAL / first.seconds:.0f}/s, p99 {first.percentile(0.99) * 1000:.0f} ms)"
        )
        stop = threading.Event()
        box: dict[str, object] = {}
        t = threading.Thread(
            target=lambda: box.setdefault("r", issue_load(srv.port, token, 10**6, CLIENTS, stop))
        )
        t.start()
        time.sleep(3)
        srv.kill()  # SIGKILL to the service's whole process group, mid-load
        stop.set()
        t.join(120)
    finally:
        srv.kill()
    second = box["r"]
    received = first.ok + second.ok  # type: ignore[attr-defined]
    assert second.ok, "no certificate was issued before the kill"  # type: ignore[attr-defined]

    srv = start_server(data, load_db, port=srv.port)
    try:
        svc = open_service(ServiceOptions(data=data, database=load_db, bootstrap=False))
        with svc.db.read() as session:
            stored = set(session.execute(select(Certificate.serial)).scalars())
        missing = [s for s in received if s not in stored]
        assert missing == []
        assert audit.verify(svc.db) == []
        svc.close()
        admin = srv.token("tls-server", name="revoker")
        sample = second.ok[-50:] + random.sample(first.ok, 50)  # type: ignore[attr-defined]
        for serial in sample:
            status, body = api(
                "POST",
                srv.url(f"/api/v1/certificates/{serial}/revoke"),
                admin,
                {"reason": "superseded"},
            )
            assert status == 200 and body["status"] == "revoked", body
    finally:
        srv.stop()
