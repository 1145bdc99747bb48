"""With the database down: CRLs are served from the last good signed copy, OCSP answers
``tryLater``, the outage is one log line, and no client sees a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ceremony.errors import FaultError
from ceremony.online.crl import CrlPublisher
from ceremony.online.crl_copies import CrlCopies
from ceremony.online.db.engine import PUBLIC_DATABASE_FAULT, Database, DatabaseUrl
from ceremony.online.service import OnlineService
from ceremony.online.urls import UrlBook
from tests.online.acme_client import RawAcme
from tests.online.conftest import REPO, api, http, start_server
from tests.online.helpers import make_csr


@dataclass
class _Postgres:
    url: str
    folder: str
    bin: str

    def stop(self) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                f"{self.bin}/pg_ctl",
                "-D",
                f"{self.folder}/data",
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def own_postgres() -> Iterator[_Postgres]:
    """A PostgreSQL of this test alone (it is stopped in the middle of the test)."""
    if shutil.which("runuser") is None or not list(Path("/usr/lib/postgresql").glob("*/bin")):
        pytest.skip("PostgreSQL is not installed")
    script = (
        f"source {REPO}/scripts/lib/postgres.sh && start_test_postgres >/dev/null && "
        'echo "$CEREMONY_TEST_POSTGRES_URL $PG_DIR $PG_BIN"'
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    url, folder, pg_bin = out.stdout.split()
    pg = _Postgres(url, folder, pg_bin)
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
    return builder.build().public_bytes(serialization.Encoding.DER)


def _status(der: bytes) -> ocsp.OCSPResponseStatus:
    return ocsp.load_der_ocsp_response(der).response_status


def test_database_down(tmp_path: Path, bootstrapped: Path, own_postgres: _Postgres) -> None:
    data = tmp_path / "data"
    shutil.copytree(bootstrapped, data, symlinks=True)
    log = tmp_path / "serve.log"
    srv = start_server(data, own_postgres.url, log=log)
    try:
        token = srv.token("tls-server")
        certs = []
        for name in ("kept.a.test", "gone.a.test", "later.a.test"):
            pem, _ = make_csr([name])
            status, body = api(
                "POST",
                srv.url("/api/v1/certificates"),
                token,
                {"profile": "tls-server", "csr": pem.decode()},
            )
            assert status == 201, body
            certs.append(x509.load_pem_x509_certificate(body["certificate"].encode()))
        kept, gone, later = certs
        issuer = x509.load_pem_x509_certificates(body["chain"].encode())[0]
        assert (
            api(
                "POST",
                srv.url(f"/api/v1/certificates/{gone.serial_number:x}/revoke"),
                token,
                {"reason": "keyCompromise"},
            )[0]
            == 200
        )

        def cdp(cert: x509.Certificate) -> str:
            ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            return str(ext[0].full_name[0].value)  # type: ignore[index]

        status, _h, served = http("GET", cdp(gone))
        assert status == 200
        good = _ocsp_request(kept, issuer)
        status, _h, answer = http(
            "POST", srv.url("/ocsp"), good, {"Content-Type": "application/ocsp-request"}
        )
        assert _status(answer) == ocsp.OCSPResponseStatus.SUCCESSFUL

        acme = RawAcme(srv.url("/acme/directory"))
        own_postgres.stop()

        for _ in range(3):
            status, _headers, body = http("GET", cdp(gone))
            assert status == 200 and body == served  # the last good signed copy
            crl = x509.load_der_x509_crl(body)
            assert crl.get_revoked_certificate_by_serial_number(gone.serial_number) is not None
        fresh = _ocsp_request(later, issuer)
        for _ in range(3):
            status, _headers, answer = http(
                "POST", srv.url("/ocsp"), fresh, {"Content-Type": "application/ocsp-request"}
            )
            assert status == 200 and _status(answer) == ocsp.OCSPResponseStatus.TRY_LATER
        # REST, ACME and /healthz: one-line answers that say the fault, never a traceback,
        # nor where the database is (that is for the log)
        address = own_postgres.url.split("@", 1)[1].split("/", 1)[0].encode()
        status, _h, body = http("GET", srv.url("/healthz"))
        assert status == 503 and json.loads(body)["detail"] == PUBLIC_DATABASE_FAULT, body
        assert address not in body
        pem, _ = make_csr(["during.a.test"])
        status, _h, body = http(
            "POST",
            srv.url("/api/v1/certificates"),
            json.dumps({"profile": "tls-server", "csr": pem.decode()}).encode(),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert status == 503 and json.loads(body)["error"] == "fault", body
        assert body.count(b"\n") == 0 and b"Traceback" not in body and address not in body
        r = acme.register()
        assert r.status >= 500 and r.problem == "serverInternal", r.body
        assert b"Traceback" not in r.body and address not in r.body
        other_ca = srv.url(f"/crl/{cdp(gone).split('/crl/')[1].split('/')[0]}/full.crl")
        status, _headers, body = http("GET", other_ca)
        assert status in (200, 503), body
        if status == 503:
            assert body.count(b"\n") == 0 and b'"fault"' in body and b"Traceback" not in body
    finally:
        srv.stop()
    text = log.read_text()
    assert "Traceback" not in text, text
    shard = cdp(gone).rsplit("/", 1)[1].removesuffix(".crl")
    outage = [line for line in text.splitlines() if "serving the last good copy" in line]
    assert sum(f"/shard-{shard}:" in line for line in outage) == 1, text  # not one a request
    assert sum("answering tryLater" in line for line in text.splitlines()) == 1, text
    assert sum(line.startswith("maintenance:") for line in text.splitlines()) <= 1, text


def test_copy_on_disk_serves_a_fresh_process(sqlite_service: OnlineService) -> None:
    """A process that never served the CRL (a restarted worker) still has the copy on disk."""
    svc = sqlite_service
    ca = svc.loaded.active
    built = svc.crls.current(ca.id, "shard-3")
    assert (svc.folder.crl_copies / ca.id / "shard-3.crl").read_bytes() == built.der
    down = Database(DatabaseUrl.parse("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"))
    try:
        fresh = CrlPublisher(
            down,
            svc.loaded.all,
            UrlBook(down),
            svc.clock,
            svc.crls.settings,
            CrlCopies(svc.folder.crl_copies),
        )
        copy = fresh.current(ca.id, "shard-3")
        assert copy.der == built.der and copy.number == built.number
        with pytest.raises(FaultError):
            fresh.current(ca.id, "shard-4")  # never built: nothing to serve
    finally:
        down.dispose()
