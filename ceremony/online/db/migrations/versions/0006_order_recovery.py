"""A certificate names the ACME order it answers, and an order records when finalize
began, so a finalize interrupted by a crash completes (or may be retried) later.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("order_ref", sa.String(length=64), nullable=True))
        batch.create_index("ix_certificates_order_ref", ["order_ref"], unique=False)
    with op.batch_alter_table("acme_orders") as batch:
        batch.add_column(sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acme_orders") as batch:
        batch.drop_column("finalized_at")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_index("ix_certificates_order_ref")
        batch.drop_column("order_ref")
