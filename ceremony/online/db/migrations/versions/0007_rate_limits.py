"""Rate limits shared by every process (rate_events); authorizations indexed by account and
status for the cap on pending authorizations.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rate_events",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rate_events_scope_key_at", "rate_events", ["scope", "key", "at"])
    op.create_index(op.f("ix_rate_events_at"), "rate_events", ["at"])
    op.create_index(
        "ix_acme_authorizations_account_status", "acme_authorizations", ["account_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_acme_authorizations_account_status", table_name="acme_authorizations")
    op.drop_index(op.f("ix_rate_events_at"), table_name="rate_events")
    op.drop_index("ix_rate_events_scope_key_at", table_name="rate_events")
    op.drop_table("rate_events")
