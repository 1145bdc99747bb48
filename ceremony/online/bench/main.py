"""``scripts/bench-online``: one run, side by side, on this machine (loopback only).

1. REST issuance (P-256 intermediate in SoftHSM2, ``serve --workers 2``), 32 clients:
   certificates/s and p99, lint always and lint off; CFSSL ``serve`` /sign with a P-256
   software key, same client; the in-process cryptography parse+build+sign ceiling; and
   our rates as fractions of those two references, measured in the same run.
2. ACME orders/s, 16 concurrent clients, same client code: ours and Pebble
   (``PEBBLE_VA_NOSLEEP=1``, ``PEBBLE_WFE_NONCEREJECT=0``).
3. CRL of 1,000,000 revoked entries: time and peak RSS, ours (database + SoftHSM2) and a
   bare cryptography CRLBuilder; then a 500-entry delta CRL.
4. OCSP responses/s: ours (cached; new connection per request and keep-alive; nonce,
   i.e. signed per request) and ``openssl ocsp`` as responder.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ceremony.online.bench.acme_load import Http01Responder, run_acme_load
from ceremony.online.bench.loadgen import LoadResult, run_load
from ceremony.online.bench.pebble import start_pebble
from ceremony.online.service import ServiceOptions, open_service

BIN = Path(sys.executable).parent
Rows = list[tuple[str, str, str]]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


class Procs:
    """Child processes of the run, each in its own process group, stopped at exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")
        p = subprocess.Popen(
            args, stdout=log, stderr=log, env=env, start_new_session=True, cwd=self.log_dir
        )
        log.close()
        self.procs.append(p)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def p256_csr(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def ratio(ours: float, reference: float | None) -> str:
    return f"{ours / reference:.3f}x" if reference else "n/a"


def fmt_rate(r: LoadResult, unit: str) -> str:
    err = f", {len(r.errors)} errors" if r.errors else ""
    p50, p99 = r.percentile(0.5) * 1000, r.percentile(0.99) * 1000
    return f"{r.rate:,.0f} {unit}/s (p50 {p50:.0f} ms, p99 {p99:.0f} ms{err})"


# --- 1. REST issuance ----------------------------------------------------------------


def rest_load(port: int, token: str, profile: str, total: int, clients: int) -> LoadResult:
    csrs = [p256_csr(f"bench{i}.a.test").decode() for i in range(clients)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def req(i: int) -> tuple[str, str, bytes, dict[str, str]]:
        body = json.dumps({"profile": profile, "csr": csrs[i % clients]}).encode()
        return "POST", "/api/v1/certificates", body, headers

    def accept(status: int, data: bytes) -> str | None:
        return str(json.loads(data)["certificate"]) if status == 201 else None

    return run_load(port, total, clients, req, accept)


def cfssl_load(port: int, total: int, clients: int) -> LoadResult:
    csrs = [p256_csr(f"bench{i}.a.test").decode() for i in range(clients)]

    def req(i: int) -> tuple[str, str, bytes, dict[str, str]]:
        body = json.dumps({"certificate_request": csrs[i % clients]}).encode()
        return "POST", "/api/v1/cfssl/sign", body, {"Content-Type": "application/json"}

    def accept(status: int, data: bytes) -> str | None:
        if status != 200:
            return None
        doc = json.loads(data)
        return str(doc["result"]["certificate"]) if doc.get("success") else None

    return run_load(port, total, clients, req, accept)


def make_software_ca(folder: Path) -> tuple[Path, Path]:
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


def _ceiling_worker(seconds: float, out: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ceiling CA")])
    csr_pem = p256_csr("ceiling.a.test")
    n = 0
    end = time.monotonic() + seconds
    now = datetime.now(UTC)
    while time.monotonic() < end:
        csr = x509.load_pem_x509_csr(csr_pem)
        assert csr.is_signature_valid
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert = (
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
        cert.public_bytes(serialization.Encoding.PEM)
        n += 1
    out.put(n / seconds)


def ceiling(processes: int, seconds: float = 3.0) -> float:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_ceiling_worker, args=(seconds, q)) for _ in range(processes)]
    for p in ps:
        p.start()
    rates = [q.get(timeout=120) for _ in ps]
    for p in ps:
        p.join()
    return float(sum(rates))


# --- 4. OCSP ----------------------------------------------------------------------------


def ocsp_requests(
    certs: list[x509.Certificate], issuer: x509.Certificate, nonce: bool
) -> list[bytes]:
    out = []
    for i, c in enumerate(certs):
        b = ocsp.OCSPRequestBuilder().add_certificate(c, issuer, hashes.SHA1())
        if nonce:
            b = b.add_extension(x509.OCSPNonce(i.to_bytes(16, "big")), critical=False)
        out.append(b.build().public_bytes(serialization.Encoding.DER))
    return out


def ocsp_load(
    port: int, path: str, reqs: list[bytes], total: int, clients: int, keep_alive: bool
) -> LoadResult:
    def req(i: int) -> tuple[str, str, bytes, dict[str, str]]:
        return "POST", path, reqs[i % len(reqs)], {"Content-Type": "application/ocsp-request"}

    def accept(status: int, data: bytes) -> str | None:
        if status != 200:
            return None
        r = ocsp.load_der_ocsp_response(data)
        return "ok" if r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL else None

    return run_load(port, total, clients, req, accept, keep_alive=keep_alive)


def openssl_index(certs: list[x509.Certificate], path: Path) -> None:
    lines = []
    for c in certs:
        exp = c.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
        lines.append(f"V\t{exp}\t\t{c.serial_number:X}\tunknown\t{c.subject.rfc4514_string()}")
    path.write_text("\n".join(lines) + "\n")
    path.with_name(path.name + ".attr").write_text("unique_subject = no\n")


# --- the run --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench-online", description=__doc__)
    ap.add_argument("--database", help="postgresql://... (default: embedded SQLite)")
    ap.add_argument("--issuances", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="serve --workers (default 2)")
    ap.add_argument("--acme-clients", type=int, default=16)
    ap.add_argument("--acme-orders", type=int, default=8, help="orders per ACME client")
    ap.add_argument("--crl-entries", type=int, default=1_000_000)
    ap.add_argument("--ocsp-requests", type=int, default=10000)
    ap.add_argument("--only", default="rest,acme,crl,ocsp")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench-online-"))
    procs = Procs(work)
    rows: Rows = []
    figures: dict[str, Any] = {}

    def row(what: str, ours: str, other: str) -> None:
        rows.append((what, ours, other))
        print(f"  {what}: {ours} | {other}", file=sys.stderr, flush=True)

    try:
        data = work / "data"
        open_service(ServiceOptions(data=data, database=args.database)).close()
        with (data / "online.toml").open("a") as f:
            f.write(
                '\n[profiles.bench-nolint]\nkind = "tls-server"\ndomains = ["test"]\nlint = "off"\n'
            )
        port = free_port()
        http01 = free_port()
        serve = [
            str(BIN / "ceremony-online"),
            "serve",
            "--data",
            str(data),
            "--listen",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--acme-http01-port",
            str(http01),
            "--acme-resolve-to",
            "127.0.0.1",
        ]
        if args.database:
            serve += ["--database", args.database]
        procs.start("ceremony-online", serve)
        wait_http(f"http://127.0.0.1:{port}/healthz")
        tok = subprocess.run(
            [
                str(BIN / "ceremony-online"),
                "token",
                "create",
                "--data",
                str(data),
                "--name",
                "bench",
                "--profile",
                "*",
                *(["--database", args.database] if args.database else []),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        issued: list[x509.Certificate] = []
        cfssl_certs: list[x509.Certificate] = []
        ca_pem, ca_key = make_software_ca(work)

        if "rest" in only:
            print(f"== REST issuance ({args.workers} workers)", file=sys.stderr)
            rest_load(port, tok, "tls-server", 64, 8)  # warm-up
            r1 = rest_load(port, tok, "tls-server", args.issuances, args.clients)
            r2 = rest_load(port, tok, "bench-nolint", args.issuances, args.clients)
            issued = [x509.load_pem_x509_certificate(p.encode()) for p in r1.ok[:500]]
            figures["rest_lint"] = {
                "rate": r1.rate,
                "p99": r1.percentile(0.99),
                "errors": len(r1.errors),
            }
            figures["rest_nolint"] = {
                "rate": r2.rate,
                "p99": r2.percentile(0.99),
                "errors": len(r2.errors),
            }
            cfssl_rate: float | None = None
            if shutil.which("cfssl"):
                cport = free_port()
                (work / "cfssl.json").write_text(
                    json.dumps(
                        {
                            "signing": {
                                "default": {
                                    "expiry": "720h",
                                    "usages": ["digital signature", "server auth"],
                                }
                            }
                        }
                    )
                )
                procs.start(
                    "cfssl",
                    [
                        "cfssl",
                        "serve",
                        "-address",
                        "127.0.0.1",
                        "-port",
                        str(cport),
                        "-ca",
                        str(ca_pem),
                        "-ca-key",
                        str(ca_key),
                        "-config",
                        str(work / "cfssl.json"),
                    ],
                )
                wait_http(f"http://127.0.0.1:{cport}/api/v1/cfssl/health")
                cfssl_load(cport, 64, 8)
                rc = cfssl_load(cport, args.issuances, args.clients)
                cfssl_certs = [x509.load_pem_x509_certificate(p.encode()) for p in rc.ok[:500]]
                cfssl_text = fmt_rate(rc, "certs")
                cfssl_rate = rc.rate
                figures["cfssl"] = {
                    "rate": rc.rate,
                    "p99": rc.percentile(0.99),
                    "errors": len(rc.errors),
                }
            else:
                cfssl_text = "cfssl not installed"
            row(
                f"REST sign, {args.clients} clients, {args.workers} workers, lint always",
                fmt_rate(r1, "certs"),
                f"CFSSL serve /sign: {cfssl_text}",
            )
            c1, c2 = ceiling(1), ceiling(2)
            figures["ceiling"] = {"1proc": c1, "2proc": c2}
            row(
                f"REST sign, {args.clients} clients, {args.workers} workers, lint off",
                fmt_rate(r2, "certs"),
                f"in-process parse+build+sign ceiling: {c1:,.0f}/s (1 core), "
                f"{c2:,.0f}/s (2 processes)",
            )
            figures["ratios"] = {
                "lint_vs_cfssl": r1.rate / cfssl_rate if cfssl_rate else None,
                "nolint_vs_cfssl": r2.rate / cfssl_rate if cfssl_rate else None,
                "lint_vs_ceiling_2proc": r1.rate / c2 if c2 else None,
                "nolint_vs_ceiling_2proc": r2.rate / c2 if c2 else None,
            }
            row(
                "REST sign as a fraction of the references (same run)",
                f"lint always {ratio(r1.rate, cfssl_rate)} CFSSL, "
                f"{ratio(r1.rate, c2)} ceiling; lint off {ratio(r2.rate, cfssl_rate)} CFSSL, "
                f"{ratio(r2.rate, c2)} ceiling",
                "ceiling: 2 processes",
            )

        if "acme" in only:
            print("== ACME", file=sys.stderr)
            responder = Http01Responder(http01)
            try:
                ra = run_acme_load(
                    f"http://127.0.0.1:{port}/acme/directory",
                    responder,
                    args.acme_clients,
                    args.acme_orders,
                )
            finally:
                responder.close()
            figures["acme_ours"] = {"rate": ra.rate, "orders": ra.orders, "errors": len(ra.errors)}
            peb_text = "pebble not installed"
            if shutil.which("pebble") and shutil.which("pebble-challtestsrv"):
                pport, phttp = free_port(), free_port()
                peb = start_pebble(work / "pebble", pport, phttp)
                procs.procs += peb.procs
                ctx = ssl.create_default_context(cafile=str(peb.tls_ca))
                responder = Http01Responder(phttp)
                try:
                    rp = run_acme_load(
                        f"https://127.0.0.1:{pport}/dir",
                        responder,
                        args.acme_clients,
                        args.acme_orders,
                        tls=ctx,
                    )
                finally:
                    responder.close()
                figures["acme_pebble"] = {
                    "rate": rp.rate,
                    "orders": rp.orders,
                    "errors": len(rp.errors),
                }
                peb_text = (
                    f"Pebble: {rp.rate:.1f} orders/s ({rp.orders} orders, {len(rp.errors)} errors)"
                )
            row(
                f"ACME full orders, {args.acme_clients} clients",
                f"{ra.rate:.1f} orders/s ({ra.orders} orders, {len(ra.errors)} errors)",
                peb_text,
            )
            for e in (ra.errors)[:3]:
                print(f"    ours: {e}", file=sys.stderr)

        if "ocsp" in only and issued:
            print("== OCSP", file=sys.stderr)
            inter = x509.load_pem_x509_certificates(
                (next((data / "ca" / "issuers").iterdir()) / "certificate.pem").read_bytes()
            )[0]
            plain = ocsp_requests(issued, inter, nonce=False)
            nonced = ocsp_requests(issued, inter, nonce=True)
            o1 = ocsp_load(port, "/ocsp", plain, args.ocsp_requests, args.clients, keep_alive=False)
            o2 = ocsp_load(port, "/ocsp", plain, args.ocsp_requests, args.clients, keep_alive=True)
            o3 = ocsp_load(
                port, "/ocsp", nonced, args.ocsp_requests // 2, args.clients, keep_alive=True
            )
            figures["ocsp_ours"] = {"new_conn": o1.rate, "keep_alive": o2.rate, "nonce": o3.rate}
            other = "openssl not installed"
            if shutil.which("openssl") and cfssl_certs:
                openssl_index(cfssl_certs, work / "index.txt")
                oport = free_port()
                procs.start(
                    "openssl-ocsp",
                    [
                        "openssl",
                        "ocsp",
                        "-index",
                        str(work / "index.txt"),
                        "-CA",
                        str(ca_pem),
                        "-rsigner",
                        str(ca_pem),
                        "-rkey",
                        str(ca_key),
                        "-port",  # openssl ocsp cannot bind one address; clients use 127.0.0.1
                        str(oport),
                        "-ignore_err",
                    ],
                )
                time.sleep(1)
                oreqs = ocsp_requests(
                    cfssl_certs, x509.load_pem_x509_certificate(ca_pem.read_bytes()), nonce=False
                )
                oo = ocsp_load(
                    oport, "/", oreqs, args.ocsp_requests, args.clients, keep_alive=False
                )
                figures["ocsp_openssl"] = {"rate": oo.rate, "errors": len(oo.errors)}
                other = f"openssl ocsp: {fmt_rate(oo, 'responses')}"
            row("OCSP, new connection per request", fmt_rate(o1, "responses"), other)
            row("OCSP, keep-alive (cached)", fmt_rate(o2, "responses"), "")
            row("OCSP, nonce (signed per request)", fmt_rate(o3, "responses"), "")

        procs.stop_all()
        if "crl" in only:
            print(f"== CRL {args.crl_entries:,} entries", file=sys.stderr)
            env = {**os.environ, "BENCH_DATABASE": args.database or ""}

            def crl_cmd(*a: str) -> dict[str, Any]:
                out = subprocess.run(
                    [sys.executable, "-m", "ceremony.online.bench.crl_bench", *a],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=True,
                )
                result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
                return result

            fill = crl_cmd("fill", str(data), str(args.crl_entries), "24")
            full = crl_cmd("full", str(data))
            base = crl_cmd("baseline", str(args.crl_entries))
            crl_cmd("fill", str(data), "500", "0")
            delta = crl_cmd("delta", str(data))
            shard = crl_cmd("shard-0", str(data))
            figures["crl"] = {
                "fill": fill,
                "full": full,
                "baseline": base,
                "delta": delta,
                "shard0": shard,
            }
            row(
                f"full CRL, {full['entries']:,} entries ({full['bytes'] / 1e6:.1f} MB)",
                f"{full['seconds']:.1f} s, peak RSS {full['peak_rss_mib']:.0f} MiB",
                f"bare CRLBuilder: {base['seconds']:.1f} s, "
                f"peak RSS {base['peak_rss_mib']:.0f} MiB",
            )
            row(f"delta CRL ({delta['entries']} entries)", f"{delta['seconds'] * 1000:.0f} ms", "")
            row(f"one shard of 16 ({shard['entries']:,} entries)", f"{shard['seconds']:.2f} s", "")
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work}", file=sys.stderr)

    db = "PostgreSQL" if args.database else "SQLite"
    print(
        f"\nceremony-online bench ({os.cpu_count()} cores, {db}, issuing key P-256 in SoftHSM2, "
        f"serve --workers {args.workers})\n"
    )
    print("| measurement | ceremony-online | reference |")
    print("| --- | --- | --- |")
    for what, ours, other in rows:
        print(f"| {what} | {ours} | {other} |")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
