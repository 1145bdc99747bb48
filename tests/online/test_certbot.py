"""certbot (from PyPI) obtains, renews and revokes through http-01: against our
server, and the same test against Pebble (Debian ``pebble``) as the reference."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.online.conftest import VENV_BIN, free_port, tool
from tests.online.pebble_env import start_pebble

NAME = "certbot.a.test"


@dataclass
class AcmeTarget:
    name: str
    directory: str
    http01_port: int
    env: dict[str, str]


@pytest.fixture(params=["ceremony-online", "pebble"])
def target(
    request: pytest.FixtureRequest, tmp_path: Path, server_factory: Any
) -> Iterator[AcmeTarget]:
    http01 = free_port()
    if request.param == "ceremony-online":
        srv = server_factory(
            extra=["--acme-http01-port", str(http01), "--acme-resolve-to", "127.0.0.1"]
        )
        yield AcmeTarget("ours", srv.url("/acme/directory"), http01, {})
        return
    tool("pebble")
    tool("pebble-challtestsrv")
    peb = start_pebble(tmp_path / "pebble", free_port(), http01)
    try:
        yield AcmeTarget("pebble", peb.directory, http01, {"REQUESTS_CA_BUNDLE": str(peb.tls_ca)})
    finally:
        peb.stop()


def certbot(target: AcmeTarget, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    certbot_bin = VENV_BIN / "certbot"
    if not certbot_bin.exists():
        pytest.skip("certbot is not installed in the test environment")
    cmd = [
        str(certbot_bin),
        *args,
        "--server",
        target.directory,  # always: never the default public directory
        "--config-dir",
        str(work / "config"),
        "--work-dir",
        str(work / "work"),
        "--logs-dir",
        str(work / "logs"),
        "--non-interactive",
    ]
    env = {**os.environ, **target.env}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout}\n{r.stderr}"
    return r


def test_certbot_obtain_renew_revoke(target: AcmeTarget, tmp_path: Path) -> None:
    work = tmp_path / "certbot"
    standalone = [
        "--standalone",
        "--http-01-port",
        str(target.http01_port),
        "--http-01-address",
        "127.0.0.1",
    ]
    certbot(
        target,
        work,
        "certonly",
        *standalone,
        "-d",
        NAME,
        "--agree-tos",
        "--register-unsafely-without-email",
    )
    live = work / "config" / "live" / NAME
    first = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    assert first.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName) == [NAME]

    certbot(target, work, "renew", "--force-renewal", "--no-random-sleep-on-renew")
    second = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    assert second.serial_number != first.serial_number

    r = certbot(
        target,
        work,
        "revoke",
        "--cert-path",
        str(live / "cert.pem"),
        "--reason",
        "keycompromise",
        "--no-delete-after-revoke",
    )
    assert "successfully revoked" in r.stdout + r.stderr
