"""Fixtures for the online CA tests: databases (SQLite and PostgreSQL), services, servers.

PostgreSQL: set ``CEREMONY_TEST_POSTGRES_URL`` (``scripts/test`` starts a local
server and sets it). Each test gets its own schema, dropped afterwards. When
the variable is unset the PostgreSQL variants are skipped with that reason.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("sqlalchemy", reason="the online extra is not installed")
pytest.importorskip("starlette", reason="starlette (online service HTTP stack) is not installed")

from sqlalchemy import create_engine, text

from ceremony.online.service import OnlineService, ServiceOptions, open_service

PG_ENV = "CEREMONY_TEST_POSTGRES_URL"
REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the data folder) or a PostgreSQL URL with a private schema."""
    if request.param == "sqlite":
        yield None
        return
    yield from _pg_schema()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _pg_schema()


def _pg_schema() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (scripts/test starts PostgreSQL and sets it)")
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def bootstrapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder bootstrapped once by ``open_service`` (the ceremony engine's root
    ceremony and signing ceremony, several seconds); tests work on copies of it."""
    data = tmp_path_factory.mktemp("bootstrapped") / "data"
    open_service(ServiceOptions(data=data)).close()
    for db_file in data.glob("online.sqlite3*"):
        db_file.unlink()
    return data


@pytest.fixture
def data_dir(tmp_path: Path, bootstrapped: Path) -> Path:
    """A private copy of the bootstrapped data folder (its own token, database and bundle)."""
    data = tmp_path / "data"
    shutil.copytree(bootstrapped, data, symlinks=True)
    return data


@pytest.fixture
def service(data_dir: Path, database_url: str | None) -> Iterator[OnlineService]:
    svc = open_service(ServiceOptions(data=data_dir, database=database_url))
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def sqlite_service(data_dir: Path) -> Iterator[OnlineService]:
    svc = open_service(ServiceOptions(data=data_dir))
    try:
        yield svc
    finally:
        svc.close()


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "ceremony-online"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a ``serve`` started in its own session (and its workers); SIGKILL if stuck."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@dataclass
class Server:
    """A ``ceremony-online serve`` process on loopback."""

    data: Path
    port: int
    proc: subprocess.Popen[bytes]
    database: str | None
    extra: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def kill(self) -> None:
        """SIGKILL the whole process group (the service and any workers)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        stop_process_group(self.proc)

    def token(self, *profiles: str, name: str | None = None) -> str:
        args = ["token", "create", "--data", str(self.data), "--name", name or secrets.token_hex(4)]
        if self.database:
            args += ["--database", self.database]
        for p in profiles or ("*",):
            args += ["--profile", p]
        r = cli(*args)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()


def start_server(
    data: Path,
    database: str | None = None,
    extra: list[str] | None = None,
    port: int | None = None,
    log: Path | None = None,
) -> Server:
    port = port or free_port()
    args = [
        str(VENV_BIN / "ceremony-online"),
        "serve",
        "--data",
        str(data),
        "--listen",
        f"127.0.0.1:{port}",
        *(extra or []),
    ]
    if database:
        args += ["--database", database]
    out = open(log or (data.parent / f"server-{port}.log"), "ab")
    proc = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
    out.close()
    server = Server(data=data, port=port, proc=proc, database=database, extra=extra or [])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(server.url("/healthz"), timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("server did not become healthy in 60 s")


@pytest.fixture
def server_factory(tmp_path: Path, bootstrapped: Path) -> Iterator[Any]:
    """Start ``serve`` processes; on a copy of the bootstrapped data folder unless
    ``data`` is given (an empty ``data`` makes ``serve`` bootstrap it itself)."""
    started: list[Server] = []

    def make(
        database: str | None = None, extra: list[str] | None = None, data: Path | None = None
    ) -> Server:
        if data is None:
            data = tmp_path / "data"
            if not data.exists():
                shutil.copytree(bootstrapped, data, symlinks=True)
        s = start_server(data, database, extra)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as ex:
        return ex.code, {k.lower(): v for k, v in ex.headers.items()}, ex.read()


def api(
    method: str, url: str, token: str | None, obj: dict[str, Any] | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(obj).encode() if obj is not None else None
    status, _h, data = http(method, url, body, headers)
    return status, json.loads(data) if data else None


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path
