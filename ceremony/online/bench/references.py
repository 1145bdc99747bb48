"""In-process references measured in the same run: what pkilint alone can lint, and what
parsing a CSR and building and signing its certificate costs with cryptography alone, each
in N processes at once. Each figure comes with the CPU milliseconds per item."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ceremony.online.bench.servers import p256_csr


@dataclass(frozen=True)
class InProcess:
    rate: float
    """Items per second, all processes together."""
    cpu_ms: float
    """CPU milliseconds per item."""


def _leaf(key: ec.EllipticCurvePrivateKey, csr: x509.CertificateSigningRequest) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reference CA")])
    now = datetime.now(UTC)
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )


def _sign_worker(seconds: float, out: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr_pem = p256_csr("reference.a.test")
    n, end, cpu0 = 0, time.monotonic() + seconds, time.process_time()
    while time.monotonic() < end:
        csr = x509.load_pem_x509_csr(csr_pem)
        assert csr.is_signature_valid
        _leaf(key, csr).public_bytes(serialization.Encoding.PEM)
        n += 1
    out.put((n, seconds, time.process_time() - cpu0))


def _lint_worker(seconds: float, out: Any, der: bytes) -> None:
    from ceremony.online import lint

    lint.warm()
    lint.lint_certificate(der)
    n, end, cpu0 = 0, time.monotonic() + seconds, time.process_time()
    while time.monotonic() < end:
        lint.lint_certificate(der)
        n += 1
    out.put((n, seconds, time.process_time() - cpu0))


def _run(target: Any, processes: int, seconds: float, *args: Any) -> InProcess:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=target, args=(seconds, q, *args)) for _ in range(processes)]
    for p in ps:
        p.start()
    results = [q.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join()
    items = sum(n for n, _s, _c in results)
    rate = sum(n / s for n, s, _c in results)
    cpu = sum(c for _n, _s, c in results)
    return InProcess(rate, 1000 * cpu / items if items else 0.0)


def sign_ceiling(processes: int, seconds: float) -> InProcess:
    """CSR parse + certificate build + P-256 sign with cryptography, no database, no HTTP."""
    return _run(_sign_worker, processes, seconds)


def pkilint_only(processes: int, seconds: float, der: bytes) -> InProcess:
    """pkilint (the validator ``always`` runs) on the certificate ``der`` over and over."""
    return _run(_lint_worker, processes, seconds, der)
