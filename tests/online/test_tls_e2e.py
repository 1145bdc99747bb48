"""End to end with real TLS tools: a leaf from the service served by ``openssl s_server``,
accepted by ``curl --cacert root.pem``; once revoked, ``openssl verify -crl_check`` refuses it
using the CRL shard fetched from the URL in the certificate."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.online.conftest import api, free_port, http, tool
from tests.online.helpers import make_csr


def _crl_pem(url: str) -> bytes:
    status, _h, der = http("GET", url)
    assert status == 200
    return x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)


def test_tls_server_curl_and_crl_check(server_factory: Any, tmp_path: Path) -> None:
    openssl, curl = tool("openssl"), tool("curl")
    srv = server_factory(data=tmp_path / "empty")  # serve bootstraps the empty folder itself
    token = srv.token("tls-server")
    pem, key = make_csr(["tls.a.test"], ips=["127.0.0.1"])
    status, body = api(
        "POST",
        srv.url("/api/v1/certificates"),
        token,
        {"profile": "tls-server", "csr": pem.decode()},
    )
    assert status == 201, body
    leaf, chain = tmp_path / "leaf.pem", tmp_path / "chain.pem"
    leaf.write_text(body["certificate"])
    chain.write_text(body["chain"])
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    root = tmp_path / "root.pem"
    root.write_bytes(http("GET", srv.url("/ca/root.pem"))[2])

    port = free_port()
    s_server = subprocess.Popen(
        [
            openssl,
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(leaf),
            "-key",
            str(tmp_path / "key.pem"),
            "-cert_chain",
            str(chain),
            "-www",
            "-quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            r = subprocess.run(
                [
                    curl,
                    "-sS",
                    "--max-time",
                    "5",
                    "--resolve",
                    f"tls.a.test:{port}:127.0.0.1",
                    "--cacert",
                    str(root),
                    f"https://tls.a.test:{port}/",
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if r.returncode != 7:  # 7 = could not connect yet
                break
            time.sleep(0.1)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(
            [
                curl,
                "-sS",
                "--max-time",
                "5",
                "--resolve",
                f"tls.a.test:{port}:127.0.0.1",
                f"https://tls.a.test:{port}/",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert r.returncode == 60  # not trusted without our root
    finally:
        s_server.terminate()
        s_server.wait(timeout=10)

    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    shard_url = str(cdp[0].full_name[0].value)  # type: ignore[index]
    crls = tmp_path / "crls.pem"

    def verify() -> subprocess.CompletedProcess[str]:
        crls.write_bytes(_crl_pem(shard_url))
        return subprocess.run(
            [
                openssl,
                "verify",
                "-CAfile",
                str(root),
                "-untrusted",
                str(chain),
                "-crl_check",
                "-CRLfile",
                str(crls),
                str(leaf),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    ok = verify()
    assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
    status, _ = api(
        "POST",
        srv.url(f"/api/v1/certificates/{body['serial']}/revoke"),
        token,
        {"reason": "keyCompromise"},
    )
    assert status == 200
    bad = verify()
    assert bad.returncode != 0 and "certificate revoked" in bad.stdout + bad.stderr
