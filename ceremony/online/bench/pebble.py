"""Pebble (Debian ``pebble``) and its challenge test server on loopback, for reference runs.

Pebble serves ACME over HTTPS only: a throwaway CA made here signs its
``127.0.0.1`` certificate, and clients trust it through ``REQUESTS_CA_BUNDLE``.
``pebble-challtestsrv`` answers Pebble's DNS queries (every name is
127.0.0.1) and, through its management API, TXT records for dns-01.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test TLS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (folder / "tls-ca.pem", folder / "tls-cert.pem", folder / "tls-key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Pebble:
    directory: str
    tls_ca: Path
    challtest_management: str
    dns_server: str
    procs: list[subprocess.Popen[bytes]]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(timeout=10)


def start_pebble(
    folder: Path, acme_port: int, http01_port: int, tlsalpn_port: int | None = None
) -> Pebble:
    """Pebble on ``acme_port`` (no VA sleeps, no nonce rejection) and its DNS server."""
    ports = {"acme": acme_port, **{k: free_port() for k in ("management", "dns", "challmgmt")}}
    tlsalpn_port = tlsalpn_port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    ca, cert, key = _tls_files(folder)
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{ports['acme']}",
            "managementListenAddress": f"127.0.0.1:{ports['management']}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": http01_port,
            "tlsPort": tlsalpn_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (folder / "pebble.json").write_text(json.dumps(config))
    log = open(folder / "pebble.log", "ab")
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    chall = subprocess.Popen(
        [
            "pebble-challtestsrv",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            "-dns01",
            f"127.0.0.1:{ports['dns']}",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            f"127.0.0.1:{ports['challmgmt']}",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    pebble = subprocess.Popen(
        [
            "pebble",
            "-config",
            str(folder / "pebble.json"),
            "-dnsserver",
            f"127.0.0.1:{ports['dns']}",
        ],
        stdout=log,
        stderr=log,
        env=env,
        start_new_session=True,
    )
    log.close()
    result = Pebble(
        directory=f"https://127.0.0.1:{ports['acme']}/dir",
        tls_ca=ca,
        challtest_management=f"http://127.0.0.1:{ports['challmgmt']}",
        dns_server=f"127.0.0.1:{ports['dns']}",
        procs=[chall, pebble],
    )
    ctx = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(result.directory, timeout=2, context=ctx) as r:
                if r.status == 200:
                    return result
        except OSError:
            time.sleep(0.2)
    result.stop()
    raise RuntimeError("pebble did not start")
