"""Pre-signed OCSP responses (ocsp_responses); revocations indexed by (issuer_id, id) so a
CRL scans them in id order and max(id) per issuer is one index lookup.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ocsp_responses",
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=48), nullable=False),
        sa.Column("hash_algorithm", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuers.id"]),
        sa.PrimaryKeyConstraint("issuer_id", "serial", "hash_algorithm"),
    )
    op.create_index(
        "ix_ocsp_responses_next_update", "ocsp_responses", ["next_update"], unique=False
    )
    op.create_index("ix_revocations_issuer_id_id", "revocations", ["issuer_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_revocations_issuer_id_id", table_name="revocations")
    op.drop_index("ix_ocsp_responses_next_update", table_name="ocsp_responses")
    op.drop_table("ocsp_responses")
