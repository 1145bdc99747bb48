"""Pre-issuance lint policies: ``template`` (the default) lints each profile's shapes once
and holds every certificate against them field by field; ``always`` lints each in full
in a process pool; ``sampled`` adds a full lint of a share and reports what it finds."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from ceremony.audit.eventlog import Actor
from ceremony.errors import ConfigError, FaultError, PolicyError
from ceremony.online import prelint
from ceremony.online.db.models import AuditEvent, AuditPending
from ceremony.online.metrics import REGISTRY
from ceremony.online.policy import ApprovedRequest
from ceremony.online.profiles import Profile
from ceremony.online.service import OnlineService
from ceremony.online.template import OutsideTemplate, TemplateFinding, Templates
from tests.online.helpers import make_csr

ADMIN = Actor("test", "admin")


def _counter(name: str, **labels: str) -> float:
    """A counter's value as ``/metrics`` shows it (0 before its first increment)."""
    for family in text_string_to_metric_families(REGISTRY.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def _request(
    service: OnlineService, names: tuple[str, ...] = ("t.a.test",), **kw: Any
) -> ApprovedRequest:
    profile = kw.pop("profile", service.issuance.profile("tls-server"))
    key = kw.pop("key", ec.generate_private_key(ec.SECP256R1()).public_key())
    fields: dict[str, Any] = {
        "profile": profile,
        "public_key": key,
        "key_type": "ecdsa-p256",
        "dns_names": names,
        "ip_addresses": (),
        "common_name": names[0] if names else None,
        "lifetime": timedelta(hours=profile.default_ttl_hours),
    }
    fields.update(kw)
    return ApprovedRequest(**fields)


def _linted(
    service: OnlineService, request: ApprovedRequest, extra: Any = None
) -> x509.Certificate:
    issuer = service.issuance.issuer
    urls = service.issuance.urls.current(issuer.id)
    builder = issuer.builder(request, x509.random_serial_number(), service.clock(), urls)
    if extra is not None:
        builder = extra(builder)
    return issuer.sign_lint_copy(builder)


def _template(service: OnlineService, profile: Profile | None = None) -> Any:
    issuance = service.issuance
    urls = issuance.urls.current(issuance.issuer.id)
    return issuance.lint.templates.get(profile or issuance.profile("tls-server"), urls)


def test_template_is_the_default_and_issuing_runs_no_pkilint(
    sqlite_service: OnlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = sqlite_service
    assert {p.lint for p in service.config.profiles.values()} == {"template"}
    assert _template(service).samples >= 10  # linted once, over the matrix
    calls: list[bytes] = []
    real = prelint.lint.lint_certificate
    monkeypatch.setattr(
        prelint.lint, "lint_certificate", lambda der: calls.append(der) or real(der)
    )
    for names in (["one.a.test"], ["*.w.a.test"], ["x.a.test", "y.a.test"], ["l" * 63 + ".a.test"]):
        pem, _ = make_csr(names)
        service.issuance.issue_csr(pem, "tls-server", ADMIN)
    pem, _ = make_csr([], ips=["127.0.0.9"])
    service.issuance.issue_csr(pem, "tls-server", ADMIN)
    assert calls == []


@pytest.mark.parametrize(
    "what",
    [
        "bad DNS syntax",
        "lifetime past the profile",
        "an extension the profile never writes",
        "a subject with an organization",
        "a key type the profile does not accept",
        "a CN that is not a SAN",
    ],
)
def test_certificates_outside_the_template_are_caught_field_by_field(
    sqlite_service: OnlineService, what: str
) -> None:
    service = sqlite_service
    tmpl = _template(service)
    extra = None
    if what == "bad DNS syntax":
        req = _request(service, ("bad_name.a.test",))
    elif what == "lifetime past the profile":
        req = _request(service, lifetime=timedelta(hours=tmpl.profile.max_ttl_hours + 2))
    elif what == "an extension the profile never writes":
        req = _request(service)

        def extra(b: x509.CertificateBuilder) -> x509.CertificateBuilder:
            return b.add_extension(x509.OCSPNoCheck(), critical=False)
    elif what == "a subject with an organization":
        req = _request(service)

        def extra(b: x509.CertificateBuilder) -> x509.CertificateBuilder:
            b._subject_name = x509.Name(  # type: ignore[attr-defined]
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "t.a.test"),
                ]
            )
            return b
    elif what == "a key type the profile does not accept":
        narrow = dataclasses.replace(tmpl.profile, key_types=("ecdsa-p384",))
        tmpl = _template(service, narrow)
        req = _request(service, profile=narrow)
    else:
        req = _request(service, common_name="other.a.test")
    cert = _linted(service, req, extra)
    with pytest.raises((OutsideTemplate, TemplateFinding)):
        tmpl.check(cert.tbs_certificate_bytes)
    # a request of the shape the policy makes passes the same template
    curve = ec.SECP384R1() if tmpl.profile.key_types == ("ecdsa-p384",) else ec.SECP256R1()
    good = _request(
        service,
        profile=tmpl.profile,
        key=ec.generate_private_key(curve).public_key(),
        key_type=tmpl.profile.key_types[0],
    )
    tmpl.check(_linted(service, good).tbs_certificate_bytes)


def test_outside_the_template_falls_back_to_pkilint_in_the_pool(
    sqlite_service: OnlineService,
) -> None:
    service = sqlite_service
    urls = service.issuance.urls.current(service.issuance.issuer.id)
    before = _counter("ceremony_online_lint_fallback_total", profile="tls-server")
    clean_but_odd = _linted(
        service, _request(service), lambda b: b.add_extension(x509.OCSPNoCheck(), critical=False)
    )
    service.issuance.lint.check(_request(service), clean_but_odd, urls)  # pkilint passes it

    def without_aki(b: x509.CertificateBuilder) -> x509.CertificateBuilder:
        b._extensions = [  # type: ignore[attr-defined]
            e
            for e in b._extensions  # type: ignore[attr-defined]
            if e.oid != x509.AuthorityKeyIdentifier.oid
        ]
        return b

    odd_and_bad = _request(service)
    with pytest.raises(PolicyError, match="authority_key_identifier_extension_absent"):
        service.issuance.lint.check(odd_and_bad, _linted(service, odd_and_bad, without_aki), urls)
    after = _counter("ceremony_online_lint_fallback_total", profile="tls-server")
    assert after == before + 2
    # a field that breaks its rule is refused by the template itself, without pkilint
    bad = _request(service, ("bad_name.a.test",))
    with pytest.raises(TemplateFinding, match="LDH"):
        service.issuance.lint.check(bad, _linted(service, bad), urls)
    assert _counter("ceremony_online_lint_fallback_total", profile="tls-server") == after


def test_always_lints_every_certificate_in_the_pool(sqlite_service: OnlineService) -> None:
    service = sqlite_service
    always = dataclasses.replace(service.issuance.profile("tls-server"), lint="always")
    urls = service.issuance.urls.current(service.issuance.issuer.id)
    good = _request(service, profile=always)
    service.issuance.lint.check(good, _linted(service, good), urls)
    bad = _request(service, ("-x.a.test",), profile=always)
    with pytest.raises(PolicyError, match="invalid_domain_name_syntax"):
        service.issuance.lint.check(bad, _linted(service, bad), urls)
    assert service.issuance.lint._pool is not None


def test_a_profile_that_lints_in_full_starts_the_pool_at_start(
    sqlite_service: OnlineService,
) -> None:
    """The first requests of an ``always`` profile do not wait for processes to start."""
    issuance = sqlite_service.issuance
    always = dataclasses.replace(issuance.profile("tls-server"), lint="always")
    gate = prelint.PreIssuanceLint(issuance.db, issuance.issuer, sqlite_service.clock, 2)
    try:
        gate.prepare({"tls-server": issuance.profile("tls-server")}, _urls(sqlite_service))
        assert gate._pool is None  # template only: no pool
        gate.prepare({"always": always}, _urls(sqlite_service))
        assert gate._pool is not None
        processes = list(gate._pool._processes.values())  # type: ignore[attr-defined]
        assert len(processes) == 2 and all(p.is_alive() for p in processes)
    finally:
        gate.close()


def _urls(service: OnlineService) -> Any:
    return service.issuance.urls.current(service.issuance.issuer.id)


def test_sampled_reports_a_finding_as_metric_and_audit_event(
    sqlite_service: OnlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = sqlite_service
    sampled = dataclasses.replace(
        service.issuance.profile("tls-server"), lint="sampled", lint_sample_rate=1.0
    )
    gate = service.issuance.lint
    monkeypatch.setattr(gate, "full_findings", lambda der, req: ["ERROR made.up: a drift"])
    urls = service.issuance.urls.current(service.issuance.issuer.id)
    req = _request(service, profile=sampled)
    before = _counter("ceremony_online_lint_findings_total", profile="tls-server")
    with pytest.raises(PolicyError, match=r"made\.up"):
        gate.check(req, _linted(service, req), urls)
    assert _counter("ceremony_online_lint_findings_total", profile="tls-server") == before + 1
    with service.db.read() as session:
        steps = list(session.execute(select(AuditPending.step)).scalars()) + [
            line.split('"step":')[1][:20]
            for line in session.execute(select(AuditEvent.line)).scalars()
            if '"step":' in line
        ]
    assert any("lint.finding" in s for s in steps)


def test_a_profile_pkilint_refuses_stops_the_start(sqlite_service: OnlineService) -> None:
    service = sqlite_service
    issuance = service.issuance
    urls = issuance.urls.current(issuance.issuer.id)

    def picky(der: bytes, req: ApprovedRequest) -> list[str]:
        return ["ERROR made.up: too many names"] if len(req.names) > 50 else []

    templates = Templates(issuance.issuer, picky, service.clock)
    with pytest.raises(ConfigError, match=r"profile tls-server: template lint \(100 names\)"):
        templates.get(issuance.profile("tls-server"), urls)


_LABELS = st.text(alphabet="abz09-_A", min_size=1, max_size=5)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    labels=st.lists(_LABELS, min_size=1, max_size=3),
    top=st.sampled_from(["test", "x1", "t-", "1", "t", "internal"]),
    wildcard=st.booleans(),
    tamper_ski=st.booleans(),
)
def test_the_template_passes_nothing_pkilint_refuses(
    sqlite_service: OnlineService, labels: list[str], top: str, wildcard: bool, tamper_ski: bool
) -> None:
    """A certificate the template lets through is one full pkilint passes, whatever name a
    policy slip lets into it and whatever key identifier it carries."""
    service = sqlite_service
    name = ("*." if wildcard else "") + ".".join([*labels, top])
    req = _request(service, (name,), common_name=name if len(name) <= 64 else None)

    def other_ski(b: x509.CertificateBuilder) -> x509.CertificateBuilder:
        b._extensions = [  # type: ignore[attr-defined]
            x509.Extension(e.oid, e.critical, x509.SubjectKeyIdentifier(b"\x01" * 20))
            if e.oid == x509.SubjectKeyIdentifier.oid
            else e
            for e in b._extensions  # type: ignore[attr-defined]
        ]
        return b

    try:
        cert = _linted(service, req, other_ski if tamper_ski else None)
    except ValueError:
        return  # not even encodable
    try:
        _template(service).check(cert.tbs_certificate_bytes)
    except (OutsideTemplate, TemplateFinding):
        return
    der = cert.public_bytes(serialization.Encoding.DER)
    assert prelint.PreIssuanceLint.findings_in_process(der, req) == []


def test_a_domain_pkilint_refuses_stops_the_start(sqlite_service: OnlineService) -> None:
    """Every domain of a profile is linted, not only its first."""
    service = sqlite_service
    base = service.issuance.profile("tls-server")
    odd = dataclasses.replace(base, domains=(*base.domains, "corp.x1"))
    with pytest.raises(ConfigError, match=r"template lint \(name a\.corp\.x1\).*domain_name"):
        _template(service, odd)
    req = _request(service, ("h.corp.x1",), profile=odd)
    with pytest.raises(TemplateFinding, match="LDH"):
        _template(service).check(_linted(service, req).tbs_certificate_bytes)


def test_code_signing_template_holds_each_common_name(sqlite_service: OnlineService) -> None:
    service = sqlite_service
    signing = dataclasses.replace(
        service.issuance.profile("code-signing"), common_names=("Build A", "Build B")
    )
    tmpl = _template(service, signing)
    assert tmpl.samples >= 2
    for cn, ok in (("Build B", True), ("Build C", False)):
        req = _request(service, (), profile=signing, common_name=cn)
        if ok:
            tmpl.check(_linted(service, req).tbs_certificate_bytes)
        else:
            with pytest.raises(TemplateFinding, match="profile's"):
                tmpl.check(_linted(service, req).tbs_certificate_bytes)


def test_the_template_check_signs_nothing_and_a_fallback_lints_a_signed_copy(
    sqlite_service: OnlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``template`` the TBS is checked on a placeholder-signed copy (no throwaway
    signature); a certificate outside the template gets pkilint on a signed copy of the
    same TBS."""
    service = sqlite_service
    issuer = service.issuance.issuer
    urls = service.issuance.urls.current(issuer.id)
    builder = issuer.builder(_request(service), x509.random_serial_number(), service.clock(), urls)
    copy = issuer.tbs_copy(builder)
    assert copy.tbs_certificate_bytes == issuer.sign_lint_copy(builder).tbs_certificate_bytes
    with pytest.raises(InvalidSignature):  # the placeholder verifies under no key
        copy.verify_directly_issued_by(issuer.certificate)
    real = issuer.sign_lint_copy
    throwaway: list[x509.CertificateBuilder] = []

    def counted(b: x509.CertificateBuilder) -> x509.Certificate:
        throwaway.append(b)
        return real(b)

    monkeypatch.setattr(issuer, "sign_lint_copy", counted)
    csr, _key = make_csr(["t.a.test"])
    service.issuance.issue_csr(csr, "tls-server", ADMIN)
    assert throwaway == []  # inside the template: no throwaway signature
    odd = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    before = _counter("ceremony_online_lint_fallback_total", profile="tls-server")
    service.issuance.lint.check(_request(service), issuer.tbs_copy(odd), urls, lambda: counted(odd))
    assert throwaway == [odd]  # outside: pkilint on the signed copy
    assert _counter("ceremony_online_lint_fallback_total", profile="tls-server") == before + 1
    other = issuer.builder(_request(service), x509.random_serial_number(), service.clock(), urls)
    with pytest.raises(FaultError, match="signed copy's TBS differs"):
        service.issuance.lint.check(
            _request(service), issuer.tbs_copy(odd), urls, lambda: real(other)
        )
