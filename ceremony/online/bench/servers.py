"""The servers a benchmark run starts: ours, CFSSL ``serve``, ``openssl ocsp``; each in a
session of its own (so its CPU time can be read, :mod:`ceremony.online.bench.cpu`) and
stopped at the end of the run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ceremony.online.bench.cpu import session_pids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


class Procs:
    """Child processes of the run, each in its own session, stopped at exit."""

    def __init__(self, log_dir: Path, procs: list[subprocess.Popen[bytes]] | None = None) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = procs or []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> int:
        """Start ``args``; returns its session id (its pid)."""
        log = open(self.log_dir / f"{name}.log", "ab")
        p = subprocess.Popen(
            args, stdout=log, stderr=log, env=env, start_new_session=True, cwd=self.log_dir
        )
        log.close()
        self.procs.append(p)
        return p.pid

    def stop(self, sid: int) -> None:
        stopping = [p for p in self.procs if p.pid == sid]
        self.procs = [p for p in self.procs if p.pid != sid]
        Procs(self.log_dir, stopping).stop_all()

    def stop_all(self) -> None:
        """SIGTERM to every process of each session (some leave its process group),
        SIGKILL to what is left after 20 s."""
        for p in self.procs:
            _signal_session(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_session(p.pid, signal.SIGKILL)
                p.wait(timeout=20)
        end = time.monotonic() + 20
        while any(session_pids(p.pid) for p in self.procs) and time.monotonic() < end:
            time.sleep(0.2)
        for p in self.procs:
            _signal_session(p.pid, signal.SIGKILL)
        self.procs.clear()


def _signal_session(sid: int, sig: int) -> None:
    for pid in session_pids(sid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def p256_csr(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def make_software_ca(folder: Path) -> tuple[Path, Path]:
    """A P-256 CA with its key in a file, for CFSSL and ``openssl ocsp``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench software CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "ca.pem", folder / "ca-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def start_cfssl(
    procs: Procs, work: Path, ca: Path, ca_key: Path, prefix: list[str]
) -> tuple[int, int]:
    """CFSSL ``serve`` signing with the software CA; (port, session id)."""
    port = free_port()
    config = work / "cfssl.json"
    usages = ["digital signature", "server auth"]
    config.write_text(json.dumps({"signing": {"default": {"expiry": "720h", "usages": usages}}}))
    sid = procs.start(
        "cfssl",
        [
            *prefix,
            "cfssl",
            "serve",
            "-address",
            "127.0.0.1",
            "-port",
            str(port),
            "-ca",
            str(ca),
            "-ca-key",
            str(ca_key),
            "-config",
            str(config),
        ],
    )
    wait_http(f"http://127.0.0.1:{port}/api/v1/cfssl/health")
    return port, sid


def openssl_index(certs: list[x509.Certificate], path: Path) -> None:
    lines = []
    for c in certs:
        exp = c.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
        lines.append(f"V\t{exp}\t\t{c.serial_number:X}\tunknown\t{c.subject.rfc4514_string()}")
    path.write_text("\n".join(lines) + "\n")
    path.with_name(path.name + ".attr").write_text("unique_subject = no\n")


def start_openssl_ocsp(
    procs: Procs,
    work: Path,
    ca: Path,
    ca_key: Path,
    certs: list[x509.Certificate],
    processes: int,
    prefix: list[str],
) -> tuple[int, int]:
    """``openssl ocsp`` answering for ``certs`` with ``processes`` responder processes;
    (port, session id). Once a load stops mid-request it answers no more: one per load."""
    openssl_index(certs, work / "index.txt")
    port = free_port()
    log = work / "openssl-ocsp.log"
    seen = log.stat().st_size if log.exists() else 0
    # -multi makes its own process group, which a session leader may not: run it under sh
    sid = procs.start(
        "openssl-ocsp",
        [
            "sh",
            "-c",
            'trap \'kill -TERM "$child"\' TERM; "$@" & child=$!; wait "$child"',
            "sh",
            *prefix,
            "openssl",
            "ocsp",
            "-index",
            str(work / "index.txt"),
            "-CA",
            str(ca),
            "-rsigner",
            str(ca),
            "-rkey",
            str(ca_key),
            "-port",  # openssl ocsp cannot bind one address; clients use 127.0.0.1
            str(port),
            "-multi",
            str(processes),
            "-ignore_err",
        ],
    )
    _wait_log(log, seen, f":{port} PID=")  # a probe connection would stop it
    return port, sid


def _wait_log(log: Path, after: int, text: str, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists() and text in log.read_bytes()[after:].decode(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{log.name}: {text!r} did not appear")
