"""OCSP responder (RFC 6960): GET and POST, responses signed by the issuing CA.

Signed responses are cached per (issuer, serial) for ``cache_seconds``
unless the request carries a nonce (then the nonce is echoed and the
response is not cached). A local revocation drops the cached entry; other
processes' caches expire within ``cache_seconds`` (the CRLs are rebuilt at
once and stay the primary revocation channel).
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic
from urllib.parse import unquote

from asn1crypto.keys import PublicKeyInfo
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import select

from ceremony.online.db.engine import Database
from ceremony.online.db.models import Certificate, Revocation
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


@dataclass(frozen=True)
class OcspSettings:
    validity: timedelta = timedelta(hours=24)
    cache_seconds: float = 60.0


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
        self._cache: dict[tuple[str, str], tuple[float, bytes]] = {}
        self._lock = threading.Lock()
        self._hash_index: dict[tuple[str, bytes, bytes], IssuingCa] = {}
        for issuer in issuers.values():
            for alg_name, alg in _HASHES.items():
                nh, kh = _issuer_hashes(issuer, alg())
                self._hash_index[(alg_name, nh, kh)] = issuer

    def forget(self, issuer_id: str, _shard: int = 0, serial: str | None = None) -> None:
        with self._lock:
            if serial is None:
                self._cache = {k: v for k, v in self._cache.items() if k[0] != issuer_id}
            else:
                self._cache.pop((issuer_id, serial), None)

    def respond_get(self, path_b64: str) -> bytes:
        try:
            data = base64.b64decode(unquote(path_b64), validate=False)
        except ValueError:
            return self._unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        return self.respond(data)

    def respond(self, request_der: bytes) -> bytes:
        try:
            req = ocsp.load_der_ocsp_request(request_der)
            alg_name = req.hash_algorithm.name
            key = (alg_name, req.issuer_name_hash, req.issuer_key_hash)
            serial = req.serial_number
            nonce = _nonce(req)
        except (ValueError, x509.UnsupportedGeneralNameType, x509.DuplicateExtension):
            return self._unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        except Exception:
            return self._unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        issuer = self._hash_index.get(key)
        if issuer is None:
            return self._unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        s = serial_hex(serial)
        cache_key = (issuer.id, s)
        if nonce is None:
            with self._lock:
                hit = self._cache.get(cache_key)
            if hit is not None and hit[0] > monotonic():
                REGISTRY.inc("ceremony_online_ocsp_responses_total", status="cached")
                return hit[1]
        der = self._sign(issuer, s, serial, req.hash_algorithm, nonce)
        if nonce is None:
            with self._lock:
                self._cache[cache_key] = (monotonic() + self.settings.cache_seconds, der)
        return der

    def _sign(
        self,
        issuer: IssuingCa,
        serial_text: str,
        serial: int,
        algorithm: hashes.HashAlgorithm,
        nonce: bytes | None,
    ) -> bytes:
        with self.db.read() as session:
            cert_row = session.execute(
                select(Certificate.der, Certificate.revoked, Certificate.id).where(
                    Certificate.serial == serial_text, Certificate.issuer_id == issuer.id
                )
            ).one_or_none()
            revocation = None
            if cert_row is not None and cert_row.revoked:
                revocation = session.execute(
                    select(Revocation).where(Revocation.certificate_id == cert_row.id)
                ).scalar_one_or_none()
        now = self.clock()
        builder = ocsp.OCSPResponseBuilder()
        reason = None
        if cert_row is None:
            status = ocsp.OCSPCertStatus.UNKNOWN
            label = "unknown"
        elif revocation is not None:
            status = ocsp.OCSPCertStatus.REVOKED
            reason = crl_flag(revocation.reason)
            label = "revoked"
        else:
            status = ocsp.OCSPCertStatus.GOOD
            label = "good"
        name_hash, key_hash = _issuer_hashes(issuer, algorithm)
        builder = builder.add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + self.settings.validity,
            revocation_time=revocation.revoked_at if revocation is not None else None,
            revocation_reason=reason,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        resp = issuer.sign_ocsp(builder)
        REGISTRY.inc("ceremony_online_ocsp_responses_total", status=label)
        return resp.public_bytes(serialization.Encoding.DER)

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
