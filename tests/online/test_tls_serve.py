"""``serve`` over HTTPS: ``--tls self`` (a server certificate from the service's own issuing
CA, through the issuance core) and ``--tls-cert/--tls-key`` (the operator's files), checked
with real curl, openssl s_client and certbot; refusals are one ``error:`` line and exit 2."""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ceremony.audit.eventlog import Actor
from ceremony.online import tls
from ceremony.online.service import OnlineService, ServiceOptions, open_service
from tests.online.conftest import (
    VENV_BIN,
    cli,
    free_port,
    start_server,
    stop_process_group,
    tool,
)
from tests.online.helpers import make_csr

HEALTH_TIMEOUT = 90.0
CERTBOT_NAME = "certbot-tls.a.test"


@dataclass
class HttpsServer:
    """A ``ceremony-online serve`` process speaking HTTPS on loopback."""

    data: Path
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    ca: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        req = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.context()) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as ex:
            return ex.code, ex.read()

    def stop(self) -> None:
        stop_process_group(self.proc)


def start_https(data: Path, extra: list[str], ca: Path | None = None) -> HttpsServer:
    """Start ``serve`` with ``extra`` (TLS options) and wait for ``/healthz`` over HTTPS,
    trusting ``ca`` (default: the data folder's root, which a bootstrap may still be making)."""
    port = free_port()
    log = data.parent / f"server-{port}.log"
    args = [
        str(VENV_BIN / "ceremony-online"),
        "serve",
        "--data",
        str(data),
        "--listen",
        f"127.0.0.1:{port}",
        *extra,
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
    server = HttpsServer(data, port, proc, log, ca or data / "ca" / "root.pem")
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()}")
        if server.ca.exists():
            try:
                status, _body = server.get("/healthz")
                if status == 200:
                    return server
            except (OSError, ssl.SSLError):
                pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"server did not become healthy over HTTPS in {HEALTH_TIMEOUT:.0f} s")


@pytest.fixture
def https_servers() -> Iterator[list[HttpsServer]]:
    started: list[HttpsServer] = []
    yield started
    for s in started:
        s.stop()


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("curl"), "-sS", "--max-time", "20", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _s_client(port: int, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            tool("openssl"),
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-CAfile",
            str(ca),
            "-verify_return_error",
            "-verify_ip",
            "127.0.0.1",
            "-showcerts",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _served_leaf(s_client_out: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(s_client_out.encode())[0]


def _admin_token(data: Path) -> str:
    r = cli("token", "create", "--data", str(data), "--name", "tls-test", "--admin")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_tls_self_on_fresh_data_folder(tmp_path: Path, https_servers: list[HttpsServer]) -> None:
    data = tmp_path / "data"  # empty: serve bootstraps it, then issues its own certificate
    srv = start_https(data, ["--tls", "self"])
    https_servers.append(srv)
    root = data / "ca" / "root.pem"

    r = _curl("--cacert", str(root), f"{srv.base}/acme/directory")
    assert r.returncode == 0, r.stderr
    directory = json.loads(r.stdout)
    urls = [v for v in directory.values() if isinstance(v, str)]
    assert urls and all(u.startswith(f"https://127.0.0.1:{srv.port}/acme/") for u in urls)
    r = _curl(f"{srv.base}/healthz")  # without the root: not trusted
    assert r.returncode == 60, r.stderr

    r = _s_client(srv.port, root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Verify return code: 0 (ok)" in r.stdout
    leaf = _served_leaf(r.stdout)
    stored = x509.load_pem_x509_certificates(data.joinpath("tls", "server.pem").read_bytes())
    assert len(stored) >= 2 and stored[0] == leaf  # leaf + issuing chain
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert stat.S_IMODE(data.joinpath("tls", "server.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.joinpath("tls").stat().st_mode) == 0o700

    # certificate URLs follow the public URL: https, served on the same port
    cdp = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    crl_url = str(cdp[0].full_name[0].value)  # type: ignore[index]
    assert crl_url.startswith(f"https://127.0.0.1:{srv.port}/crl/")
    crl_file = tmp_path / "shard.crl"
    r = _curl("--cacert", str(root), "-o", str(crl_file), crl_url)
    assert r.returncode == 0, r.stderr
    x509.load_der_x509_crl(crl_file.read_bytes())
    # which relying parties such as openssl -crl_download cannot fetch: said at start, by check
    assert "warning: https://127.0.0.1" in srv.log.read_text()
    assert "; renewed while serving from " in srv.log.read_text()
    r = cli("check", "--data", str(data))
    assert r.returncode == 1 and "over plain http:// only" in r.stdout, r.stdout + r.stderr

    # issued through the core: in the REST list of certificates, and audited
    serial = format(leaf.serial_number, "x")
    status, body = srv.get("/api/v1/certificates?profile=tls-server", _admin_token(data))
    assert status == 200, body
    listed = {c["serial"]: c for c in json.loads(body)["certificates"]}
    assert listed[serial]["names"] == ["127.0.0.1"] and listed[serial]["status"] == "valid"
    events = tmp_path / "events.jsonl"
    r = cli("audit", "export", "--data", str(data), "--out", str(events))
    assert r.returncode == 0, r.stderr
    issues = [
        e
        for e in map(json.loads, events.read_text().splitlines())
        if e["step"] == "certificate.issue" and e["payload"]["serial"] == serial
    ]
    assert len(issues) == 1 and issues[0]["actor"]["role"] == "service", issues
    srv.stop()

    # a restart serves the same certificate; once revoked, the next start issues a new one
    srv = start_https(data, ["--tls", "self"])
    https_servers.append(srv)
    assert _served_leaf(_s_client(srv.port, root).stdout).serial_number == leaf.serial_number
    assert "(reused)" in srv.log.read_text()
    srv.stop()
    r = cli("revoke", "--data", str(data), serial, "--reason", "superseded")
    assert r.returncode == 0, r.stderr
    srv = start_https(data, ["--tls", "self", "--workers", "2"])
    https_servers.append(srv)
    r = _s_client(srv.port, root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _served_leaf(r.stdout).serial_number != leaf.serial_number
    assert "issued now: the stored certificate was revoked" in srv.log.read_text()


def test_self_issued_renewal_rules(sqlite_service: OnlineService) -> None:
    """Reuse while more than a third of the lifetime remains; renew on the listed changes."""
    svc = sqlite_service
    names = tls.server_names("127.0.0.1", None)
    now = datetime.now(UTC)
    first = tls.ensure_self_issued(svc, names, now)
    assert first.renewed == "none stored yet"
    leaf = first.files.leaf
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    at_half = leaf.not_valid_before_utc + lifetime / 2
    again = tls.ensure_self_issued(svc, names, at_half)
    assert again.renewed is None and again.files.leaf == leaf

    late = leaf.not_valid_before_utc + lifetime * 0.7
    renewed = tls.ensure_self_issued(svc, names, late)
    assert renewed.renewed is not None and "third" in renewed.renewed
    assert renewed.files.leaf.serial_number != leaf.serial_number
    issued = svc.issuance.get(renewed.files.serial)
    assert issued is not None and issued.profile == "tls-server"

    other = tls.server_names("127.0.0.1", "https://ca.test:8443")
    changed = tls.ensure_self_issued(svc, other, now)
    assert changed.renewed is not None and "names changed" in changed.renewed
    assert set(tls._names_of(changed.files.leaf).all) == {"ca.test", "127.0.0.1"}

    svc.folder.tls_key.chmod(0o644)
    loose = tls.ensure_self_issued(svc, other, now)
    assert loose.renewed == "the stored key was readable by others"
    assert stat.S_IMODE(svc.folder.tls_key.stat().st_mode) == 0o600


def test_certbot_over_https_directory(
    data_dir: Path, tmp_path: Path, https_servers: list[HttpsServer]
) -> None:
    certbot_bin = VENV_BIN / "certbot"
    if not certbot_bin.exists():
        pytest.skip("certbot is not installed in the test environment")
    http01 = free_port()
    srv = start_https(
        data_dir,
        ["--tls", "self", "--acme-http01-port", str(http01), "--acme-resolve-to", "127.0.0.1"],
    )
    https_servers.append(srv)
    directory = f"{srv.base}/acme/directory"
    root = data_dir / "ca" / "root.pem"

    def certbot(work: Path, trust_root: bool) -> subprocess.CompletedProcess[str]:
        cmd = [
            str(certbot_bin),
            "certonly",
            "--standalone",
            "--http-01-port",
            str(http01),
            "--http-01-address",
            "127.0.0.1",
            "-d",
            CERTBOT_NAME,
            "--agree-tos",
            "--register-unsafely-without-email",
            "--server",
            directory,
            "--config-dir",
            str(work / "config"),
            "--work-dir",
            str(work / "work"),
            "--logs-dir",
            str(work / "logs"),
            "--non-interactive",
        ]
        env = {k: v for k, v in os.environ.items() if k != "REQUESTS_CA_BUNDLE"}
        if trust_root:
            env["REQUESTS_CA_BUNDLE"] = str(root)
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=180, env=env, check=False
        )

    work = tmp_path / "certbot"
    r = certbot(work, trust_root=True)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    live = work / "config" / "live" / CERTBOT_NAME
    cert = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [CERTBOT_NAME]
    chain = x509.load_pem_x509_certificates((live / "fullchain.pem").read_bytes())
    cert.verify_directly_issued_by(chain[1])

    # without our root, certbot refuses the HTTPS directory
    r = certbot(tmp_path / "certbot-untrusted", trust_root=False)
    assert r.returncode != 0
    assert "certificate verify failed" in r.stdout + r.stderr, r.stdout + r.stderr


def _pem_key(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _issue_files(data: Path, out: Path) -> tuple[Path, Path, x509.Certificate]:
    """A server certificate from the data folder's CA (leaf + chain) and its key, as files."""
    svc = open_service(ServiceOptions(data=data, bootstrap=False))
    try:
        pem, key = make_csr(["files.a.test"], ips=["127.0.0.1"])
        issued = svc.issuance.issue_csr(pem, "tls-server", Actor("test", "operator"))
    finally:
        svc.close()
    cert_file, key_file = out / "server.pem", out / "server.key"
    cert_file.write_bytes(issued.full_chain_pem)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    key_file.write_bytes(_pem_key(key))
    key_file.chmod(0o600)
    return cert_file, key_file, x509.load_der_x509_certificate(issued.der)


def test_tls_cert_and_key_files(
    data_dir: Path, tmp_path: Path, https_servers: list[HttpsServer]
) -> None:
    cert_file, key_file, leaf = _issue_files(data_dir, tmp_path)
    srv = start_https(
        data_dir,
        ["--tls-cert", str(cert_file), "--tls-key", str(key_file), "--workers", "2"],
    )
    https_servers.append(srv)
    root = data_dir / "ca" / "root.pem"
    r = _curl("--cacert", str(root), f"{srv.base}/acme/directory")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["newOrder"] == f"{srv.base}/acme/new-order"
    r = _curl(
        "--cacert",
        str(root),
        "--resolve",
        f"files.a.test:{srv.port}:127.0.0.1",
        f"https://files.a.test:{srv.port}/healthz",
    )
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "ok", r.stderr
    r = _s_client(srv.port, root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _served_leaf(r.stdout) == leaf
    assert not (data_dir / "tls").exists()  # no self-issued certificate with operator files


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("openssl"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_revocation_url_on_plain_http_beside_tls(
    data_dir: Path, tmp_path: Path, https_servers: list[HttpsServer]
) -> None:
    """ACME and the API over HTTPS; the CRL and OCSP URLs in certificates point to a second
    ``serve`` without TLS on the same data folder, which openssl fetches over plain HTTP."""
    plain_port = free_port()
    config = data_dir / "online.toml"
    config.write_text(
        config.read_text().replace(
            "[service]\n", f'[service]\nrevocation_url = "http://127.0.0.1:{plain_port}/"\n', 1
        )
    )
    plain = start_server(data_dir, port=plain_port, log=tmp_path / "plain.log")
    try:
        srv = start_https(data_dir, ["--tls", "self"])
        https_servers.append(srv)
        root = data_dir / "ca" / "root.pem"
        assert json.loads(srv.get("/acme/directory")[1])["newOrder"].startswith("https://")

        pem, _key = make_csr(["revocable.a.test"])
        token = _admin_token(data_dir)
        req = urllib.request.Request(
            srv.base + "/api/v1/certificates",
            data=json.dumps({"profile": "tls-server", "csr": pem.decode()}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30, context=srv.context()) as r:
            body = json.loads(r.read())
        leaf, chain = tmp_path / "leaf.pem", tmp_path / "chain.pem"
        leaf.write_text(body["certificate"])
        chain.write_text(body["chain"])
        cert = x509.load_pem_x509_certificate(leaf.read_bytes())
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert str(cdp[0].full_name[0].value).startswith(  # type: ignore[index]
            f"http://127.0.0.1:{plain_port}/crl/"
        )
        verify = ["verify", "-crl_check", "-crl_download", "-CAfile", str(root)]
        verify += ["-untrusted", str(chain), str(leaf)]
        r = _openssl(*verify)
        assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr

        serial = format(cert.serial_number, "x")
        req = urllib.request.Request(
            f"{srv.base}/api/v1/certificates/{serial}/revoke",
            data=json.dumps({"reason": "keyCompromise"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30, context=srv.context()) as r:
            assert r.status == 200
        r = _openssl(*verify)
        assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr, r.stdout
        issuer = tmp_path / "issuer.pem"
        issuer.write_bytes(
            x509.load_pem_x509_certificates(chain.read_bytes())[0].public_bytes(
                serialization.Encoding.PEM
            )
        )
        r = _openssl(
            "ocsp",
            "-issuer",
            str(issuer),
            "-cert",
            str(leaf),
            "-CAfile",
            str(root),
            "-VAfile",
            str(issuer),
            "-url",
            f"http://127.0.0.1:{plain_port}/ocsp",
        )
        assert r.returncode == 0 and f"{leaf}: revoked" in r.stdout, r.stdout + r.stderr
    finally:
        plain.stop()


def _self_signed(
    key: ec.EllipticCurvePrivateKey, not_before: datetime, not_after: datetime
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "refusal test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_inputs(tmp_path: Path) -> dict[str, str]:
    now = datetime.now(UTC)
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    files = {
        "cert": _self_signed(key, now - timedelta(hours=1), now + timedelta(days=1)),
        "key": _pem_key(key),
        "other_key": _pem_key(other),
        "expired": _self_signed(key, now - timedelta(days=3), now - timedelta(days=1)),
        "encrypted_key": _pem_key(key, b"secret"),
        "junk": b"this is not PEM\n",
    }
    out: dict[str, str] = {}
    for name, content in files.items():
        path = tmp_path / f"{name}.pem"
        path.write_bytes(content)
        out[name] = str(path)
    out["missing"] = str(tmp_path / "missing.pem")
    return out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--tls-cert", "{cert}"], "--tls-cert {cert}: needs --tls-key"),
        (["--tls-key", "{key}"], "--tls-key {key}: needs --tls-cert"),
        (["--tls", "bogus"], "--tls 'bogus': unknown value"),
        (["--tls", "self", "--tls-cert", "{cert}", "--tls-key", "{key}"], "--tls self: cannot"),
        (["--tls-cert", "{missing}", "--tls-key", "{key}"], "--tls-cert {missing}: cannot be read"),
        (["--tls-cert", "{cert}", "--tls-key", "{missing}"], "--tls-key {missing}: cannot be read"),
        (
            ["--tls-cert", "{junk}", "--tls-key", "{key}"],
            "--tls-cert {junk}: not a PEM certificate",
        ),
        (
            ["--tls-cert", "{cert}", "--tls-key", "{junk}"],
            "--tls-key {junk}: not a PEM private key",
        ),
        (["--tls-cert", "{cert}", "--tls-key", "{other_key}"], "--tls-key {other_key}: does not"),
        (["--tls-cert", "{cert}", "--tls-key", "{encrypted_key}"], "--tls-key {encrypted_key}:"),
        (["--tls-cert", "{expired}", "--tls-key", "{key}"], "--tls-cert {expired}: expired"),
        (["--tls", "self", "--public-url", "http://127.0.0.1:1"], "--public-url"),
        (["--tls", "self", "--listen", "0.0.0.0:{port}"], "--tls self: --listen 0.0.0.0"),
    ],
)
def test_tls_refusals(
    tmp_path: Path, tls_inputs: dict[str, str], extra: list[str], needle: str
) -> None:
    port = str(free_port())
    subs = {**tls_inputs, "port": port}

    def fill(text: str) -> str:
        for name, value in subs.items():
            text = text.replace("{" + name + "}", value)
        return text

    data = tmp_path / "data"
    args = ["serve", "--data", str(data), "--listen", f"127.0.0.1:{port}"]
    r = cli(*args, *[fill(a) for a in extra])
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert fill(needle) in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not data.exists()  # refused before anything was bootstrapped


def test_tls_self_refused_by_profile(data_dir: Path) -> None:
    port = free_port()
    r = cli(
        "serve",
        "--data",
        str(data_dir),
        "--listen",
        f"127.0.0.1:{port}",
        "--tls",
        "self",
        "--public-url",
        f"https://ca.example.com:{port}",
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --tls self: profile tls-server"), lines
    assert "ca.example.com" in lines[0] and "Traceback" not in r.stderr
