"""Credentials with a life cycle: API tokens and EAB keys expire, can be revoked, and
record when they were last used (tokens) or bound an account (EAB keys).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(_time("expires_at"))
        batch.add_column(_time("last_used_at"))
        batch.add_column(_time("revoked_at"))
    with op.batch_alter_table("acme_eab_keys") as batch:
        batch.add_column(_time("expires_at"))
        batch.add_column(_time("bound_at"))
        batch.add_column(_time("revoked_at"))


def downgrade() -> None:
    with op.batch_alter_table("acme_eab_keys") as batch:
        for name in ("revoked_at", "bound_at", "expires_at"):
            batch.drop_column(name)
    with op.batch_alter_table("api_tokens") as batch:
        for name in ("revoked_at", "last_used_at", "expires_at"):
            batch.drop_column(name)
