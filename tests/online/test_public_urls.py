"""Public URLs are data of the issuer: every shard CRL's IDP equals the CDP of every
certificate in it, whichever process (URL, TLS, CLI) builds it; a change of URLs applies
to new certificates while old ones keep their CRLs; ``check`` finds a mismatch."""

from __future__ import annotations

import http.server
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select

from ceremony.audit.eventlog import Actor
from ceremony.errors import ConfigError, InputError
from ceremony.online import audit
from ceremony.online.check import check_crl_urls
from ceremony.online.db.engine import Database, DatabaseUrl, alembic_config
from ceremony.online.db.models import Certificate, Issuer, IssuerUrlSet
from ceremony.online.service import OnlineService, ServiceOptions, open_service
from ceremony.online.urls import UrlBook, operator, parse_shard_scope, served_scope, shard_scope
from tests.online.conftest import cli
from tests.online.helpers import make_csr

ACTOR = Actor("tester", "api-token")


def _issue(service: OnlineService, name: str = "u.a.test") -> x509.Certificate:
    pem, _ = make_csr([name])
    issued = service.issuance.issue_csr(pem, "tls-server", ACTOR)
    return x509.load_der_x509_certificate(issued.der)


def _cdp(cert: x509.Certificate) -> str:
    ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return str(ext[0].full_name[0].value)  # type: ignore[index]


def _idp(der: bytes) -> str:
    crl = x509.load_der_x509_crl(der)
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    return str(idp.full_name[0].value)  # type: ignore[index]


def _open(data: Path, database: str | None, public_url: str, **kw: bool) -> OnlineService:
    return open_service(
        ServiceOptions(data=data, database=database, public_url=public_url, **kw)  # type: ignore[arg-type]
    )


def test_crl_idp_does_not_follow_the_process_building_it(
    data_dir: Path, database_url: str | None
) -> None:
    """The CLI's default URL, a TLS start and a second listen address build the CRL the
    certificates point to, with the IDP they carry."""
    first = _open(data_dir, database_url, "http://ca.a.test:8080")
    try:
        cert = _issue(first)
        ca = first.loaded.active
    finally:
        first.close()
    shard = cert.serial_number % ca.crl_shards
    assert _cdp(cert) == f"http://ca.a.test:8080/crl/{ca.id}/{shard}.crl"
    for url, record in (
        ("http://127.0.0.1:8443", False),  # what the admin CLI used to stamp
        ("https://ca.a.test:8443", True),  # serve --tls self
        ("http://10.0.0.2:9000", True),  # a second serve elsewhere
    ):
        other = _open(data_dir, database_url, url, record_urls=record)
        try:
            built = other.crls.build(ca.id, f"shard-{shard}")
            assert _idp(built.der) == _cdp(cert), url
            again = _issue(other, "again.a.test")
            assert _cdp(again).startswith("http://ca.a.test:8080/crl/"), url
            other.issuance.revoke(format(again.serial_number, "x"), "superseded", ACTOR)
            again_shard = again.serial_number % ca.crl_shards
            served = other.crls.current(ca.id, f"shard-{again_shard}")
            assert _idp(served.der) == _cdp(again)
            full = x509.load_der_x509_crl(other.crls.current(ca.id, "full").der)
            fresh = full.extensions.get_extension_for_class(x509.FreshestCRL).value
            assert str(fresh[0].full_name[0].value) == (  # type: ignore[index]
                f"http://ca.a.test:8080/crl/{ca.id}/delta.crl"
            )
        finally:
            other.close()


def test_urls_change_applies_to_new_certificates_only(
    data_dir: Path, database_url: str | None
) -> None:
    svc = _open(data_dir, database_url, "http://old.a.test")
    try:
        ca = svc.loaded.active
        old = _issue(svc, "old.a.test")
        with pytest.raises(InputError, match="already the current URLs"):
            svc.urls.record(ca.id, "http://old.a.test/", operator(), svc.clock())
        gen2 = svc.urls.record(ca.id, "http://new.a.test", operator(), svc.clock())
        assert gen2 is not None and gen2.generation == 2
        new = _issue(svc, "new.a.test")
        old_shard = old.serial_number % ca.crl_shards
        new_shard = new.serial_number % ca.crl_shards
        assert _cdp(old) == f"http://old.a.test/crl/{ca.id}/{old_shard}.crl"
        assert _cdp(new) == f"http://new.a.test/crl/{ca.id}/2/{new_shard}.crl"
        with svc.db.read() as session:
            rows = session.execute(select(Certificate.serial, Certificate.url_generation))
            gens = {serial: gen for serial, gen in rows}
        assert gens == {format(old.serial_number, "x"): 1, format(new.serial_number, "x"): 2}

        for cert in (old, new):
            svc.issuance.revoke(format(cert.serial_number, "x"), "keyCompromise", ACTOR)
        old_crl = svc.crls.current(ca.id, f"shard-{old_shard}")
        new_crl = svc.crls.current(ca.id, shard_scope(new_shard, 2))
        assert _idp(old_crl.der) == _cdp(old) and _idp(new_crl.der) == _cdp(new)
        old_entries = x509.load_der_x509_crl(old_crl.der)
        new_entries = x509.load_der_x509_crl(new_crl.der)
        assert old_entries.get_revoked_certificate_by_serial_number(old.serial_number)
        assert old_entries.get_revoked_certificate_by_serial_number(new.serial_number) is None
        assert new_entries.get_revoked_certificate_by_serial_number(new.serial_number)
        # both generations are published while certificates of each live
        scopes = svc.crls.scopes(ca.id)
        assert f"shard-{old_shard}" in scopes and shard_scope(new_shard, 2) in scopes

        # once no process can issue under generation 1, it ends with its last certificate
        later = svc.clock() + timedelta(hours=1)
        svc.urls.settle(later)
        g1 = svc.urls.generation(ca.id, 1)
        assert g1 is not None and g1.last_not_after == old.not_valid_after_utc
        after_expiry = old.not_valid_after_utc + timedelta(days=2)
        assert f"shard-{old_shard}" not in svc.crls.scopes(ca.id, after_expiry)
        assert shard_scope(new_shard, 2) in svc.crls.scopes(ca.id, after_expiry)
        steps = [e for e in audit.events(svc.db) if e["step"] == "issuer.urls"]
        assert [e["payload"]["generation"] for e in steps] == [1, 2]
        assert steps[1]["actor"]["role"] == "operator"
    finally:
        svc.close()


def test_scope_names_round_trip() -> None:
    for shard, gen in ((0, 1), (15, 1), (3, 2), (4095, 17)):
        assert parse_shard_scope(shard_scope(shard, gen)) == (shard, gen)
    assert served_scope("3", None) == "shard-3" and served_scope("3", "2") == "g2-shard-3"
    assert served_scope("full", None) == "full" and served_scope("full", "2") is None
    for bad in ("g1-shard-3", "gx-shard-1", "shard-", "shard-x", "delta"):
        assert parse_shard_scope(bad) is None, bad
    assert served_scope("3", "1") is None and served_scope("x", None) is None


def test_admin_commands_do_not_record_urls(data_dir: Path) -> None:
    """A data folder never served has no URLs: crl refuses, naming the way to set them."""
    r = cli("crl", "--data", str(data_dir))
    assert r.returncode == 2 and r.stderr.startswith("error: issuer "), r.stderr
    assert "urls set" in r.stderr and "Traceback" not in r.stderr
    r = cli("urls", "set", "--data", str(data_dir), "--base", "http://pki.a.test:8080/")
    assert r.returncode == 0, r.stderr
    assert "generation 1: http://pki.a.test:8080/crl/" in r.stdout
    r = cli("crl", "--data", str(data_dir))
    assert r.returncode == 0, r.stderr
    r = cli("urls", "show", "--data", str(data_dir))
    assert r.returncode == 0 and "generation 1 (current)" in r.stdout
    r = cli("urls", "set", "--data", str(data_dir), "--base", "ftp://x")
    assert r.returncode == 2 and r.stderr.startswith("error: --base 'ftp://x'")


def test_revocation_url_edit_is_refused_not_ignored(data_dir: Path) -> None:
    _open(data_dir, None, "http://first.a.test").close()
    config = data_dir / "online.toml"
    config.write_text(
        config.read_text().replace(
            "[service]\n", '[service]\nrevocation_url = "http://moved.a.test"\n', 1
        )
    )
    with pytest.raises(ConfigError, match=r"urls set --base http://moved\.a\.test"):
        _open(data_dir, None, "http://first.a.test")
    _open(data_dir, None, "http://x", record_urls=False).close()  # admin commands still work


class _CrlStub(http.server.BaseHTTPRequestHandler):
    """Serves whatever bytes the test put at a path."""

    files: dict[str, bytes] = {}  # noqa: RUF012 (set per test)

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, dict[str, bytes]]]:
    files: dict[str, bytes] = {}
    handler = type("Stub", (_CrlStub,), {"files": files})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        data: bytes = r.read()
    return data


def test_check_reports_what_a_relying_party_would_see(
    data_dir: Path, stub: tuple[str, dict[str, bytes]]
) -> None:
    base, files = stub
    svc = _open(data_dir, None, base)
    try:
        ca = svc.loaded.active
        certs = [_issue(svc, f"c{i}.a.test") for i in range(3)]
        revoked = certs[0]
        revoked_scope = f"shard-{revoked.serial_number % ca.crl_shards}"
        before_revocation = svc.crls.build(ca.id, revoked_scope).der
        svc.issuance.revoke(format(revoked.serial_number, "x"), "keyCompromise", ACTOR)
        path = {c.serial_number: _cdp(c).removeprefix(base) for c in certs}

        report = check_crl_urls(svc, _fetch, svc.clock())
        assert report.certificates == 3 and report.urls == len(set(path.values()))
        assert all("cannot be fetched" in p for p in report.problems), report.problems

        good = {
            path[c.serial_number]: svc.crls.current(
                ca.id, f"shard-{c.serial_number % ca.crl_shards}"
            ).der
            for c in certs
        }
        files.update(good)
        assert check_crl_urls(svc, _fetch, svc.clock()).problems == []

        # a CRL of another shard served at a certificate's CDP: a different scope
        victim = certs[1]
        other = (victim.serial_number % ca.crl_shards + 1) % ca.crl_shards
        files[path[victim.serial_number]] = svc.crls.build(ca.id, f"shard-{other}").der
        problems = check_crl_urls(svc, _fetch, svc.clock()).problems
        assert any("IssuingDistributionPoint" in p and _cdp(victim) in p for p in problems)
        files.update(good)

        # a stale copy without the revocation
        files[path[revoked.serial_number]] = before_revocation
        problems = check_crl_urls(svc, _fetch, svc.clock()).problems
        assert problems and all("does not list 1 revoked" in p for p in problems), problems
        files.update(good)

        # a certificate whose CDP is not the one its record says (issued by an old version)
        with svc.db.write() as session:
            row = session.get(IssuerUrlSet, (ca.id, 1))
            assert row is not None
            row.crl_shard = "http://elsewhere.a.test/crl/{shard}.crl"
        svc.urls.forget()
        problems = check_crl_urls(svc, _fetch, svc.clock()).problems
        assert sum("is not http://elsewhere.a.test/crl/" in p for p in problems) == 3
    finally:
        svc.close()


def test_check_reports_an_https_crl_url(data_dir: Path, stub: tuple[str, dict[str, bytes]]) -> None:
    """openssl -crl_download fetches over plain http only: an https CDP is a problem even
    where the CRL served there is right."""
    base, files = stub
    https_base = base.replace("http://", "https://", 1)
    svc = _open(data_dir, None, https_base)
    try:
        cert = _issue(svc)
        ca = svc.loaded.active
        cdp = _cdp(cert)
        assert cdp.startswith(https_base)
        files[cdp.removeprefix(https_base)] = svc.crls.current(
            ca.id, f"shard-{cert.serial_number % ca.crl_shards}"
        ).der
        report = check_crl_urls(svc, lambda url: _fetch(url.replace(https_base, base)), svc.clock())
    finally:
        svc.close()
    assert report.problems == [
        f"CRL {cdp} (1 live certificate(s)) is https://, but relying parties such as "
        "openssl -crl_download fetch CRLs, OCSP and CA certificates over plain http:// only"
    ]
    r = cli("urls", "set", "--data", str(data_dir), "--base", "https://pki.a.test")
    assert r.returncode == 0 and "warning: https://pki.a.test is https://" in r.stderr, r.stderr
    r = cli("urls", "set", "--data", str(data_dir), "--base", "http://pki.a.test")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_check_command_exit_codes(data_dir: Path, stub: tuple[str, dict[str, bytes]]) -> None:
    base, files = stub
    svc = _open(data_dir, None, base)
    try:
        cert = _issue(svc)
        ca = svc.loaded.active
        shard = cert.serial_number % ca.crl_shards
        files[_cdp(cert).removeprefix(base)] = svc.crls.current(ca.id, f"shard-{shard}").der
    finally:
        svc.close()
    r = cli("check", "--data", str(data_dir))
    assert r.returncode == 0 and "all match" in r.stdout, r.stdout + r.stderr
    files.clear()
    r = cli("check", "--data", str(data_dir))
    assert r.returncode == 1 and "cannot be fetched" in r.stdout, r.stdout + r.stderr


def test_upgrade_takes_generation_1_from_issued_certificates(
    tmp_path: Path, database_url: str | None
) -> None:
    """A database of an older version: its issuer's URLs are those its newest certificate
    carries, so the CRLs built after the upgrade cover the certificates out there."""
    url = (
        DatabaseUrl.parse(database_url)
        if database_url
        else DatabaseUrl.sqlite_file(tmp_path / "old.db")
    )
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
            conn.commit()
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        name = x509.Name([])
        cdp = "http://old.a.test:8080/crl/0123456789abcdef/5.crl"
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(0x25)
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(cdp)], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        columns = (
            "serial issuer_id profile subject names not_before not_after shard der "
            "spki_sha256 requester revoked created_at"
        ).split()
        values = [
            "25",
            "0123456789abcdef",
            "p",
            "",
            "[]",
            now,
            now,
            5,
            der,
            "0" * 64,
            "t",
            False,
            now,
        ]
        with db.engine.begin() as conn:
            conn.execute(
                insert(Issuer.__table__).values(  # type: ignore[arg-type]
                    id="0123456789abcdef",
                    subject="",
                    cert_der=b"",
                    chain_pem="",
                    key_ref="",
                    crl_shards=16,
                    active=True,
                    created_at=now,
                )
            )
            conn.exec_driver_sql(
                f"INSERT INTO certificates ({', '.join(columns)}) VALUES "
                f"({', '.join(['%s' if database_url else '?'] * len(columns))})",
                tuple(values),
            )
        db.migrate()
        urls = UrlBook(db).current("0123456789abcdef")
        assert (urls.generation, urls.base, urls.crl_shard(5)) == (1, "http://old.a.test:8080", cdp)
        with db.read() as session:
            assert session.execute(select(Certificate.url_generation)).scalar_one() == 1
    finally:
        db.dispose()
