"""Issuance core, CRLs and OCSP on SQLite and PostgreSQL; pkilint shows nothing above INFO."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ceremony.audit.eventlog import Actor, check_chain
from ceremony.errors import InputError, PolicyError
from ceremony.online import audit, lint
from ceremony.online.issuance import UnknownCertificate
from ceremony.online.service import OnlineService
from tests.online.helpers import make_csr

ACTOR = Actor("tester", "api-token")


def _issue(service: OnlineService, names: list[str] | None = None) -> tuple[x509.Certificate, str]:
    pem, _ = make_csr(names or ["www.a.test", "b.test"])
    issued = service.issuance.issue_csr(pem, "tls-server", ACTOR)
    return x509.load_der_x509_certificate(issued.der), issued.serial


def test_issue_lint_verify_store_audit(service: OnlineService) -> None:
    cert, serial = _issue(service)
    ca = service.loaded.active
    cert.verify_directly_issued_by(ca.certificate)
    assert lint.lint_certificate(cert.public_bytes(serialization.Encoding.DER)) == ()
    assert cert.serial_number.bit_length() >= 64
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.a.test", "b.test"]
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    shard = cert.serial_number % ca.crl_shards
    assert cdp[0].full_name == [
        x509.UniformResourceIdentifier(service.urls.current(ca.id).crl_shard(shard))
    ]
    stored = service.issuance.get(serial.upper())
    assert stored is not None and stored.der == cert.public_bytes(serialization.Encoding.DER)
    events = list(audit.events(service.db))
    assert events[-1]["step"] == "certificate.issue"
    assert events[-1]["payload"]["serial"] == serial
    assert check_chain(events) == [] and audit.verify(service.db) == []


def test_refusals_are_policy_errors(service: OnlineService) -> None:
    pem, _ = make_csr(["www.example.com"])
    with pytest.raises(PolicyError, match="outside the names"):
        service.issuance.issue_csr(pem, "tls-server", ACTOR)
    with pytest.raises(InputError, match="no such profile"):
        service.issuance.issue_csr(pem, "nope", ACTOR)


def test_concurrent_issuance_keeps_audit_chain(service: OnlineService) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                _issue(service)
        except BaseException as ex:  # collected for the assertion below
            errors.append(ex)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    events = list(audit.events(service.db))
    assert [e["step"] for e in events].count("certificate.issue") == 20
    assert check_chain(events) == []


def test_revoke_rebuilds_shard_and_delta(service: OnlineService) -> None:
    ca = service.loaded.active
    cert, serial = _issue(service)
    shard = cert.serial_number % ca.crl_shards
    full_before = service.crls.current(ca.id, "full")
    service.issuance.revoke(serial, "keyCompromise", ACTOR)
    with pytest.raises(InputError, match="already revoked"):
        service.issuance.revoke(serial, "keyCompromise", ACTOR)
    with pytest.raises(UnknownCertificate):
        service.issuance.revoke("abcdef", "keyCompromise", ACTOR)
    with pytest.raises(InputError, match="reason 'cACompromise'"):
        service.issuance.revoke(serial, "cACompromise", ACTOR)

    shard_crl = x509.load_der_x509_crl(service.crls.current(ca.id, f"shard-{shard}").der)
    entry = shard_crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    idp = shard_crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical
    assert shard_crl.is_signature_valid(ca.public_key)

    delta = x509.load_der_x509_crl(service.crls.current(ca.id, "delta").der)
    ind = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert ind.critical and ind.value.crl_number == full_before.number
    assert delta.get_revoked_certificate_by_serial_number(cert.serial_number) is not None

    other = (shard + 1) % ca.crl_shards
    assert len(x509.load_der_x509_crl(service.crls.current(ca.id, f"shard-{other}").der)) == 0

    full = x509.load_der_x509_crl(service.crls.build(ca.id, "full").der)
    assert full.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    numbers = [full_before.number, service.crls.current(ca.id, "delta").number]
    assert full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > max(numbers)
    fresh = full.extensions.get_extension_for_class(x509.FreshestCRL).value
    delta_url = service.urls.current(ca.id).crl_delta
    assert fresh[0].full_name == [x509.UniformResourceIdentifier(delta_url)]

    for scope in ("full", "delta", f"shard-{shard}", f"shard-{other}"):
        assert lint.lint_crl(service.crls.current(ca.id, scope).der) == (), scope
    assert [e["step"] for e in audit.events(service.db)][-1] == "certificate.revoke"


def test_crl_refreshed_after_half_validity(service: OnlineService) -> None:
    ca = service.loaded.active
    first = service.crls.current(ca.id, "shard-0")
    assert service.crls.current(ca.id, "shard-0").number == first.number
    real = service.crls.clock
    service.crls.clock = lambda: real() + service.crls.settings.validity / 2 + timedelta(minutes=1)
    assert service.crls.current(ca.id, "shard-0").number == first.number + 1
    assert service.crls.refresh() == len(("full", "delta")) + ca.crl_shards - 1


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bool) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce:
        b = b.add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def test_ocsp_good_revoked_unknown(service: OnlineService) -> None:
    ca = service.loaded.active
    cert, serial = _issue(service)
    der = service.ocsp.respond(_ocsp_request(cert, ca.certificate, nonce=False))
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert lint.lint_ocsp_response(der) == ()
    service.issuance.revoke(serial, "superseded", ACTOR)
    der = service.ocsp.respond(_ocsp_request(cert, ca.certificate, nonce=True))
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason == x509.ReasonFlags.superseded
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == (
        b"0123456789abcdef"
    )
    assert lint.lint_ocsp_response(der) == ()
    # unknown serial under our issuer
    fake = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(cert.public_key())
        .serial_number(12345)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .sign(ca.throwaway_key, hashes.SHA256())
    )
    resp = ocsp.load_der_ocsp_response(
        service.ocsp.respond(_ocsp_request(fake, ca.certificate, nonce=False))
    )
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    assert (
        ocsp.load_der_ocsp_response(service.ocsp.respond(b"garbage")).response_status
        == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )
