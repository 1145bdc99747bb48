"""Public URLs are data of each issuer (issuer_urls, in generations); certificates and
revocations record the generation their CDP belongs to.

An issuer that already issued certificates gets generation 1 from the CRL
distribution point of its newest certificate (``BASE/crl/ISSUER/N.crl``), so
the CRLs built from now on carry the IDP that certificate carries;
``ceremony-online check`` reports older certificates whose CDP differs.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from cryptography import x509

from ceremony.online.urls import derive

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _base_of(der: bytes, issuer_id: str) -> str | None:
    try:
        cdp = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
            x509.CRLDistributionPoints
        )
    except (ValueError, x509.ExtensionNotFound):
        return None
    for point in cdp.value:
        for name in point.full_name or []:
            url = str(name.value)
            marker = f"/crl/{issuer_id}/"
            if marker in url:
                return url[: url.rindex(marker)]
    return None


def upgrade() -> None:
    table = op.create_table(
        "issuer_urls",
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("base", sa.Text(), nullable=False),
        sa.Column("crl_shard", sa.Text(), nullable=False),
        sa.Column("crl_full", sa.Text(), nullable=False),
        sa.Column("crl_delta", sa.Text(), nullable=False),
        sa.Column("ocsp", sa.Text(), nullable=False),
        sa.Column("ca_issuers", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_not_after", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuers.id"]),
        sa.PrimaryKeyConstraint("issuer_id", "generation"),
    )
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(
            sa.Column("url_generation", sa.Integer(), server_default="1", nullable=False)
        )
    with op.batch_alter_table("revocations") as batch:
        batch.add_column(
            sa.Column("url_generation", sa.Integer(), server_default="1", nullable=False)
        )
    conn = op.get_bind()
    issuers = conn.execute(sa.text("SELECT id FROM issuers")).scalars().all()
    now = datetime.now(UTC)
    rows = []
    for issuer_id in issuers:
        der = conn.execute(
            sa.text("SELECT der FROM certificates WHERE issuer_id = :i ORDER BY id DESC LIMIT 1"),
            {"i": issuer_id},
        ).scalar_one_or_none()
        base = _base_of(der, issuer_id) if der is not None else None
        if base is None:
            continue  # recorded when the service next starts (or by urls set)
        urls = derive(issuer_id, 1, base, now)
        rows.append(
            {
                "issuer_id": issuer_id,
                "generation": 1,
                "base": urls.base,
                "crl_shard": urls.crl_shard_template,
                "crl_full": urls.crl_full,
                "crl_delta": urls.crl_delta,
                "ocsp": urls.ocsp,
                "ca_issuers": urls.ca_issuers,
                "created_at": now,
            }
        )
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    with op.batch_alter_table("revocations") as batch:
        batch.drop_column("url_generation")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("url_generation")
    op.drop_table("issuer_urls")
