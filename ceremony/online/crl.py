"""CRLs: a full CRL, sharded CRLs and a delta CRL per issuer.

Scopes (the ``crls.scope`` column):

- ``full``: every unexpired revocation of the issuer; no IDP (it covers all
  the issuer's certificates); carries a FreshestCRL pointer to the delta.
- ``shard-N`` (``gG-shard-N`` for URL generation G >= 2): revocations of
  certificates issued under that generation of the issuer's URLs whose serial
  falls in shard N (``serial % crl_shards``); a critical
  IssuingDistributionPoint names the shard URL of that generation, which is
  the CDP written into those certificates (:mod:`ceremony.online.urls`). A
  generation's shards are published until its last certificate expires.
- ``delta``: revocations since the newest full CRL (DeltaCRLIndicator =
  that CRL's number). Full and delta share one number sequence (RFC 5280
  5.2.3); each shard has its own.

Numbers are reserved under a row lock on ``crl_counters`` together with the
highest revocation id then committed; the entries are read and the CRL
signed outside that transaction, so a million-entry full CRL does not
block issuance. A revocation rebuilds its shard and the delta at once; the
background refresher rebuilds any CRL past half its validity.

Entries are passed to the CRLBuilder constructor as a list (the chained
``add_revoked_certificate`` is quadratic).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from time import perf_counter
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import CRLEntryExtensionOID
from sqlalchemy import DateTime, delete, func, select, type_coerce
from sqlalchemy.orm import Session

from ceremony.errors import FaultError, InputError
from ceremony.online import lint
from ceremony.online.crl_copies import CrlCopies
from ceremony.online.db.engine import Database
from ceremony.online.db.models import Crl, CrlCounter, Revocation
from ceremony.online.issuance import Clock, Revoked
from ceremony.online.issuer import IssuingCa
from ceremony.online.metrics import REGISTRY
from ceremony.online.reasons import crl_flag
from ceremony.online.signing import BadSignature
from ceremony.online.urls import NoUrls, UrlBook, parse_shard_scope, shard_scope

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite
DELTA_OVERLAP = timedelta(minutes=5)
EXPIRED_GRACE = timedelta(days=1)
LINT_MAX_ENTRIES = 5000
KEEP_PER_SCOPE = 3


@dataclass(frozen=True)
class CrlSettings:
    """How long CRLs are valid and when they are refreshed."""

    validity: timedelta = timedelta(days=4)
    """nextUpdate - thisUpdate of full and shard CRLs (BR: at most 10 days)."""
    delta_validity: timedelta = timedelta(hours=24)
    lint_max_entries: int = LINT_MAX_ENTRIES
    """CRLs with more entries are not linted (pkilint is slow on huge CRLs)."""


@dataclass(frozen=True)
class CrlMeta:
    number: int
    this_update: datetime
    next_update: datetime
    max_revocation_id: int


@dataclass(frozen=True)
class StoredCrl:
    scope: str
    number: int
    this_update: datetime
    next_update: datetime
    der: bytes
    entries: int


def _counter_scope(scope: str) -> str:
    return "full" if scope == "delta" else scope


def _naive_utc(t: datetime) -> datetime:
    return t if t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)


@cache
def _reason_extensions(reason: str) -> list[x509.Extension[x509.ExtensionType]]:
    """The entry extensions of a reason, made once and shared by every entry."""
    flag = crl_flag(reason)
    if flag is None:
        return []
    return [x509.Extension(CRLEntryExtensionOID.CRL_REASON, False, x509.CRLReason(flag))]


def _entry(serial: str, revoked_at: datetime, reason: str) -> x509.RevokedCertificate:
    return x509.RevokedCertificateBuilder(
        int(serial, 16), revoked_at, _reason_extensions(reason)
    ).build()


SCAN_BATCH = 20_000


def _scan(
    session: Session, issuer_id: str, max_id: int, oldest: datetime, shard: tuple[int, int] | None
) -> list[x509.RevokedCertificate]:
    """The entries of a full CRL or a shard: one raw DBAPI cursor walking the
    ``(issuer_id, id)`` index in id order (the shard's ``(issuer_id, shard)`` index),
    rows turned into entries as they arrive, no ORM or Core row objects."""
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    sql = (
        f"SELECT serial, revoked_at, reason FROM revocations WHERE issuer_id = {mark} "
        f"AND id <= {mark} AND not_after >= {mark}"
    )
    params: list[Any] = [issuer_id, max_id]
    # SQLite keeps UtcDateTime as naive UTC text, compared as text; PostgreSQL: timestamptz
    params.append(_naive_utc(oldest).strftime(SQLITE_TIME) if sqlite else oldest)
    if shard is not None:
        sql += f" AND shard = {mark} AND url_generation = {mark}"
        params += list(shard)
    sql += " ORDER BY id"
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor() if sqlite else raw.cursor(name="crl_scan")  # server side on psycopg
    try:
        cursor.execute(sql, params)
        entries: list[x509.RevokedCertificate] = []
        append = entries.append
        builder = x509.RevokedCertificateBuilder
        extensions = _reason_extensions
        parse = datetime.fromisoformat
        while rows := cursor.fetchmany(SCAN_BATCH):
            for serial, at, reason in rows:
                when = parse(at) if sqlite else at
                append(builder(int(serial, 16), when, extensions(reason)).build())
        return entries
    finally:
        cursor.close()


class CrlPublisher:
    """Builds, signs, stores and serves the CRLs of a set of issuers."""

    def __init__(
        self,
        db: Database,
        issuers: dict[str, IssuingCa],
        urls: UrlBook,
        clock: Clock,
        settings: CrlSettings | None = None,
        copies: CrlCopies | None = None,
    ) -> None:
        self.db = db
        self.issuers = issuers
        self.urls = urls
        self.clock = clock
        self.settings = settings or CrlSettings()
        self.copies = copies or CrlCopies(None)
        self._cache: dict[tuple[str, str], StoredCrl] = {}
        self._cache_lock = threading.Lock()

    def issuer(self, issuer_id: str) -> IssuingCa:
        try:
            return self.issuers[issuer_id]
        except KeyError:
            raise InputError(f"issuer {issuer_id!r}: unknown") from None

    def scopes(self, issuer_id: str, now: datetime | None = None) -> list[str]:
        """Every scope published now: full, delta, and the shards of each live generation."""
        issuer = self.issuer(issuer_id)
        at = now or self.clock()
        gens = [g.generation for g in self.urls.generations(issuer_id) if g.live(at, EXPIRED_GRACE)]
        shards = [shard_scope(n, g) for g in gens for n in range(issuer.crl_shards)]
        return ["full", "delta", *shards]

    def _check_scope(self, issuer: IssuingCa, scope: str) -> int | None:
        """InputError for a scope the issuer has no CRL for; the generation of a shard."""
        if scope in ("full", "delta"):
            return None
        parsed = parse_shard_scope(scope)
        if parsed is None or parsed[0] >= issuer.crl_shards:
            raise InputError(f"CRL scope {scope!r}: unknown for issuer {issuer.id}")
        if parsed[1] > 1 and self.urls.generation(issuer.id, parsed[1]) is None:
            raise InputError(f"CRL scope {scope!r}: issuer {issuer.id} has no such URL generation")
        return parsed[1]

    def _published_url(self, issuer: IssuingCa, scope: str) -> str:
        """The URL a CRL of ``scope`` names: a shard's IDP (the CDP of its certificates,
        from the generation they were issued under), the full CRL's FreshestCRL (the
        current generation's delta URL); empty for the delta, which names none."""
        generation = self._check_scope(issuer, scope)
        if scope == "delta":
            return ""
        if scope == "full":
            return self.urls.current(issuer.id).crl_delta
        parsed = parse_shard_scope(scope)
        assert parsed is not None and generation is not None
        urls = self.urls.generation(issuer.id, generation)
        if urls is None:
            raise NoUrls(issuer.id)
        return urls.crl_shard(parsed[0])

    # --- building -----------------------------------------------------------------

    def _max_revocation_id(self, issuer_id: str) -> int:
        """The newest revocation of the issuer: one seek on ``(issuer_id, id)``, read
        before the numbering transaction."""
        with self.db.read() as session:
            found = session.execute(
                select(func.max(Revocation.id)).where(Revocation.issuer_id == issuer_id)
            ).scalar_one()
        return int(found or 0)

    def _reserve(
        self, session: Session, issuer_id: str, scope: str, seen_max_id: int
    ) -> tuple[int, int]:
        """The next number of ``scope`` and the revocations it covers: ``seen_max_id``
        raised to any revocation committed since it was read (an empty index range
        nearly always), so that a higher number never covers fewer revocations."""
        key = _counter_scope(scope)
        counter = session.execute(
            select(CrlCounter)
            .where(CrlCounter.issuer_id == issuer_id, CrlCounter.scope == key)
            .with_for_update()
        ).scalar_one_or_none()
        if counter is None:
            counter = CrlCounter(issuer_id=issuer_id, scope=key, last_number=0)
            session.add(counter)
        counter.last_number += 1
        newer = session.execute(
            select(func.max(Revocation.id)).where(
                Revocation.issuer_id == issuer_id, Revocation.id > seen_max_id
            )
        ).scalar_one()
        return counter.last_number, int(newer or seen_max_id)

    def build(self, issuer_id: str, scope: str) -> StoredCrl:
        """Build, sign, lint (when small enough) and store the next CRL of ``scope``."""
        issuer = self.issuer(issuer_id)
        url = self._published_url(issuer, scope)
        start = perf_counter()
        base: CrlMeta | None = None
        base_max_id = 0
        if scope == "delta":
            base = self._latest_meta(issuer_id, "full")
            if base is None:
                self.build(issuer_id, "full")
                base = self._latest_meta(issuer_id, "full")
                assert base is not None
            base_max_id = base.max_revocation_id
        seen_max_id = self._max_revocation_id(issuer_id)
        with self.db.write() as session:
            number, max_id = self._reserve(session, issuer_id, scope, seen_max_id)
        now = self.clock()
        with self.db.read() as session:
            if scope == "delta":
                assert base is not None
                entries = self._delta_entries(
                    session, issuer_id, base_max_id, max_id, base.this_update - DELTA_OVERLAP, now
                )
            else:
                entries = self._entries(session, issuer_id, scope, max_id, now)
        validity = self.settings.delta_validity if scope == "delta" else self.settings.validity
        exts: list[x509.Extension[x509.ExtensionType]] = [
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
            x509.Extension(x509.AuthorityKeyIdentifier.oid, False, issuer.aki),
        ]
        if scope == "full":
            exts.append(
                x509.Extension(
                    x509.FreshestCRL.oid,
                    False,
                    x509.FreshestCRL(
                        [
                            x509.DistributionPoint(
                                [x509.UniformResourceIdentifier(url)],
                                None,
                                None,
                                None,
                            )
                        ]
                    ),
                )
            )
        elif scope == "delta":
            assert base is not None
            exts.append(
                x509.Extension(
                    x509.DeltaCRLIndicator.oid, True, x509.DeltaCRLIndicator(base.number)
                )
            )
        else:
            idp = x509.IssuingDistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                only_contains_user_certs=True,
                only_contains_ca_certs=False,
                only_some_reasons=None,
                indirect_crl=False,
                only_contains_attribute_certs=False,
            )
            exts.append(x509.Extension(idp.oid, True, idp))
        builder = x509.CertificateRevocationListBuilder(
            issuer_name=issuer.certificate.subject,
            last_update=now,
            next_update=now + validity,
            extensions=exts,
            revoked_certificates=entries,
        )
        try:
            crl = issuer.sign_crl(builder)  # the signature is verified as it is made
        except BadSignature as ex:
            raise FaultError(f"CRL {issuer_id}/{scope}: {ex.message}") from ex
        der = crl.public_bytes(serialization.Encoding.DER)
        count = len(entries)
        del crl, builder, entries  # the DER is all that is kept
        if count <= self.settings.lint_max_entries:
            findings = lint.lint_crl(der)
            if findings:
                raise FaultError(f"CRL {issuer_id}/{scope}: refused by lint: {findings[0]}")
        row = Crl(
            issuer_id=issuer_id,
            scope=scope,
            number=number,
            base_number=base.number if base else None,
            max_revocation_id=max_id,
            this_update=now,
            next_update=now + validity,
            entries=count,
            der=der,
        )
        with self.db.write() as session:
            session.add(row)
            session.flush()
            old = (
                session.execute(
                    select(Crl.id)
                    .where(Crl.issuer_id == issuer_id, Crl.scope == scope)
                    .order_by(Crl.number.desc())
                    .offset(KEEP_PER_SCOPE)
                )
                .scalars()
                .all()
            )
            if old:
                session.execute(delete(Crl).where(Crl.id.in_(old)))
        REGISTRY.observe(
            "ceremony_online_crl_build_seconds", perf_counter() - start, scope=scope[:5]
        )
        stored = _as_stored(row)
        with self._cache_lock:
            self._cache[(issuer_id, scope)] = stored
        self.copies.keep(issuer_id, scope, stored.number, stored.der)
        return stored

    def on_revoked(self, event: Revoked) -> None:
        """Revocation hook: the certificate's shard and the delta are rebuilt at once."""
        if event.issuer_id in self.issuers:
            self.build(event.issuer_id, shard_scope(event.shard, event.url_generation))
            self.build(event.issuer_id, "delta")

    # --- serving ------------------------------------------------------------------

    @staticmethod
    def _entries(
        session: Session, issuer_id: str, scope: str, max_id: int, now: datetime
    ) -> list[x509.RevokedCertificate]:
        """The entries of a full CRL or one shard."""
        return _scan(session, issuer_id, max_id, now - EXPIRED_GRACE, parse_shard_scope(scope))

    @staticmethod
    def _delta_entries(
        session: Session,
        issuer_id: str,
        base_max_id: int,
        max_id: int,
        since: datetime,
        now: datetime,
    ) -> list[x509.RevokedCertificate]:
        """Revocations after the base CRL: recorded after it (id) or dated after it
        (revoked_at, with overlap). Two range queries, each on its own index (one query
        with OR would make SQLite walk every revocation of the issuer); the other
        conditions are applied here."""
        revoked_at = type_coerce(Revocation.revoked_at, DateTime(timezone=True))
        not_after = type_coerce(Revocation.not_after, DateTime(timezone=True))
        cols = (
            Revocation.id,
            Revocation.issuer_id,
            Revocation.serial,
            revoked_at,
            Revocation.reason,
            not_after,
        )
        rows = {
            row[0]: row
            for q in (
                select(*cols).where(Revocation.id > base_max_id, Revocation.id <= max_id),
                select(*cols).where(Revocation.revoked_at >= since),
            )
            for row in session.execute(q)
        }
        oldest = _naive_utc(now - EXPIRED_GRACE)
        return [
            _entry(serial, at, reason)
            for rid, iss, serial, at, reason, until in sorted(rows.values())
            if rid <= max_id and iss == issuer_id and _naive_utc(until) >= oldest
        ]

    def _latest_meta(self, issuer_id: str, scope: str) -> CrlMeta | None:
        """Number and dates of the newest CRL of ``scope`` (without its DER)."""
        with self.db.read() as session:
            row = session.execute(
                select(Crl.number, Crl.this_update, Crl.next_update, Crl.max_revocation_id)
                .where(Crl.issuer_id == issuer_id, Crl.scope == scope)
                .order_by(Crl.number.desc())
                .limit(1)
            ).one_or_none()
        return None if row is None else CrlMeta(*row)

    def _load(self, issuer_id: str, scope: str, number: int) -> StoredCrl | None:
        with self.db.read() as session:
            row = session.execute(
                select(Crl).where(
                    Crl.issuer_id == issuer_id, Crl.scope == scope, Crl.number == number
                )
            ).scalar_one_or_none()
        return None if row is None else _as_stored(row)

    def _stale(self, crl: CrlMeta | StoredCrl, now: datetime) -> bool:
        half = (crl.next_update - crl.this_update) / 2
        return now >= crl.this_update + half

    def current(self, issuer_id: str, scope: str) -> StoredCrl:
        """The newest CRL of ``scope``, rebuilt first if missing or past half its validity;
        with the database down, the last good copy while it is valid (FaultError if none)."""
        try:
            return self._current(issuer_id, scope)
        except FaultError as ex:
            copy = self._last_good(issuer_id, scope)
            self.copies.outage(issuer_id, scope, ex.message, copy.number if copy else None)
            if copy is None:
                raise
            return copy

    def _last_good(self, issuer_id: str, scope: str) -> StoredCrl | None:
        now = self.clock()
        with self._cache_lock:
            cached = self._cache.get((issuer_id, scope))
        if cached is not None and cached.next_update > now:
            return cached
        crl = self.copies.load(issuer_id, scope, now)
        if crl is None or crl.next_update_utc is None:
            return None
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        return StoredCrl(
            scope=scope,
            number=number,
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
            der=crl.public_bytes(serialization.Encoding.DER),
            entries=len(crl),
        )

    def _current(self, issuer_id: str, scope: str) -> StoredCrl:
        self._check_scope(self.issuer(issuer_id), scope)
        meta = self._latest_meta(issuer_id, scope)
        if meta is None or self._stale(meta, self.clock()):
            return self.build(issuer_id, scope)
        with self._cache_lock:
            cached = self._cache.get((issuer_id, scope))
        if cached is None or cached.number != meta.number:
            cached = self._load(issuer_id, scope, meta.number)
            if cached is None:  # pruned between the two reads: build afresh
                return self.build(issuer_id, scope)
            with self._cache_lock:
                self._cache[(issuer_id, scope)] = cached
            self.copies.keep(issuer_id, scope, cached.number, cached.der)
        return cached

    def refresh(self) -> int:
        """Rebuild every CRL that is missing or past half its validity; return how many."""
        built = 0
        now = self.clock()
        self.urls.settle(now)
        for issuer_id in self.issuers:
            for scope in self.scopes(issuer_id, now):
                meta = self._latest_meta(issuer_id, scope)
                if meta is None or self._stale(meta, now):
                    self.build(issuer_id, scope)
                    built += 1
        return built


def _as_stored(row: Crl) -> StoredCrl:
    return StoredCrl(
        scope=row.scope,
        number=row.number,
        this_update=row.this_update,
        next_update=row.next_update,
        der=row.der,
        entries=row.entries,
    )
