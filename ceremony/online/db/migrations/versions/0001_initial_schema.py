"""Initial schema of the online CA (see ceremony.online.db.models).

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 03:01:53.582488
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        sa.Column("jwk", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("eab_kid", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thumbprint"),
    )
    op.create_table(
        "acme_eab_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("hmac_key", sa.Text(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_table(
        "acme_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index(op.f("ix_acme_nonces_created_at"), "acme_nonces", ["created_at"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("profiles", sa.Text(), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", BIGINT_ID, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": "0" * 64}])
    op.create_table(
        "issuers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("cert_der", sa.LargeBinary(), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("key_ref", sa.Text(), nullable=False),
        sa.Column("crl_shards", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "acme_orders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("identifiers", sa.Text(), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("certificate_serial", sa.String(length=48), nullable=True),
        sa.Column("replaces", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["acme_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_acme_orders_account_id"), "acme_orders", ["account_id"], unique=False)
    op.create_table(
        "certificates",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("serial", sa.String(length=48), nullable=False),
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("spki_sha256", sa.String(length=64), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["issuers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("serial"),
    )
    op.create_index(
        "ix_certificates_issuer_not_after", "certificates", ["issuer_id", "not_after"], unique=False
    )
    op.create_index("ix_certificates_profile", "certificates", ["profile"], unique=False)
    op.create_index(
        op.f("ix_certificates_spki_sha256"), "certificates", ["spki_sha256"], unique=False
    )
    op.create_table(
        "crl_counters",
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["issuers.id"],
        ),
        sa.PrimaryKeyConstraint("issuer_id", "scope"),
    )
    op.create_table(
        "crls",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("base_number", sa.BigInteger(), nullable=True),
        sa.Column("max_revocation_id", sa.BigInteger(), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["issuers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issuer_id", "scope", "number"),
    )
    op.create_table(
        "acme_authorizations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("identifier_type", sa.String(length=8), nullable=False),
        sa.Column("identifier_value", sa.String(length=255), nullable=False),
        sa.Column("wildcard", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["acme_accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["acme_orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_acme_authorizations_order_id"), "acme_authorizations", ["order_id"], unique=False
    )
    op.create_table(
        "revocations",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("certificate_id", BIGINT_ID, nullable=False),
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=48), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
        ),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["issuers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("certificate_id"),
    )
    op.create_index(
        "ix_revocations_issuer_shard", "revocations", ["issuer_id", "shard"], unique=False
    )
    op.create_table(
        "acme_challenges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("authorization_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("validated", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["acme_authorizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_acme_challenges_authorization_id"),
        "acme_challenges",
        ["authorization_id"],
        unique=False,
    )


def downgrade() -> None:

    op.drop_index(op.f("ix_acme_challenges_authorization_id"), table_name="acme_challenges")
    op.drop_table("acme_challenges")
    op.drop_index("ix_revocations_issuer_shard", table_name="revocations")
    op.drop_table("revocations")
    op.drop_index(op.f("ix_acme_authorizations_order_id"), table_name="acme_authorizations")
    op.drop_table("acme_authorizations")
    op.drop_table("crls")
    op.drop_table("crl_counters")
    op.drop_index(op.f("ix_certificates_spki_sha256"), table_name="certificates")
    op.drop_index("ix_certificates_profile", table_name="certificates")
    op.drop_index("ix_certificates_issuer_not_after", table_name="certificates")
    op.drop_table("certificates")
    op.drop_index(op.f("ix_acme_orders_account_id"), table_name="acme_orders")
    op.drop_table("acme_orders")
    op.drop_table("issuers")
    op.drop_table("audit_head")
    op.drop_table("audit_events")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_acme_nonces_created_at"), table_name="acme_nonces")
    op.drop_table("acme_nonces")
    op.drop_table("acme_eab_keys")
    op.drop_table("acme_accounts")
