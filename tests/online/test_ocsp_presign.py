"""OCSP answers are looked up, not signed per request: a revocation signs the revoked
responses at once for every process, stored responses are re-signed before their
nextUpdate, and a repeated request is answered on the event loop from memory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import select

from ceremony.audit.eventlog import Actor
from ceremony.online import app as app_module
from ceremony.online import ocsp as ocsp_module
from ceremony.online.app import create_app
from ceremony.online.db.models import OcspResponse
from ceremony.online.ocsp import OcspResponder, OcspSettings
from ceremony.online.service import OnlineService
from tests.online.helpers import make_csr

ADMIN = Actor("test", "admin")


def _issue(service: OnlineService, name: str = "ocsp.a.test") -> x509.Certificate:
    pem, _ = make_csr([name])
    issued = service.issuance.issue_csr(pem, "tls-server", ADMIN)
    return x509.load_der_x509_certificate(issued.der)


def _request(
    cert: x509.Certificate, issuer: x509.Certificate, alg: hashes.HashAlgorithm | None = None
) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, alg or hashes.SHA1())
    return b.build().public_bytes(serialization.Encoding.DER)


def _stored(service: OnlineService, serial: int) -> dict[str, tuple[str, bytes]]:
    with service.db.read() as session:
        rows = session.execute(
            select(OcspResponse.hash_algorithm, OcspResponse.status, OcspResponse.der).where(
                OcspResponse.serial == format(serial, "x")
            )
        ).all()
    return {alg: (status, der) for alg, status, der in rows}


def _other_process(service: OnlineService, clock: Any = None) -> OcspResponder:
    return OcspResponder(service.db, service.loaded.all, clock or service.clock)


def test_revocation_presigns_what_every_process_serves(service: OnlineService) -> None:
    ca = service.loaded.active.certificate
    cert = _issue(service)
    service.issuance.revoke(format(cert.serial_number, "x"), "keyCompromise", ADMIN)
    stored = _stored(service, cert.serial_number)
    assert {alg: status for alg, (status, _der) in stored.items()} == {
        "sha1": "revoked",
        "sha256": "revoked",
    }
    other = _other_process(service)
    for alg, name in ((hashes.SHA1(), "sha1"), (hashes.SHA256(), "sha256")):
        der = other.respond(_request(cert, ca, alg))
        assert der == stored[name][1]  # the stored bytes: looked up, not signed again
        resp = ocsp.load_der_ocsp_response(der)
        assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert resp.revocation_reason == x509.ReasonFlags.key_compromise


def test_a_good_response_is_signed_once_and_shared(service: OnlineService) -> None:
    ca = service.loaded.active.certificate
    cert = _issue(service)
    assert _stored(service, cert.serial_number) == {}
    first = service.ocsp.respond(_request(cert, ca))
    assert _stored(service, cert.serial_number) == {"sha1": ("good", first)}
    assert _other_process(service).respond(_request(cert, ca)) == first


def test_stored_responses_are_resigned_before_next_update(service: OnlineService) -> None:
    ca = service.loaded.active.certificate
    cert = _issue(service)
    first = service.ocsp.respond(_request(cert, ca))
    validity = OcspSettings().validity
    later = datetime.now(UTC) + validity / 2 + timedelta(minutes=1)
    stale_view = _other_process(service, clock=lambda: later)
    assert stale_view.refresh() == 1
    assert stale_view.refresh() == 0
    refreshed = _stored(service, cert.serial_number)["sha1"][1]
    assert refreshed != first
    resp = ocsp.load_der_ocsp_response(refreshed)
    assert resp.next_update_utc is not None and resp.next_update_utc > later + validity / 2
    assert _other_process(service, clock=lambda: later).respond(_request(cert, ca)) == refreshed
    # a process whose refresher has not run yet never serves a response past half its life
    much_later = later + validity / 2 + timedelta(minutes=1)
    fresh = _other_process(service, clock=lambda: much_later).respond(_request(cert, ca))
    assert fresh != refreshed
    assert ocsp.load_der_ocsp_response(fresh).this_update_utc >= much_later - timedelta(seconds=1)


def test_memory_is_bounded_and_unknown_serials_are_not_stored(service: OnlineService) -> None:
    issuer = service.loaded.active
    responder = OcspResponder(
        service.db, service.loaded.all, service.clock, OcspSettings(cache_entries=10)
    )
    template = _issue(service)
    for i in range(30):
        fake = (
            x509.CertificateBuilder()
            .subject_name(template.subject)
            .issuer_name(issuer.certificate.subject)
            .public_key(template.public_key())
            .serial_number(1000 + i)
            .not_valid_before(template.not_valid_before_utc)
            .not_valid_after(template.not_valid_after_utc)
            .sign(issuer.throwaway_key, hashes.SHA256())
        )
        der = responder.respond(_request(fake, issuer.certificate))
        assert ocsp.load_der_ocsp_response(der).certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    assert len(responder._answers) <= 10
    with service.db.read() as session:
        assert session.execute(select(OcspResponse.serial)).all() == []


def test_issuer_hashes_are_computed_once(
    service: OnlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = service.loaded.active.certificate
    cert = _issue(service)
    calls = []
    real = ocsp_module._issuer_hashes
    monkeypatch.setattr(ocsp_module, "_issuer_hashes", lambda *a: calls.append(a) or real(*a))
    service.issuance.revoke(format(cert.serial_number, "x"), "superseded", ADMIN)
    _other_process(service).respond(_request(cert, ca, hashes.SHA256()))
    built = len(calls)
    service.ocsp.respond(_request(cert, ca, hashes.SHA384()))
    assert len(calls) == built  # the constructor computed them; answering did not


def _post(app: Any, body: bytes) -> tuple[int, bytes]:
    """One POST /ocsp through the ASGI application, in this thread's event loop."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": "/ocsp",
        "raw_path": b"/ocsp",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/ocsp-request"),
            (b"content-length", str(len(body)).encode()),
        ],
        "server": ("127.0.0.1", 8443),
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
    }
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_a_repeated_request_is_answered_on_the_event_loop(
    service: OnlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(service)
    cert = _issue(service)
    req = _request(cert, service.loaded.active.certificate)
    status, first = _post(app, req)
    assert status == 200

    async def no_threads(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a cached OCSP answer went through the thread pool")

    monkeypatch.setattr(app_module, "run_in_threadpool", no_threads)
    assert _post(app, req) == (200, first)
