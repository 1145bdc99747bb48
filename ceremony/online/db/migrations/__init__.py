"""Alembic migrations of the online database (run by :meth:`Database.migrate`)."""
