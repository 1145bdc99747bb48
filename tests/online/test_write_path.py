"""The issuance write path: group commit, the SQLite writer lock, the token cache."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import event, func, select

from ceremony.audit.eventlog import Actor, check_chain
from ceremony.errors import FaultError
from ceremony.online import audit
from ceremony.online.api.tokens import TokenVerifier, create_token
from ceremony.online.db import engine as db_engine
from ceremony.online.db.engine import Database, DatabaseUrl
from ceremony.online.db.models import AuditPending, Certificate
from ceremony.online.issuance import GroupCommit, IssuedCertificate
from ceremony.online.service import OnlineService
from tests.online.helpers import make_csr

ACTOR = Actor("tester", "api-token")


def _wait_for(what: str, ready: Callable[[], bool], seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


class _Issuers:
    """``n`` threads issuing one certificate each, while the test holds the commit slot."""

    def __init__(self, service: OnlineService, n: int) -> None:
        self.commits = service.issuance._commits
        self.results: list[IssuedCertificate] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._issue, args=(service, i)) for i in range(n)]

    def _issue(self, service: OnlineService, i: int) -> None:
        try:
            pem, _ = make_csr([f"w{i}.a.test"])
            issued = service.issuance.issue_csr(pem, "tls-server", ACTOR)
            with self._lock:
                self.results.append(issued)
        except BaseException as ex:  # collected for the assertions
            with self._lock:
                self.errors.append(ex)

    def run_queued(self) -> None:
        """Start the threads with the slot held; release it once all their rows are queued."""
        with self.commits._slot:
            for t in self._threads:
                t.start()
            _wait_for("queued rows", lambda: len(self.commits._queue) == len(self._threads))
        for t in self._threads:
            t.join(120)


def _count(service: OnlineService, model: Any) -> int:
    with service.db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_concurrent_issuances_share_one_transaction(service: OnlineService) -> None:
    commits: list[int] = []
    service.urls.current(service.loaded.active.id)  # the issuer's URLs are read, not written
    event.listen(service.db.engine, "commit", lambda _conn: commits.append(1))
    issuers = _Issuers(service, 5)
    issuers.run_queued()
    assert issuers.errors == []
    assert len(commits) == 1  # five certificates and five audit records, one commit
    assert len({i.serial for i in issuers.results}) == 5
    for issued in issuers.results:
        stored = service.issuance.get(issued.serial)
        assert stored is not None and stored.der == issued.der
    events = list(audit.events(service.db))
    issued = [e for e in events if e["step"] == "certificate.issue"]
    assert sorted(e["payload"]["serial"] for e in issued) == sorted(
        i.serial for i in issuers.results
    )
    assert check_chain(events) == []


def test_serial_collision_in_a_batch_redraws_only_that_serial(
    service: OnlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem, _ = make_csr(["first.a.test"])
    first = service.issuance.issue_csr(pem, "tls-server", ACTOR)
    taken = int(first.serial, 16)
    draws = {"n": 0}
    real = x509.random_serial_number
    draw_lock = threading.Lock()

    def collide_once() -> int:
        with draw_lock:
            draws["n"] += 1
            return taken if draws["n"] == 1 else real()

    monkeypatch.setattr(x509, "random_serial_number", collide_once)
    issuers = _Issuers(service, 3)
    issuers.run_queued()
    assert issuers.errors == []
    serials = {i.serial for i in issuers.results}
    assert len(serials) == 3 and first.serial not in serials
    assert draws["n"] == 4  # the colliding issuance drew once more
    assert _count(service, Certificate) == 4
    events = list(audit.events(service.db))
    assert [e["step"] for e in events].count("certificate.issue") == 4
    assert check_chain(events) == []


def test_a_failed_commit_fails_every_queued_issuance(
    service: OnlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: object) -> None:
        raise FaultError("database: down")

    pending = _count(service, AuditPending)
    monkeypatch.setattr(GroupCommit, "_insert", staticmethod(down))
    issuers = _Issuers(service, 3)
    issuers.run_queued()
    assert issuers.results == []
    assert [str(e) for e in issuers.errors] == ["database: down"] * 3
    assert _count(service, Certificate) == 0 and _count(service, AuditPending) == pending


def test_an_interrupted_commit_returns_no_certificate(
    service: OnlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A BaseException in the committing thread: the others raise, none returns."""

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(GroupCommit, "_insert", staticmethod(interrupted))
    issuers = _Issuers(service, 3)
    issuers.run_queued()
    assert issuers.results == []
    kinds = sorted(type(e).__name__ for e in issuers.errors)
    assert kinds == ["FaultError", "FaultError", "KeyboardInterrupt"]
    assert _count(service, Certificate) == 0


def test_sqlite_writer_waits_for_another_process_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_MS", 200)
    db = Database(DatabaseUrl.sqlite_file(tmp_path / "x.db"))
    try:
        db.migrate()
        lock_file = tmp_path / "x.db-write.lock"
        with db.write():
            pass
        assert lock_file.exists()
        other = os.open(lock_file, os.O_RDWR)  # another open file: as another process
        try:
            fcntl.flock(other, fcntl.LOCK_EX)
            with pytest.raises(FaultError, match="another process held the write lock"):
                with db.write():
                    pass
            fcntl.flock(other, fcntl.LOCK_UN)
            with db.write():
                pass
        finally:
            os.close(other)
        with db.write():  # the failed attempt released this process's thread lock
            pass
    finally:
        db.dispose()


def test_token_cache_answers_without_the_database(service: OnlineService) -> None:
    token = create_token(service.db, "cached", ["tls-server"], False, service.clock)
    verifier = TokenVerifier(service.db)
    assert verifier.cached(None) == (True, None)
    assert verifier.cached("Bearer nonsense") == (True, None)
    assert verifier.cached(f"Bearer {token}") == (False, None)
    grant = verifier.verify(f"Bearer {token}")
    assert grant is not None and grant.may_use("tls-server")
    assert verifier.cached(f"Bearer {token}") == (True, grant)
