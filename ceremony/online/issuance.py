"""The issuance core: approve a CSR against a profile, lint, sign, store, audit.

Order of work for one certificate (Boulder's lint-before-sign):

1. the profile's policy approves the CSR (names, key type, lifetime);
2. a random serial (159 bits from the OS CSPRNG) fixes the CRL shard;
3. the TBS is checked by the profile's pre-issuance lint, on a copy signed
   with a throwaway key of the issuer's key type (for the template check, which
   reads the TBS alone, a copy with a placeholder signature, no key used;
   :mod:`ceremony.online.prelint`: ``template``, ``always``, ``sampled`` or
   ``off``); a finding refuses the request;
4. the issuing key signs the same builder; the signature is verified
   against the issuer certificate and the TBS compared byte for byte with
   the linted one;
5. the certificate and its audit record commit in one transaction, and only
   then is it returned: a client never holds a certificate the database
   does not know. Concurrent issuances of a process share that transaction
   (:class:`GroupCommit`): one commit, one fsync, for all of them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from time import perf_counter
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ceremony.audit.eventlog import Actor, utc_now
from ceremony.errors import FaultError, InputError, PolicyError
from ceremony.online import audit
from ceremony.online.db.engine import Database
from ceremony.online.db.models import AuditPending, Certificate, Revocation
from ceremony.online.issuer import IssuingCa, spki_sha256
from ceremony.online.metrics import REGISTRY
from ceremony.online.policy import ApprovedRequest, approve, parse_csr
from ceremony.online.prelint import PreIssuanceLint
from ceremony.online.profiles import Profile
from ceremony.online.reasons import check_reason
from ceremony.online.signing import BadSignature
from ceremony.online.urls import IssuerUrls, NoUrls, UrlBook

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the service issued (and stored)."""

    serial: str
    profile: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    der: bytes
    chain_pem: bytes
    revoked: bool = False

    @property
    def pem(self) -> bytes:
        cert = x509.load_der_x509_certificate(self.der)
        return cert.public_bytes(serialization.Encoding.PEM)

    @property
    def full_chain_pem(self) -> bytes:
        return self.pem + self.chain_pem

    def as_dict(self) -> dict[str, object]:
        return {
            "serial": self.serial,
            "profile": self.profile,
            "names": list(self.names),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "status": "revoked" if self.revoked else "valid",
            "certificate": self.pem.decode(),
            "chain": self.chain_pem.decode(),
        }


class UnknownCertificate(InputError):
    """No certificate with that serial (or none the caller may see)."""


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def normalize_serial(text: str) -> str:
    """Accept ``0A:1b``, ``0a1b`` or ``a1b``; return lower-case hex without leading zeros."""
    t = text.strip().lower().replace(":", "")
    if not t or len(t) > 48 or any(c not in "0123456789abcdef" for c in t):
        raise InputError(f"serial {text!r}: not a hexadecimal serial number")
    return t.lstrip("0") or "0"


def _stored(row: Certificate, chain_pem: bytes) -> IssuedCertificate:
    return IssuedCertificate(
        serial=row.serial,
        profile=row.profile,
        names=tuple(json.loads(row.names)),
        not_before=row.not_before,
        not_after=row.not_after,
        der=row.der,
        chain_pem=chain_pem,
        revoked=row.revoked,
    )


@dataclass(frozen=True)
class Revoked:
    """What a revocation hook is told: which certificate, and which CRL holds it."""

    issuer_id: str
    serial: str
    shard: int
    url_generation: int


RevokedHook = Callable[[Revoked], None]
# Core inserts of plain rows: the commit holds the database's write lock, and the ORM's
# unit of work would spend that time (and the process's GIL) on bookkeeping.
_CERTIFICATES = cast(Table, Certificate.__table__)
_AUDIT_PENDING = cast(Table, AuditPending.__table__)
_INSERT_CERTIFICATES = insert(_CERTIFICATES)
_INSERT_AUDIT_PENDING = insert(_AUDIT_PENDING)


@dataclass(eq=False)
class _Rows:
    """One issuance's ``certificates`` row and ``audit_pending`` row, and its outcome."""

    certificate: dict[str, Any]
    audit: dict[str, str]
    done: bool = False
    committed: bool = False
    error: BaseException | None = field(default=None, repr=False)


class GroupCommit:
    """Commit concurrent issuances of this process together (group commit).

    Each issuing thread queues its rows and waits for the commit slot; the
    thread that holds it opens a write transaction, and once the database's
    write lock is held (SQLite: this process's turn among the processes,
    then ``BEGIN IMMEDIATE``) takes every queued issuance into it, so that
    one transaction carries all that arrived while it waited. A certificate
    is always in the same transaction as its audit record, and each waiting
    thread returns only once its own rows are committed; a thread whose rows
    an earlier holder committed returns at once. One commit (one fsync on
    SQLite, one round trip on PostgreSQL) then serves many certificates.

    A failed batch is retried one issuance per transaction, so that only an
    issuance whose own rows fail (a serial collision) sees the error.
    """

    def __init__(self, db: Database, max_batch: int = 256) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[_Rows] = []
        self._queue_lock = threading.Lock()
        self._slot = threading.Lock()

    def commit(self, rows: _Rows) -> None:
        """Return when ``rows`` are committed; raise what their transaction raised."""
        with self._queue_lock:
            self._queue.append(rows)
        with self._slot:
            while not rows.done:
                self._commit_queued()
        if not rows.committed:
            raise rows.error or FaultError("issuance: the certificate's commit did not complete")

    def _take(self) -> list[_Rows]:
        with self._queue_lock:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
        return batch

    def _commit_queued(self) -> None:
        batch: list[_Rows] = []
        try:
            with self.db.write_core() as conn:  # the write lock is held from here on
                batch = self._take()
                self._insert(conn, batch)
            for rows in batch:
                rows.committed = True
        except IntegrityError as ex:
            if len(batch) == 1:
                batch[0].error = ex
            else:
                for rows in batch:
                    try:
                        with self.db.write_core() as conn:
                            self._insert(conn, [rows])
                        rows.committed = True
                    except Exception as one:  # handed to its own thread
                        rows.error = one
        except Exception as ex:  # every waiting thread raises it
            batch = batch or self._take()  # failed before taking: fail those queued now
            for rows in batch:
                rows.error = ex
        finally:
            for rows in batch:  # rows neither committed nor failed raise FaultError
                rows.done = True

    @staticmethod
    def _insert(conn: Connection, batch: list[_Rows]) -> None:
        conn.execute(_INSERT_CERTIFICATES, [r.certificate for r in batch])
        conn.execute(_INSERT_AUDIT_PENDING, [r.audit for r in batch])


class IssuanceService:
    """Issue, look up and revoke certificates of one issuing CA."""

    def __init__(
        self,
        db: Database,
        issuer: IssuingCa,
        profiles: dict[str, Profile],
        urls: UrlBook,
        clock: Clock = utc_now,
        on_revoked: Sequence[RevokedHook] = (),
    ) -> None:
        self.db = db
        self.issuer = issuer
        self.profiles = profiles
        self.urls = urls
        self.clock = clock
        self.on_revoked = list(on_revoked)
        self.lint = PreIssuanceLint(db, issuer, clock)
        self._commits = GroupCommit(db)

    def prepare(self) -> None:
        """Lint every profile's template now (refusing the start on a finding), if the
        issuer's URLs are recorded; otherwise that happens at the first issuance."""
        try:
            urls = self.urls.current(self.issuer.id)
        except NoUrls:
            return
        self.lint.prepare(self.profiles, urls)

    def close(self) -> None:
        self.lint.close()

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise InputError(
                f"profile {name!r}: no such profile ({', '.join(sorted(self.profiles))})"
            ) from None

    def issue_csr(
        self,
        csr_data: bytes | x509.CertificateSigningRequest,
        profile_name: str,
        requester: Actor,
        ttl_hours: int | None = None,
        extra_audit: dict[str, object] | None = None,
        order_ref: str | None = None,
    ) -> IssuedCertificate:
        """Approve ``csr_data`` against the profile and issue; PolicyError when refused.
        ``order_ref`` is stored with the certificate (see ``Certificate.order_ref``)."""
        start = perf_counter()
        profile = self.profile(profile_name)
        try:
            csr = (
                csr_data
                if isinstance(csr_data, x509.CertificateSigningRequest)
                else parse_csr(csr_data)
            )
            request = approve(profile, csr, ttl_hours)
            issued = self.issue(request, requester, extra_audit or {}, order_ref)
        except PolicyError:
            REGISTRY.inc("ceremony_online_refused_total", profile=profile.name)
            raise
        REGISTRY.observe("ceremony_online_issue_seconds", perf_counter() - start)
        return issued

    def issue(
        self,
        request: ApprovedRequest,
        requester: Actor,
        extra_audit: dict[str, object],
        order_ref: str | None = None,
    ) -> IssuedCertificate:
        urls = self.urls.current(self.issuer.id)
        for _attempt in range(3):
            now = self.clock()
            serial = x509.random_serial_number()
            cert = self._sign(request, serial, now, urls)
            try:
                return self._store(request, cert, requester, now, extra_audit, urls, order_ref)
            except IntegrityError:
                continue  # a serial collision (2^-159): draw again
        raise FaultError("issuance: could not store the certificate (serial collisions)")

    def _sign(
        self, request: ApprovedRequest, serial: int, now: datetime, urls: IssuerUrls
    ) -> x509.Certificate:
        builder = self.issuer.builder(request, serial, now, urls)
        linted: x509.Certificate | None = None
        if request.profile.lint == "always":
            linted = self.issuer.sign_lint_copy(builder)
            self.lint.check(request, linted, urls)
        elif request.profile.lint != "off":  # the template reads the TBS alone
            linted = self.issuer.tbs_copy(builder)
            self.lint.check(request, linted, urls, lambda: self.issuer.sign_lint_copy(builder))
        t0 = perf_counter()
        try:
            cert = self.issuer.sign(builder)  # the signature is verified as it is made
        except BadSignature as ex:
            raise FaultError(f"issuance: {ex.message}") from ex
        REGISTRY.observe("ceremony_online_sign_seconds", perf_counter() - t0)
        if linted is not None and linted.tbs_certificate_bytes != cert.tbs_certificate_bytes:
            raise FaultError("issuance: the signed TBS differs from the linted TBS")
        return cert

    def _store(
        self,
        request: ApprovedRequest,
        cert: x509.Certificate,
        requester: Actor,
        now: datetime,
        extra_audit: dict[str, object],
        urls: IssuerUrls,
        order_ref: str | None = None,
    ) -> IssuedCertificate:
        serial = serial_hex(cert.serial_number)
        der = cert.public_bytes(serialization.Encoding.DER)
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        names = list(request.names)
        rows = _Rows(
            certificate={
                "serial": serial,
                "issuer_id": self.issuer.id,
                "profile": request.profile.name,
                "subject": cert.subject.rfc4514_string(),
                "names": json.dumps(names),
                "not_before": not_before,
                "not_after": not_after,
                "shard": self.issuer.shard_of(cert.serial_number),
                "url_generation": urls.generation,
                "der": der,
                "spki_sha256": spki_sha256(request.public_key),
                "requester": f"{requester.role}:{requester.name}"[:128],
                "revoked": False,
                "created_at": now,
                "order_ref": order_ref,
            },
            audit=audit.pending_row(
                "certificate.issue",
                requester,
                {
                    "serial": serial,
                    "issuer": self.issuer.id,
                    "profile": request.profile.name,
                    "names": names,
                    "not_after": not_after.isoformat(),
                    "sha256": _sha256(der),
                    **extra_audit,
                },
                now,
            ),
        )
        self._commits.commit(rows)
        REGISTRY.inc("ceremony_online_issued_total", profile=request.profile.name)
        return IssuedCertificate(
            serial=serial,
            profile=request.profile.name,
            names=tuple(names),
            not_before=not_before,
            not_after=not_after,
            der=der,
            chain_pem=self.issuer.chain_pem,
        )

    def get(self, serial: str) -> IssuedCertificate | None:
        s = normalize_serial(serial)
        with self.db.read() as session:
            row = session.execute(
                select(Certificate).where(Certificate.serial == s)
            ).scalar_one_or_none()
        return None if row is None else _stored(row, self.issuer.chain_pem)

    def revoke(
        self,
        serial: str,
        reason: str,
        requester: Actor,
        allowed: Callable[[Certificate], bool] = lambda _row: True,
    ) -> IssuedCertificate:
        """Revoke one certificate; InputError if unknown, already revoked or not ``allowed``."""
        s = normalize_serial(serial)
        check_reason(reason)
        now = self.clock()
        with self.db.write() as session:
            row = _lock_certificate(session, s)
            if row is None or not allowed(row):
                raise UnknownCertificate(f"serial {s}: no such certificate")
            if row.revoked:
                raise InputError(f"serial {s}: already revoked")
            row.revoked = True
            session.add(
                Revocation(
                    certificate_id=row.id,
                    issuer_id=row.issuer_id,
                    serial=row.serial,
                    shard=row.shard,
                    url_generation=row.url_generation,
                    not_after=row.not_after,
                    reason=reason,
                    revoked_at=now,
                    requester=f"{requester.role}:{requester.name}"[:128],
                )
            )
            audit.append(
                session,
                "certificate.revoke",
                requester,
                {"serial": s, "issuer": row.issuer_id, "reason": reason},
                now,
            )
            event = Revoked(row.issuer_id, row.serial, row.shard, row.url_generation)
            result = _stored(row, self.issuer.chain_pem)
        REGISTRY.inc("ceremony_online_revoked_total", reason=reason)
        for hook in self.on_revoked:
            hook(event)
        return result


def _lock_certificate(session: Session, serial: str) -> Certificate | None:
    return session.execute(
        select(Certificate).where(Certificate.serial == serial).with_for_update()
    ).scalar_one_or_none()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
