"""Database layer: migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from ceremony.errors import FaultError, InputError
from ceremony.online.db.engine import Database, DatabaseUrl
from ceremony.online.db.models import AuditHead, Base


def _db(tmp_path: Path, url: str | None) -> Database:
    return Database(DatabaseUrl.parse(url) if url else DatabaseUrl.sqlite_file(tmp_path / "x.db"))


def test_migrations_create_exactly_the_models(tmp_path: Path, database_url: str | None) -> None:
    db = _db(tmp_path, database_url)
    try:
        db.migrate()
        db.migrate()  # idempotent
        assert db.current_revision() == db.head_revision()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        with db.read() as session:
            head = session.execute(select(AuditHead)).scalar_one()
        assert (head.seq, head.hash) == (0, "0" * 64)
    finally:
        db.dispose()


def test_unsupported_database_url_is_input_error() -> None:
    with pytest.raises(InputError, match="unsupported database 'mysql'"):
        DatabaseUrl.parse("mysql://x@localhost/db")
    with pytest.raises(InputError, match="not a database URL"):
        DatabaseUrl.parse("::nonsense::")


def test_refused_database_url_hides_its_password() -> None:
    with pytest.raises(InputError) as refused:
        DatabaseUrl.parse("mysql://admin:hunter2@localhost/db?sslpassword=opensesame")
    assert "hunter2" not in refused.value.message
    assert "opensesame" not in refused.value.message
    assert "mysql://admin:***@localhost/db?sslpassword=redacted" in refused.value.message


def test_unreachable_postgres_is_fault() -> None:
    db = Database(DatabaseUrl.parse("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"))
    with pytest.raises(FaultError, match="database"):
        db.migrate()
    db.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ops:s3cret-pw@127.0.0.1:1/none?connect_timeout=2",
        "postgresql://ops@127.0.0.1:1/none?connect_timeout=2&password=s3cret-pw",
        "postgresql://ops@127.0.0.1:1/none?connect_timeout=2&sslpassword=s3cret-pw",
    ],
)
def test_database_password_never_in_messages(url: str) -> None:
    """The fault names the database (logs, /healthz, 503 answers) without its password,
    wherever the URL carries it."""
    db = Database(DatabaseUrl.parse(url))
    with pytest.raises(FaultError) as caught:
        db.migrate()
    db.dispose()
    message = caught.value.message
    assert "s3cret-pw" not in message and "127.0.0.1:1/none" in message, message
