"""The online CA's tables (SQLAlchemy 2, typed mappings).

The schema is created and upgraded only by the Alembic migrations in
:mod:`ceremony.online.db.migrations`; ``tests/online/test_db.py`` checks
that the migrations and these models agree.

Design notes:

- ``certificates`` is append-only; revocation adds a ``revocations`` row
  (its autoincrement id orders revocations for delta CRLs) and sets
  ``certificates.revoked`` for quick status reads.
- Serials are lower-case hex without leading zeros; ``shard`` is
  ``serial % issuer.crl_shards``, fixed at issuance (it is in the CDP).
- An issuance or revocation commits its audit record to ``audit_pending``
  in the same transaction (no lock); the sequencer moves pending records into
  the hash chain ``audit_events`` in batches while holding the single
  ``audit_head`` row ``FOR UPDATE``, so issuances never wait for each other.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every online table."""


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Issuer(Base):
    __tablename__ = "issuers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    cert_der: Mapped[bytes] = mapped_column(LargeBinary)
    chain_pem: Mapped[str] = mapped_column(Text)
    key_ref: Mapped[str] = mapped_column(Text)
    crl_shards: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class IssuerUrlSet(Base):
    """One generation of an issuer's public URLs (see ceremony.online.urls)."""

    __tablename__ = "issuer_urls"

    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuers.id"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    base: Mapped[str] = mapped_column(Text)
    crl_shard: Mapped[str] = mapped_column(Text)
    crl_full: Mapped[str] = mapped_column(Text)
    crl_delta: Mapped[str] = mapped_column(Text)
    ocsp: Mapped[str] = mapped_column(Text)
    ca_issuers: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_not_after: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_issuer_not_after", "issuer_id", "not_after"),
        Index("ix_certificates_profile", "profile"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(48), unique=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuers.id"))
    profile: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    names: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    shard: Mapped[int] = mapped_column(Integer)
    url_generation: Mapped[int] = mapped_column(Integer, server_default="1")
    """The generation of the issuer's URLs (``issuer_urls``) in its CDP, AIA and OCSP."""
    der: Mapped[bytes] = mapped_column(LargeBinary)
    spki_sha256: Mapped[str] = mapped_column(String(64), index=True)
    requester: Mapped[str] = mapped_column(String(128))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    order_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    """The request this certificate answers (``acme-order:ID``): lets a finalize that was
    interrupted after the certificate committed complete later."""


class Revocation(Base):
    __tablename__ = "revocations"
    __table_args__ = (
        Index("ix_revocations_issuer_shard", "issuer_id", "shard"),
        Index("ix_revocations_revoked_at", "revoked_at"),
        Index("ix_revocations_issuer_id_id", "issuer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), unique=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuers.id"))
    serial: Mapped[str] = mapped_column(String(48))
    shard: Mapped[int] = mapped_column(Integer)
    url_generation: Mapped[int] = mapped_column(Integer, server_default="1")
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(String(32))
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    requester: Mapped[str] = mapped_column(String(128))


class Crl(Base):
    """One signed CRL; the newest ``number`` of a scope is the one served."""

    __tablename__ = "crls"
    __table_args__ = (UniqueConstraint("issuer_id", "scope", "number"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuers.id"))
    scope: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(BigInteger)
    base_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_revocation_id: Mapped[int] = mapped_column(BigInteger)
    this_update: Mapped[datetime] = mapped_column(UtcDateTime())
    next_update: Mapped[datetime] = mapped_column(UtcDateTime())
    entries: Mapped[int] = mapped_column(Integer)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class OcspResponse(Base):
    """A signed OCSP response (RFC 6960) for one certificate and CertID hash, made when the
    certificate is revoked or first asked for, and re-signed before its nextUpdate."""

    __tablename__ = "ocsp_responses"
    __table_args__ = (Index("ix_ocsp_responses_next_update", "next_update"),)

    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuers.id"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(48), primary_key=True)
    hash_algorithm: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    this_update: Mapped[datetime] = mapped_column(UtcDateTime())
    next_update: Mapped[datetime] = mapped_column(UtcDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)


class CrlCounter(Base):
    """Per issuer and numbering scope: the last CRL number; locked while building."""

    __tablename__ = "crl_counters"

    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuers.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    profiles: Mapped[str] = mapped_column(Text)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    """Revoked (``revoked_at`` says when; rows of old versions may lack it)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    line: Mapped[str] = mapped_column(Text)


class AuditPending(Base):
    """An audit record committed with its certificate/revocation, not yet in the chain."""

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    time: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AcmeNonce(Base):
    __tablename__ = "acme_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class AcmeAccount(Base):
    __tablename__ = "acme_accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    thumbprint: Mapped[str] = mapped_column(String(64), unique=True)
    jwk: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    contact: Mapped[str] = mapped_column(Text)
    eab_kid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AcmeEabKey(Base):
    __tablename__ = "acme_eab_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    hmac_key: Mapped[str] = mapped_column(Text)
    account_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """An unbound key can no longer bind an account after this."""
    bound_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """Revoked: it binds nothing, and the account it bound is revoked with it."""


class AcmeOrder(Base):
    __tablename__ = "acme_orders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("acme_accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    identifiers: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(String(64))
    expires: Mapped[datetime] = mapped_column(UtcDateTime())
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    certificate_serial: Mapped[str | None] = mapped_column(String(48), nullable=True)
    replaces: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finalized_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """When finalize set it ``processing``."""


class AcmeAuthorization(Base):
    __tablename__ = "acme_authorizations"
    __table_args__ = (Index("ix_acme_authorizations_account_status", "account_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("acme_orders.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("acme_accounts.id"))
    identifier_type: Mapped[str] = mapped_column(String(8))
    identifier_value: Mapped[str] = mapped_column(String(255))
    wildcard: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    expires: Mapped[datetime] = mapped_column(UtcDateTime())


class AcmeChallenge(Base):
    __tablename__ = "acme_challenges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("acme_authorizations.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    validated: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class RateEvent(Base):
    """One counted event of a rate limit (see ceremony.online.limits)."""

    __tablename__ = "rate_events"
    __table_args__ = (Index("ix_rate_events_scope_key_at", "scope", "key", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
