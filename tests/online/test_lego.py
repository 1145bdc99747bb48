"""lego (Debian ``lego``), a second real ACME client beside certbot: account with an
external account binding, http-01 order, renewal and revocation; the server requires EAB."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509

from tests.online.conftest import cli, free_port, http, tool

NAME = "lego.a.test"


def _require_eab(data: Path) -> None:
    config = data / "online.toml"
    text = config.read_text()
    assert "eab_required = false" in text
    config.write_text(text.replace("eab_required = false", "eab_required = true"))


def test_lego_eab_obtain_renew_revoke(server_factory: Any, tmp_path: Path) -> None:
    lego = tool("lego")
    http01 = free_port()
    data = tmp_path / "data"
    srv = server_factory(
        extra=["--acme-http01-port", str(http01), "--acme-resolve-to", "127.0.0.1"]
    )
    srv.stop()  # require EAB, then serve again on the same folder
    open_log = (data.parent / f"server-{srv.port}.log").read_text()
    assert "ACME needs no external account binding" in open_log  # said at start
    _require_eab(data)
    srv = server_factory(
        extra=["--acme-http01-port", str(http01), "--acme-resolve-to", "127.0.0.1"]
    )
    assert "external account binding" not in (data.parent / f"server-{srv.port}.log").read_text()
    out = cli("eab", "create", "--data", str(data))
    assert out.returncode == 0, out.stderr
    kid, hmac_key = out.stdout.split()[1], out.stdout.split()[3]
    work = tmp_path / "lego"

    def run(*args: str, eab: bool = False) -> subprocess.CompletedProcess[str]:
        cmd = [
            lego,
            "--server",
            srv.url("/acme/directory"),  # always: never the default public directory
            "--path",
            str(work),
            "--email",
            "ops@a.test",
            "--accept-tos",
            "--domains",
            NAME,
            "--http",
            "--http.port",
            f"127.0.0.1:{http01}",
        ]
        if eab:
            cmd += ["--eab", "--kid", kid, "--hmac", hmac_key]
        r = subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env={**os.environ, "LEGO_DISABLE_CNAME_SUPPORT": "true"},
        )
        assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout}\n{r.stderr}"
        return r

    without = subprocess.run(
        [
            lego,
            "--server",
            srv.url("/acme/directory"),
            "--path",
            str(tmp_path / "no-eab"),
            "--email",
            "x@a.test",
            "--accept-tos",
            "--domains",
            NAME,
            "--http",
            "--http.port",
            f"127.0.0.1:{http01}",
            "run",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert without.returncode != 0 and "External Account Binding" in without.stderr

    run("run", eab=True)
    cert_file = work / "certificates" / f"{NAME}.crt"
    first = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
    sans = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [NAME]
    rows = [
        line.split("\t") for line in cli("eab", "list", "--data", str(data)).stdout.splitlines()
    ]
    assert [r[1] for r in rows if r[0] == kid] == ["bound"]

    run("renew", "--days", "3650", "--no-random-sleep", eab=True)  # lego asks EAB each time
    second = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
    assert second.serial_number != first.serial_number

    run("revoke", "--reason", "1", "--keep", eab=True)
    status, _h, body = http(
        "GET",
        srv.url(f"/api/v1/certificates/{second.serial_number:x}"),
        None,
        {"Authorization": f"Bearer {srv.token()}"},
    )
    assert status == 200 and b'"status":"revoked"' in body.replace(b" ", b"")
