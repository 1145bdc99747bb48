"""Database connection: SQLite (embedded default) or PostgreSQL (several processes).

Use :meth:`Database.write` for a transaction that writes and :meth:`Database.read`
for one that only reads. On SQLite a write transaction starts with
``BEGIN IMMEDIATE`` so two processes never deadlock upgrading a read lock,
the journal is WAL (readers never wait for the writer) and a busy writer is
waited for (``busy_timeout``). On PostgreSQL both are ordinary transactions;
rows that serialize work are locked with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from ceremony.errors import FaultError, InputError

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_MS = 30_000


@dataclass(frozen=True)
class DatabaseUrl:
    """A database URL checked for a driver we support."""

    url: str

    @classmethod
    def parse(cls, text: str) -> DatabaseUrl:
        try:
            url = make_url(text)
        except ArgumentError as ex:
            raise InputError(f"--database {text!r}: not a database URL") from ex
        backend = url.get_backend_name()
        if backend == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        elif backend != "sqlite":
            raise InputError(
                f"--database {text!r}: unsupported database {backend!r} (sqlite or postgresql)"
            )
        return cls(url.render_as_string(hide_password=False))

    @classmethod
    def sqlite_file(cls, path: Path) -> DatabaseUrl:
        return cls(f"sqlite:///{Path(path).resolve()}")

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def redacted(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class Database:
    """One database, its engines and session factories."""

    def __init__(self, url: DatabaseUrl, pool_size: int = 8) -> None:
        self.url = url
        if url.is_sqlite:
            self.engine = _sqlite_engine(url.url, "BEGIN IMMEDIATE")
            self._read_engine = _sqlite_engine(url.url, "BEGIN")
        else:
            self.engine = create_engine(
                url.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self._read_engine = self.engine
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock: threading.Lock | nullcontext[None] = (
            threading.Lock() if url.is_sqlite else nullcontext()
        )
        self._read = sessionmaker(self._read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        On SQLite, writers of one process queue on a lock first: only one of its
        threads waits in SQLite's busy handler (whose back-off sleeps would otherwise
        multiply latency under concurrency).
        """
        with self._write_lock, self._faults(), self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._faults(), self._read() as session, session.begin():
            yield session

    @contextmanager
    def _faults(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as ex:
            reason = str(ex.orig).strip().splitlines()[0] if ex.orig else "operational error"
            raise FaultError(f"database {self.url.redacted()}: {reason}") from ex

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_engine is not self.engine:
            self._read_engine.dispose()

    def migrate(self) -> None:
        """Upgrade the schema to the newest Alembic revision."""
        with self._faults(), self.engine.connect() as conn:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()

    def current_revision(self) -> str | None:
        with self._faults(), self._read_engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()


def alembic_config(url: DatabaseUrl) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.url.replace("%", "%%"))
    return cfg


def null_pool_engine(url: DatabaseUrl) -> Engine:
    """An engine that keeps no connection open (for one-shot CLI commands)."""
    return create_engine(url.url, poolclass=NullPool)
