"""Database connection: SQLite (embedded default) or PostgreSQL (several processes).

Use :meth:`Database.write` for a transaction that writes and :meth:`Database.read`
for one that only reads. On SQLite a write transaction starts with
``BEGIN IMMEDIATE`` so two processes never deadlock upgrading a read lock,
the journal is WAL (readers never wait for the writer) with
``synchronous=FULL`` (every commit is fsynced: durable against power loss,
not only against a crash of the process), and writers queue on
:class:`WriterLock` (threads of a process, then processes) before SQLite's
busy handler would see them. On PostgreSQL both are ordinary transactions;
rows that serialize work are locked with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from ceremony.errors import CeremonyError, FaultError, InputError

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_MS = 30_000


class DatabaseFault(FaultError):
    """The database failed. :attr:`message` names it for the log and the operator's
    commands; clients of the service get :data:`PUBLIC_DATABASE_FAULT` instead
    (:func:`client_message`), never its address or user."""


PUBLIC_DATABASE_FAULT = "the database is unavailable; the service log says more"


def client_message(ex: CeremonyError) -> str:
    """What an HTTP answer may say of ``ex``."""
    return PUBLIC_DATABASE_FAULT if isinstance(ex, DatabaseFault) else ex.message


def _hidden(url: URL) -> str:
    """The URL with its password hidden, also where libpq takes it as a parameter."""
    hidden = {k: "redacted" for k in url.query if "password" in k.lower()}
    return str(url.update_query_dict(hidden).render_as_string(hide_password=True))


@dataclass(frozen=True)
class DatabaseUrl:
    """A database URL checked for a driver we support."""

    url: str

    @classmethod
    def parse(cls, text: str) -> DatabaseUrl:
        try:
            url = make_url(text)
        except ArgumentError as ex:
            raise InputError(
                "--database: not a database URL (sqlite:///FILE or postgresql://USER@HOST/DB)"
            ) from ex
        backend = url.get_backend_name()
        if backend == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        elif backend != "sqlite":
            raise InputError(
                f"--database {_hidden(url)!r}: unsupported database {backend!r}"
                " (sqlite or postgresql)"
            )
        return cls(url.render_as_string(hide_password=False))

    @classmethod
    def sqlite_file(cls, path: Path) -> DatabaseUrl:
        return cls(f"sqlite:///{Path(path).resolve()}")

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def redacted(self) -> str:
        """The URL for logs and answers: the password hidden, also where libpq takes it as
        a parameter (``?password=``, ``?sslpassword=``)."""
        return _hidden(make_url(self.url))

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a file-backed SQLite URL (None for PostgreSQL or memory)."""
        if not self.is_sqlite:
            return None
        name = make_url(self.url).database
        return Path(name) if name and name != ":memory:" else None


class WriterLock:
    """One SQLite writer at a time: threads of this process, then processes.

    Threads queue on a :class:`threading.Lock`; the holder then takes an
    exclusive ``flock`` on ``<database>-write.lock``, retrying every 50 us to
    1 ms. Without it a writer of a second process waits in SQLite's busy
    handler, which sleeps 1, 2, 5 ... 100 ms between attempts: under load the
    other process's write lock has long been free when it wakes, and every
    thread of its process queues behind it. The wait is bounded by the same
    timeout as SQLite's busy handler (which still guards against writers that
    do not take this lock, e.g. the ``sqlite3`` shell). A process that dies
    releases its ``flock``.
    """

    def __init__(self, db_file: Path | None, timeout_s: float) -> None:
        self._threads = threading.Lock()
        self._path = None if db_file is None else db_file.with_name(db_file.name + "-write.lock")
        self._timeout_s = timeout_s
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # flock is per open file, not per fork
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            fd = self._file()
            if fd is not None:
                self._lock_file(fd)
        except BaseException:
            self._threads.release()
            raise

    def _lock_file(self, fd: int) -> None:
        deadline = time.monotonic() + self._timeout_s
        delay = 0.00005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                raise FaultError(
                    f"database {self._path}: another process held the write lock "
                    f"for {self._timeout_s:.0f} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.001)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


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
        self._writer_lock = (
            WriterLock(url.sqlite_path, SQLITE_BUSY_MS / 1000) if url.is_sqlite else None
        )
        self._read = sessionmaker(self._read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        On SQLite, writers queue on :class:`WriterLock` first (this process's
        threads, then other processes), so SQLite's busy handler rarely waits.
        """
        lock: AbstractContextManager[None] = self._writer_lock or nullcontext()
        with lock, self._faults(), self._write() as session, session.begin():
            yield session

    @contextmanager
    def write_core(self) -> Iterator[Connection]:
        """A Core connection in a write transaction (commits on success, rolls back on
        error), for the hot path's plain inserts: no ORM session or unit of work to build
        and tear down while the database's write lock is held. Same locking as
        :meth:`write`."""
        lock: AbstractContextManager[None] = self._writer_lock or nullcontext()
        with lock, self._faults(), self.engine.begin() as conn:
            yield conn

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
            raise DatabaseFault(f"database {self.url.redacted()}: {reason}") from ex

    def dispose(self) -> None:
        if self._writer_lock is not None:
            self._writer_lock.close()
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
