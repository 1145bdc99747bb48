"""``openssl verify -crl_check -crl_download`` on certificates issued before and after
the events that used to re-stamp the CRLs with other URLs: a ``ceremony-online crl`` run,
a switch to ``--tls self``, a second ``serve`` on the same PostgreSQL at another address,
and ``urls set`` (old certificates keep their CRLs at the old URL)."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509

from tests.online.conftest import Server, api, cli, free_port, start_server, tool
from tests.online.helpers import make_csr
from tests.online.test_tls_serve import HttpsServer, start_https


class _Issued:
    def __init__(self, tmp: Path, body: dict[str, Any]) -> None:
        self.serial: str = body["serial"]
        self.leaf = tmp / f"{self.serial}.pem"
        self.chain = tmp / f"{self.serial}-chain.pem"
        self.leaf.write_text(body["certificate"])
        self.chain.write_text(body["chain"])

    @property
    def cdp(self) -> str:
        cert = x509.load_pem_x509_certificate(self.leaf.read_bytes())
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        return str(ext[0].full_name[0].value)  # type: ignore[index]


def _issue(srv: Server, token: str, tmp: Path, name: str) -> _Issued:
    pem, _key = make_csr([name])
    status, body = api(
        "POST",
        srv.url("/api/v1/certificates"),
        token,
        {"profile": "tls-server", "csr": pem.decode()},
    )
    assert status == 201, body
    return _Issued(tmp, body)


def _revoke(srv: Server, token: str, cert: _Issued) -> None:
    status, body = api(
        "POST",
        srv.url(f"/api/v1/certificates/{cert.serial}/revoke"),
        token,
        {"reason": "keyCompromise"},
    )
    assert status == 200, body


def _https(srv: HttpsServer, path: str, token: str, obj: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        srv.base + path,
        data=json.dumps(obj).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    ctx: ssl.SSLContext = srv.context()
    with urllib.request.urlopen(req, timeout=60, context=ctx) as r:
        result: dict[str, Any] = json.loads(r.read())
    return result


def _verify(root: Path, cert: _Issued) -> subprocess.CompletedProcess[str]:
    args = [tool("openssl"), "verify", "-crl_check", "-crl_download", "-CAfile", str(root)]
    args += ["-untrusted", str(cert.chain), str(cert.leaf)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def _assert_valid(root: Path, *certs: _Issued) -> None:
    for cert in certs:
        r = _verify(root, cert)
        assert r.returncode == 0 and ": OK" in r.stdout, cert.cdp + "\n" + r.stdout + r.stderr


def _assert_revoked(root: Path, *certs: _Issued) -> None:
    for cert in certs:
        r = _verify(root, cert)
        assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr, (
            cert.cdp + "\n" + r.stdout + r.stderr
        )


def test_crl_command_run(server_factory: Any, tmp_path: Path) -> None:
    srv = server_factory()
    root = srv.data / "ca" / "root.pem"
    token = srv.token("tls-server")
    before = _issue(srv, token, tmp_path, "before.a.test")
    gone = _issue(srv, token, tmp_path, "gone.a.test")
    r = cli("crl", "--data", str(srv.data))
    assert r.returncode == 0, r.stderr
    r = cli("revoke", "--data", str(srv.data), gone.serial, "--reason", "keyCompromise")
    assert r.returncode == 0, r.stderr
    after = _issue(srv, token, tmp_path, "after.a.test")
    assert before.cdp.startswith(srv.url("/crl/")) and after.cdp.startswith(srv.url("/crl/"))
    _assert_valid(root, before, after)
    _assert_revoked(root, gone)
    r = cli("check", "--data", str(srv.data))
    assert r.returncode == 0 and "all match" in r.stdout, r.stdout + r.stderr


def test_switch_to_tls_self(server_factory: Any, tmp_path: Path) -> None:
    plain = server_factory()  # the first start records its URL; it keeps serving CRLs
    root = plain.data / "ca" / "root.pem"
    token = plain.token(name="ops")
    before = _issue(plain, token, tmp_path, "before.a.test")
    srv = start_https(plain.data, ["--tls", "self"])
    try:
        body = _https(
            srv,
            "/api/v1/certificates",
            token,
            {"profile": "tls-server", "csr": make_csr(["after.a.test"])[0].decode()},
        )
        after = _Issued(tmp_path, body)
        body = _https(
            srv,
            "/api/v1/certificates",
            token,
            {"profile": "tls-server", "csr": make_csr(["gone.a.test"])[0].decode()},
        )
        gone = _Issued(tmp_path, body)
        _https(
            srv, f"/api/v1/certificates/{gone.serial}/revoke", token, {"reason": "keyCompromise"}
        )
        _https(srv, f"/api/v1/certificates/{before.serial}/revoke", token, {"reason": "superseded"})
        before_kept = _issue(plain, token, tmp_path, "kept.a.test")
    finally:
        srv.stop()
    assert after.cdp.startswith(plain.url("/crl/"))  # not https://, not the TLS port
    _assert_valid(root, after, before_kept)
    _assert_revoked(root, gone, before)
    own = _Issued(
        tmp_path,
        {
            "serial": "tls",
            "certificate": (plain.data / "tls" / "server.pem").read_text(),
            "chain": (plain.data / "tls" / "server.pem").read_text(),
        },
    )
    _assert_valid(root, own)  # the service's own TLS certificate too


def test_second_serve_on_one_postgresql(server_factory: Any, tmp_path: Path, pg_url: str) -> None:
    one = server_factory(database=pg_url)
    two = server_factory(database=pg_url)  # same data folder and database, another port
    root = one.data / "ca" / "root.pem"
    token = one.token(name="ops")
    a = _issue(one, token, tmp_path, "a.a.test")
    b = _issue(two, token, tmp_path, "b.a.test")
    gone_one = _issue(one, token, tmp_path, "g1.a.test")
    gone_two = _issue(two, token, tmp_path, "g2.a.test")
    _revoke(two, token, gone_one)
    _revoke(one, token, gone_two)
    assert {a.cdp.split("/crl/")[0], b.cdp.split("/crl/")[0]} == {one.base}
    _assert_valid(root, a, b)
    _assert_revoked(root, gone_one, gone_two)


def test_urls_set_keeps_old_crls_at_old_urls(server_factory: Any, tmp_path: Path) -> None:
    old = server_factory()
    root = old.data / "ca" / "root.pem"
    token = old.token(name="ops")
    before = _issue(old, token, tmp_path, "before.a.test")
    gone_before = _issue(old, token, tmp_path, "gone-before.a.test")
    new_port = free_port()
    r = cli("urls", "set", "--data", str(old.data), "--base", f"http://127.0.0.1:{new_port}")
    assert r.returncode == 0 and "generation 2" in r.stdout, r.stderr
    new = start_server(old.data, port=new_port, log=tmp_path / "new.log")
    try:
        after = _issue(new, token, tmp_path, "after.a.test")
        gone_after = _issue(new, token, tmp_path, "gone-after.a.test")
        assert after.cdp.startswith(new.url("/crl/")) and "/2/" in after.cdp
        _revoke(new, token, gone_before)
        _revoke(old, token, gone_after)
        _assert_valid(root, before, after)
        _assert_revoked(root, gone_before, gone_after)
        r = cli("check", "--data", str(old.data))
        assert r.returncode == 0 and "all match" in r.stdout, r.stdout + r.stderr
        old.stop()  # the old URL goes away: check says which certificates are affected
        r = cli("check", "--data", str(old.data))
        assert r.returncode == 1 and before.cdp.split("/crl/")[0] in r.stdout, r.stdout
    finally:
        new.stop()
