"""OCSP responder (RFC 6960): GET and POST, responses signed by the issuing CA ahead of
time (CFSSL's ``ocsprefresh`` model), so that answering is a lookup.

- A revocation signs the certificate's ``revoked`` responses (SHA-1 and SHA-256 CertIDs)
  at once and stores them in ``ocsp_responses``; the first request for a certificate
  without a stored response signs and stores its ``good`` one. Every process answers
  from that table, so a revocation in one worker is what the others serve too.
- :meth:`OcspResponder.refresh` (the maintenance thread) re-signs stored responses past
  half their validity, so none is served near or past its ``nextUpdate``.
- Each process keeps the answers it gave in memory, keyed by the request's bytes, for
  ``cache_seconds`` (bounded in number): a repeated request is answered on the event loop
  (:meth:`OcspResponder.cached`) without parsing it. A local revocation drops the
  certificate's entries; other processes' copies expire within ``cache_seconds`` (the
  CRLs are rebuilt at once and stay the primary revocation channel).
- A request with a nonce is signed on demand (the nonce is echoed) and never stored.
- Unknown serials are answered ``unknown``, signed on demand, never stored.

The issuer name and key hashes of every issuer are computed once, at start.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import cast
from urllib.parse import unquote

from asn1crypto.keys import PublicKeyInfo
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import Table, and_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ceremony.errors import FaultError
from ceremony.online.db.engine import Database
from ceremony.online.db.models import Certificate, OcspResponse, Revocation
from ceremony.online.issuance import Clock, serial_hex
from ceremony.online.issuer import IssuingCa
from ceremony.online.metrics import REGISTRY
from ceremony.online.reasons import crl_flag

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
PRESIGNED = ("sha1", "sha256")
"""CertID hashes signed ahead of time (what openssl, browsers and Go clients send)."""
REFRESH_BATCH = 1000
OUTAGE_LOG_SECONDS = 60.0
log = logging.getLogger("ceremony.online.ocsp")
RESPONSES = cast(Table, OcspResponse.__table__)
CERTIFICATES = cast(Table, Certificate.__table__)
REVOCATIONS = cast(Table, Revocation.__table__)


@dataclass(frozen=True)
class OcspSettings:
    validity: timedelta = timedelta(hours=24)
    cache_seconds: float = 60.0
    cache_entries: int = 100_000
    """Most responses one process keeps in memory."""


def _issuer_hashes(issuer: IssuingCa, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    name_hash = hashes.Hash(algorithm)
    name_hash.update(issuer.certificate.subject.public_bytes())
    key_hash = hashes.Hash(algorithm)
    spki = issuer.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # issuerKeyHash covers the subjectPublicKey BIT STRING value only (RFC 6960 4.1.1).
    key_hash.update(_spki_bit_string(spki))
    return name_hash.finalize(), key_hash.finalize()


def _spki_bit_string(spki_der: bytes) -> bytes:
    """The subjectPublicKey bits (without the unused-bits octet) of a DER SPKI."""
    info = PublicKeyInfo.load(spki_der)
    bits: bytes = info["public_key"].contents[1:]
    return bits


@dataclass(frozen=True)
class _Status:
    label: str  # good | revoked | unknown
    revoked_at: datetime | None = None
    reason: str | None = None


class OcspResponder:
    """Answers OCSP requests for the issuers it holds keys for."""

    def __init__(
        self,
        db: Database,
        issuers: dict[str, IssuingCa],
        clock: Clock,
        settings: OcspSettings | None = None,
    ) -> None:
        self.db = db
        self.issuers = issuers
        self.clock = clock
        self.settings = settings or OcspSettings()
        self._lock = threading.Lock()
        self._outage_logged = -OUTAGE_LOG_SECONDS
        # request bytes -> (expiry on the monotonic clock, response, (issuer id, serial))
        self._answers: OrderedDict[bytes, tuple[float, bytes, tuple[str, str]]] = OrderedDict()
        self._by_cert: dict[tuple[str, str], set[bytes]] = {}
        self._hash_index: dict[tuple[str, bytes, bytes], IssuingCa] = {}
        self._hashes: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        for issuer in issuers.values():
            for alg_name, alg in _HASHES.items():
                nh, kh = _issuer_hashes(issuer, alg())
                self._hash_index[(alg_name, nh, kh)] = issuer
                self._hashes[(issuer.id, alg_name)] = (nh, kh)
        self._insert = (
            sqlite_insert(RESPONSES) if db.url.is_sqlite else postgresql_insert(RESPONSES)
        )

    # --- answering ------------------------------------------------------------------

    def cached(self, request_der: bytes) -> bytes | None:
        """The answer given to these exact request bytes within ``cache_seconds``, if any
        (no parsing, no lock wait worth the name: safe on the event loop)."""
        with self._lock:
            hit = self._answers.get(request_der)
        if hit is None or hit[0] <= monotonic():
            return None
        REGISTRY.inc("ceremony_online_ocsp_responses_total", status="cached")
        return hit[1]

    def respond_get(self, path_b64: str) -> bytes:
        try:
            data = base64.b64decode(unquote(path_b64), validate=False)
        except ValueError:
            return self._unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        return self.respond(data)

    def respond(self, request_der: bytes) -> bytes:
        hit = self.cached(request_der)
        if hit is not None:
            return hit
        try:
            req = ocsp.load_der_ocsp_request(request_der)
            alg_name = req.hash_algorithm.name
            key = (alg_name, req.issuer_name_hash, req.issuer_key_hash)
            serial = req.serial_number
            nonce = _nonce(req)
        except Exception:  # any undecodable request is malformedRequest, never a 500
            return self._unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        issuer = self._hash_index.get(key)
        if issuer is None:
            return self._unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        s = serial_hex(serial)
        try:
            if nonce is not None:
                status = self._status(issuer, s)
                der, _next = self._sign(issuer, s, alg_name, status, self.clock(), nonce)
                return der
            stored = self._stored(issuer, s, alg_name)
            if stored is None:
                status = self._status(issuer, s)
                now = self.clock()
                stored, next_update = self._sign(issuer, s, alg_name, status, now, None)
                if status.label != "unknown":
                    self._store(issuer.id, s, alg_name, status.label, now, next_update, stored)
        except FaultError as ex:  # the database is down: the client is to ask again later
            self._outage(ex.message)
            return self._unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
        self._remember(request_der, stored, (issuer.id, s))
        return stored

    def _outage(self, reason: str) -> None:
        """One log line a minute while the database cannot be reached."""
        with self._lock:
            if monotonic() - self._outage_logged < OUTAGE_LOG_SECONDS:
                return
            self._outage_logged = monotonic()
        log.warning("ocsp: %s; answering tryLater", reason)

    def _remember(self, request_der: bytes, der: bytes, cert: tuple[str, str]) -> None:
        with self._lock:
            self._answers[request_der] = (monotonic() + self.settings.cache_seconds, der, cert)
            self._by_cert.setdefault(cert, set()).add(request_der)
            while len(self._answers) > self.settings.cache_entries:
                old, (_t, _d, old_cert) = self._answers.popitem(last=False)
                keys = self._by_cert.get(old_cert)
                if keys is not None:
                    keys.discard(old)
                    if not keys:
                        del self._by_cert[old_cert]

    def forget(self, issuer_id: str, _shard: int = 0, serial: str | None = None) -> None:
        """Drop what this process remembers of a certificate (or of an issuer)."""
        with self._lock:
            certs = (
                [(issuer_id, serial)]
                if serial is not None
                else [c for c in self._by_cert if c[0] == issuer_id]
            )
            for cert in certs:
                for request_der in self._by_cert.pop(cert, ()):
                    self._answers.pop(request_der, None)

    # --- the stored responses -----------------------------------------------------------

    def _stored(self, issuer: IssuingCa, serial: str, alg_name: str) -> bytes | None:
        """A stored response still in the first half of its validity."""
        fresh_after = self.clock() + self.settings.validity / 2
        with self.db.read() as session:
            der = session.execute(
                select(RESPONSES.c.der).where(
                    RESPONSES.c.issuer_id == issuer.id,
                    RESPONSES.c.serial == serial,
                    RESPONSES.c.hash_algorithm == alg_name,
                    RESPONSES.c.next_update > fresh_after,
                )
            ).scalar_one_or_none()
        return cast(bytes | None, der)

    def _store(
        self,
        issuer_id: str,
        serial: str,
        alg_name: str,
        status: str,
        this_update: datetime,
        next_update: datetime,
        der: bytes,
        session: Session | None = None,
    ) -> None:
        row = {
            "issuer_id": issuer_id,
            "serial": serial,
            "hash_algorithm": alg_name,
            "status": status,
            "this_update": this_update,
            "next_update": next_update,
            "der": der,
        }
        stmt = self._insert.values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[RESPONSES.c.issuer_id, RESPONSES.c.serial, RESPONSES.c.hash_algorithm],
            set_={k: stmt.excluded[k] for k in ("status", "this_update", "next_update", "der")},
            where=RESPONSES.c.this_update < stmt.excluded.this_update,
        )
        if session is not None:
            session.execute(stmt)
            return
        with self.db.write() as s:
            s.execute(stmt)

    def _status(self, issuer: IssuingCa, serial: str) -> _Status:
        with self.db.read() as session:
            row = session.execute(
                select(CERTIFICATES.c.revoked, REVOCATIONS.c.revoked_at, REVOCATIONS.c.reason)
                .select_from(CERTIFICATES)
                .outerjoin(REVOCATIONS, REVOCATIONS.c.certificate_id == CERTIFICATES.c.id)
                .where(CERTIFICATES.c.serial == serial, CERTIFICATES.c.issuer_id == issuer.id)
            ).one_or_none()
        if row is None:
            return _Status("unknown")
        if row.revoked and row.revoked_at is not None:
            return _Status("revoked", row.revoked_at, row.reason)
        return _Status("good")

    def on_revoked(self, issuer_id: str, serial: str) -> None:
        """Revocation hook: sign and store the certificate's ``revoked`` responses now."""
        self.forget(issuer_id, serial=serial)
        issuer = self.issuers.get(issuer_id)
        if issuer is None:
            return
        status = self._status(issuer, serial)
        now = self.clock()
        signed = [(alg, *self._sign(issuer, serial, alg, status, now, None)) for alg in PRESIGNED]
        with self.db.write() as session:
            for alg, der, next_update in signed:
                self._store(issuer_id, serial, alg, status.label, now, next_update, der, session)

    def refresh(self, batch: int = REFRESH_BATCH) -> int:
        """Re-sign stored responses past half their validity (oldest first, at most
        ``batch``); return how many. Run by the maintenance thread."""
        now = self.clock()
        due = now + self.settings.validity / 2
        with self.db.read() as session:
            rows = session.execute(
                select(RESPONSES.c.issuer_id, RESPONSES.c.serial, RESPONSES.c.hash_algorithm)
                .where(RESPONSES.c.next_update <= due)
                .order_by(RESPONSES.c.next_update)
                .limit(batch)
            ).all()
        done = 0
        for issuer_id, serial, alg_name in rows:
            issuer = self.issuers.get(issuer_id)
            if issuer is None:
                continue
            status = self._status(issuer, serial)
            der, next_update = self._sign(issuer, serial, alg_name, status, now, None)
            with self.db.write() as session:
                session.execute(
                    update(RESPONSES)
                    .where(
                        and_(
                            RESPONSES.c.issuer_id == issuer_id,
                            RESPONSES.c.serial == serial,
                            RESPONSES.c.hash_algorithm == alg_name,
                            RESPONSES.c.next_update <= due,  # not refreshed meanwhile
                        )
                    )
                    .values(status=status.label, this_update=now, next_update=next_update, der=der)
                )
            done += 1
        return done

    # --- signing --------------------------------------------------------------------

    def _sign(
        self,
        issuer: IssuingCa,
        serial: str,
        alg_name: str,
        status: _Status,
        now: datetime,
        nonce: bytes | None,
    ) -> tuple[bytes, datetime]:
        name_hash, key_hash = self._hashes[(issuer.id, alg_name)]
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[status.label]
        next_update = now + self.settings.validity
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=name_hash,
                issuer_key_hash=key_hash,
                serial_number=int(serial, 16),
                algorithm=_HASHES[alg_name](),
                cert_status=cert_status,
                this_update=now,
                next_update=next_update,
                revocation_time=status.revoked_at,
                revocation_reason=crl_flag(status.reason) if status.reason else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        resp = issuer.sign_ocsp(builder)
        REGISTRY.inc("ceremony_online_ocsp_responses_total", status=status.label)
        return resp.public_bytes(serialization.Encoding.DER), next_update

    def _unsuccessful(self, status: ocsp.OCSPResponseStatus) -> bytes:
        REGISTRY.inc("ceremony_online_ocsp_responses_total", status=status.name.lower())
        return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
            serialization.Encoding.DER
        )


def _nonce(req: ocsp.OCSPRequest) -> bytes | None:
    try:
        return req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
