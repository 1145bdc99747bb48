"""Audit records wait in audit_pending until the sequencer chains them; index revoked_at.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("time", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_revocations_revoked_at", "revocations", ["revoked_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_revocations_revoked_at", table_name="revocations")
    op.drop_table("audit_pending")
