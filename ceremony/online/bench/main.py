"""``scripts/bench-online``: ceremony-online against its references, in one run on this
machine (loopback only). Each row gives our rate and CPU milliseconds per request (every
process of the server's session), the reference's in the same run, their ratio, the
target, and the one-minute load average before and after.

1. REST /sign under wrk (the same CSR posted over and over, ``--connections`` connections,
   ``--seconds`` each), ``serve --workers 2``, P-256 issuing key in SoftHSM2: lint policy
   ``template`` against CFSSL ``serve`` /sign (P-256 software key) under the same wrk
   load; ``always`` against pkilint alone in two processes; ``off`` against the
   in-process parse+build+sign ceiling in two processes (pkilint on a certificate we
   issued).
2. ACME orders, ``--acme-clients`` concurrent clients, same client code: ours and Pebble
   (``PEBBLE_VA_NOSLEEP=1``, ``PEBBLE_WFE_NONCEREJECT=0``).
3. OCSP under wrk (the same request): keep-alive, a new connection per request, and with
   a nonce (signed per request); ``openssl ocsp -multi`` with as many processes as we
   have workers.
4. Full CRL of ``--crl-entries`` revoked entries: time and peak RSS against a bare
   cryptography CRLBuilder of as many entries.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from ceremony.online.bench import references, wrk
from ceremony.online.bench.acme_load import Http01Responder, run_acme_load
from ceremony.online.bench.cpu import Placement, load1, session_cpu_seconds
from ceremony.online.bench.pebble import start_pebble
from ceremony.online.bench.servers import (
    Procs,
    free_port,
    make_software_ca,
    p256_csr,
    start_cfssl,
    start_openssl_ocsp,
    wait_http,
)
from ceremony.online.service import ServiceOptions, open_service

BIN = Path(sys.executable).parent
DER = serialization.Encoding.DER
BENCH_PROFILES = """
[profiles.bench-always]
kind = "tls-server"
domains = ["test"]
lint = "always"

[profiles.bench-off]
kind = "tls-server"
domains = ["test"]
lint = "off"
"""


RATE_LIMITS = ("new_accounts_per_ip", "new_orders_per_account", "new_orders_per_domain")


def bench_limits(config: str) -> str:
    """``online.toml`` with the ACME rate limits lifted: the bench's clients are one IP
    opening an account each, and Pebble has none."""
    for key in RATE_LIMITS:
        config, n = re.subn(
            rf"(?m)^{key} = .*$", f"{key} = {{ count = 1000000, minutes = 1 }}", config
        )
        if n != 1:
            raise RuntimeError(f"online.toml: no line {key} = ... to lift for the bench")
    return config


@dataclass(frozen=True)
class Figure:
    value: float
    """A rate (``unit`` per second) or, when ``per_second`` is false, an amount."""
    unit: str
    cpu_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    load_before: float | None = None
    load_after: float | None = None
    note: str = ""
    per_second: bool = True

    def text(self) -> str:
        out = f"{self.value:,.1f} {self.unit}{'/s' if self.per_second else ''}"
        if self.p99_ms is not None:
            out += f", p99 {self.p99_ms:.0f} ms"
        if self.errors:
            out += f", {self.errors} errors"
        return out + (f" ({self.note})" if self.note else "")

    def cpu(self) -> str:
        return f"{self.cpu_ms:.2f}" if self.cpu_ms is not None else ""


@dataclass(frozen=True)
class Row:
    what: str
    ours: Figure
    reference_name: str
    reference: Figure | None
    target: str
    ratio: float | None
    met: bool | None


def measured(
    sid: int, run: Callable[[], tuple[int, float, int, float | None]], unit: str
) -> Figure:
    """Run a load against the server of session ``sid``: ``run`` returns (successes,
    seconds, errors, p99 ms)."""
    before, cpu0 = load1(), session_cpu_seconds(sid)
    ok, seconds, errors, p99 = run()
    cpu1, after = session_cpu_seconds(sid), load1()
    return Figure(
        value=ok / seconds if seconds else 0.0,
        unit=unit,
        cpu_ms=1000 * (cpu1 - cpu0) / ok if ok else None,
        p99_ms=p99,
        errors=errors,
        load_before=before,
        load_after=after,
    )


def in_process(ref: references.InProcess, unit: str) -> Figure:
    return Figure(ref.rate, unit, cpu_ms=ref.cpu_ms, load_before=load1())


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.procs = Procs(work)
        self.placement = Placement.of_this_machine()
        self.rows: list[Row] = []
        self.data = work / "data"
        self.ca, self.ca_key = make_software_ca(work)

    # --- helpers ------------------------------------------------------------------------

    def row(
        self,
        what: str,
        ours: Figure,
        reference_name: str,
        reference: Figure | None,
        target: str = "",
        minimum: float | None = None,
        maximum: float | None = None,
        p99_max_ms: float | None = None,
    ) -> None:
        """``minimum``/``maximum``: the target on ours / reference (no errors either)."""
        ratio = ours.value / reference.value if reference and reference.value else None
        met: bool | None = None
        if ratio is not None and (minimum is not None or maximum is not None):
            met = not ours.errors
            met = met and (minimum is None or ratio >= minimum)
            met = met and (maximum is None or ratio <= maximum)
            if p99_max_ms is not None:
                met = met and ours.p99_ms is not None and ours.p99_ms <= p99_max_ms
        self.rows.append(Row(what, ours, reference_name, reference, target, ratio, met))
        ref = reference.text() if reference else "not measured"
        r = f"{ratio:.3f}x" if ratio is not None else "n/a"
        print(f"  {what}: {ours.text()} | {reference_name}: {ref} | {r}", file=sys.stderr)

    def wrk(
        self,
        sid: int,
        url: str,
        body: bytes,
        content_type: str,
        unit: str,
        authorization: str = "",
        new_connection: bool = False,
        warm_up: bool = True,
    ) -> Figure:
        def go(seconds: float) -> wrk.WrkResult:
            return wrk.run_wrk(
                url,
                body,
                content_type,
                seconds=seconds,
                connections=self.args.connections,
                threads=self.args.threads,
                placement=self.placement,
                authorization=authorization,
                new_connection=new_connection,
            )

        if warm_up:  # connections, caches
            go(2)

        def run() -> tuple[int, float, int, float | None]:
            r = go(self.args.seconds)
            return r.requests - r.errors, r.seconds, r.errors, r.p99_ms

        return measured(sid, run, unit)

    def ceremony_online(self, *a: str) -> str:
        db = ["--database", self.args.database] if self.args.database else []
        out = subprocess.run(
            [str(BIN / "ceremony-online"), *a, "--data", str(self.data), *db],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    # --- the server -------------------------------------------------------------------

    def start_ours(self) -> None:
        open_service(ServiceOptions(data=self.data, database=self.args.database)).close()
        config = self.data / "online.toml"
        config.write_text(bench_limits(config.read_text()) + BENCH_PROFILES)
        self.port, self.http01 = free_port(), free_port()
        serve = [
            *self.placement.server_prefix(),
            str(BIN / "ceremony-online"),
            "serve",
            "--data",
            str(self.data),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.args.workers),
            "--acme-http01-port",
            str(self.http01),
            "--acme-resolve-to",
            "127.0.0.1",
        ]
        if self.args.database:
            serve += ["--database", self.args.database]
        self.sid = self.procs.start("ceremony-online", serve)
        wait_http(f"http://127.0.0.1:{self.port}/healthz")
        self.token = self.ceremony_online("token", "create", "--name", "bench", "--profile", "*")

    def issue_one(self, profile: str, csr: bytes) -> x509.Certificate:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/certificates",
            data=json.dumps({"profile": profile, "csr": csr.decode()}).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return x509.load_pem_x509_certificate(json.loads(r.read())["certificate"].encode())

    # --- 1. REST ------------------------------------------------------------------------

    def rest(self) -> x509.Certificate:
        print(f"== REST /sign under wrk ({self.placement.describe()})", file=sys.stderr)
        csr = p256_csr("bench.a.test")
        leaf = self.issue_one("tls-server", csr)  # the CSR passes: errors are errors
        url = f"http://127.0.0.1:{self.port}/api/v1/certificates"
        auth = f"Bearer {self.token}"
        n, s = self.args.workers, self.args.seconds

        def ours(profile: str) -> Figure:
            body = json.dumps({"profile": profile, "csr": csr.decode()}).encode()
            return self.wrk(self.sid, url, body, "application/json", "certs", auth)

        template = ours("tls-server")
        cfssl: Figure | None = None
        if shutil.which("cfssl"):
            cport, csid = start_cfssl(
                self.procs, self.work, self.ca, self.ca_key, self.placement.server_prefix()
            )
            cbody = json.dumps({"certificate_request": csr.decode()}).encode()
            cfssl = self.wrk(
                csid,
                f"http://127.0.0.1:{cport}/api/v1/cfssl/sign",
                cbody,
                "application/json",
                "certs",
            )
        self.row(
            f"REST sign, lint template, {self.args.connections} connections",
            template,
            "CFSSL serve /sign, same wrk load",
            cfssl,
            "≥ 0.35x, p99 ≤ 50 ms, no errors",
            minimum=0.35,
            p99_max_ms=50,
        )
        always = ours("bench-always")
        self.row(
            "REST sign, lint always",
            always,
            f"pkilint alone, {n} processes",
            in_process(references.pkilint_only(n, s, leaf.public_bytes(DER)), "certs"),
            "≥ 0.9x",
            minimum=0.9,
        )
        off = ours("bench-off")
        self.row(
            "REST sign, lint off",
            off,
            f"parse+build+sign in-process ceiling, {n} processes",
            in_process(references.sign_ceiling(n, s), "certs"),
        )
        if cfssl is not None:
            self.row("REST sign, lint off", off, "CFSSL serve /sign, same wrk load", cfssl)
        return leaf

    # --- 2. ACME ------------------------------------------------------------------------

    def acme(self) -> None:
        a = self.args
        print(f"== ACME, {a.acme_clients} clients", file=sys.stderr)

        def load(directory: str, port: int, tls: ssl.SSLContext | None) -> Any:
            responder = Http01Responder(port)
            try:
                r = run_acme_load(directory, responder, a.acme_clients, a.acme_orders, tls=tls)
            finally:
                responder.close()
            for e in r.errors[:3]:
                print(f"    {directory}: {e}", file=sys.stderr)
            return r.orders, r.seconds, len(r.errors), None

        ours = measured(
            self.sid,
            lambda: load(f"http://127.0.0.1:{self.port}/acme/directory", self.http01, None),
            "orders",
        )
        pebble: Figure | None = None
        if shutil.which("pebble") and shutil.which("pebble-challtestsrv"):
            pport, phttp = free_port(), free_port()
            peb = start_pebble(self.work / "pebble", pport, phttp)
            self.procs.procs += peb.procs
            ctx = ssl.create_default_context(cafile=str(peb.tls_ca))
            pebble = measured(
                peb.procs[1].pid,
                lambda: load(f"https://127.0.0.1:{pport}/dir", phttp, ctx),
                "orders",
            )
        self.row(
            f"ACME orders, {a.acme_clients} clients",
            ours,
            "Pebble (keeps nothing)",
            pebble,
            "≥ 1.0x",
            minimum=1.0,
        )

    # --- 3. OCSP ------------------------------------------------------------------------

    def ocsp(self, leaf: x509.Certificate) -> None:
        print("== OCSP under wrk", file=sys.stderr)
        inter = x509.load_pem_x509_certificates(
            (next((self.data / "ca" / "issuers").iterdir()) / "certificate.pem").read_bytes()
        )[0]

        def request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bool) -> bytes:
            b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
            if nonce:
                b = b.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
            return b.build().public_bytes(serialization.Encoding.DER)

        def check(port: int, path: str, body: bytes) -> None:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}",
                data=body,
                headers={"Content-Type": "application/ocsp-request"},
            )
            with urllib.request.urlopen(req, timeout=30) as r:
                resp = ocsp.load_der_ocsp_response(r.read())
            if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
                raise RuntimeError(f"OCSP on port {port}: {resp.response_status}")

        ct = "application/ocsp-request"
        url = f"http://127.0.0.1:{self.port}/ocsp"
        plain = request(leaf, inter, nonce=False)
        nonced = request(leaf, inter, nonce=True)
        check(self.port, "/ocsp", plain)
        check(self.port, "/ocsp", nonced)
        keep = self.wrk(self.sid, url, plain, ct, "responses")
        new = self.wrk(self.sid, url, plain, ct, "responses", new_connection=True)
        signed = self.wrk(self.sid, url, nonced, ct, "responses")
        ref_keep: Figure | None = None
        ref_new: Figure | None = None
        n = self.args.workers
        if shutil.which("openssl"):
            ca = x509.load_pem_x509_certificate(self.ca.read_bytes())
            theirs = _software_leaf(self.ca_key, ca, leaf)
            obody = request(theirs, ca, nonce=False)

            def openssl(new_connection: bool) -> Figure:
                oport, osid = start_openssl_ocsp(
                    self.procs,
                    self.work,
                    self.ca,
                    self.ca_key,
                    [theirs],
                    n,
                    self.placement.server_prefix(),
                )
                try:
                    check(oport, "/", obody)
                    url = f"http://127.0.0.1:{oport}/"
                    return self.wrk(
                        osid, url, obody, ct, "responses", "", new_connection, warm_up=False
                    )
                finally:
                    self.procs.stop(osid)

            ref_keep, ref_new = openssl(False), openssl(True)
        ref = f"openssl ocsp -multi {n}"
        self.row("OCSP, keep-alive", keep, f"{ref}, keep-alive", ref_keep, "≥ 3x", minimum=3.0)
        self.row(
            "OCSP, new connection per request",
            new,
            f"{ref}, new connection",
            ref_new,
            "≥ 1.5x",
            minimum=1.5,
        )
        self.row("OCSP, nonce (signed per request)", signed, f"{ref}, keep-alive", ref_keep)

    # --- 4. CRL -------------------------------------------------------------------------

    def crl(self) -> None:
        entries = self.args.crl_entries
        print(f"== CRL {entries:,} entries", file=sys.stderr)
        env = {**os.environ, "BENCH_DATABASE": self.args.database or ""}

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

        crl_cmd("fill", str(self.data), str(entries), "24")
        before = load1()
        full = crl_cmd("full", str(self.data))
        base = crl_cmd("baseline", str(entries))
        after = load1()
        what = f"full CRL, {full['entries']:,} entries"
        self.row(
            f"{what}: time",
            Figure(full["seconds"], "s", None, None, 0, before, after, per_second=False),
            "bare CRLBuilder",
            Figure(base["seconds"], "s", per_second=False),
            "≤ 1.3x",
            maximum=1.3,
        )
        self.row(
            f"{what}: peak RSS",
            Figure(full["peak_rss_mib"], "MiB", per_second=False),
            "bare CRLBuilder",
            Figure(base["peak_rss_mib"], "MiB", per_second=False),
            "≤ 1.3x",
            maximum=1.3,
        )


def _software_leaf(
    key_path: Path, ca: x509.Certificate, like: x509.Certificate
) -> x509.Certificate:
    """A certificate of the software CA shaped like ``like``, for ``openssl ocsp``."""
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(like.subject)
        .issuer_name(ca.subject)
        .public_key(like.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def table(bench: Bench, args: argparse.Namespace) -> str:
    db = "PostgreSQL" if args.database else "SQLite"
    lines = [
        f"ceremony-online bench: {os.cpu_count()} cores, {db}, issuing key P-256 in SoftHSM2, "
        f"serve --workers {args.workers}; wrk -t{args.threads} -c{args.connections} "
        f"-d{args.seconds}s; {bench.placement.describe()}",
        "",
        "| measurement | ceremony-online | CPU ms/req | reference, same run | CPU ms/req "
        "| ratio | target | load 1 min before→after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in bench.rows:
        ref = r.reference
        ratio = f"{r.ratio:.3f}x" if r.ratio is not None else "n/a"
        target = r.target + ({True: " ✓", False: " ✗", None: ""}[r.met] if r.target else "")
        load = ""
        if r.ours.load_before is not None and r.ours.load_after is not None:
            load = f"{r.ours.load_before:.1f}→{r.ours.load_after:.1f}"
        lines.append(
            f"| {r.what} | {r.ours.text()} | {r.ours.cpu()} | {r.reference_name}: "
            f"{ref.text() if ref else 'not measured'} | {ref.cpu() if ref else ''} | {ratio} "
            f"| {target} | {load} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench-online", description=__doc__)
    ap.add_argument("--database", help="postgresql://... (default: embedded SQLite)")
    ap.add_argument("--seconds", type=float, default=20.0, help="each wrk row (default 20)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--workers", type=int, default=2, help="serve --workers (default 2)")
    ap.add_argument("--acme-clients", type=int, default=16)
    ap.add_argument("--acme-orders", type=int, default=8, help="orders per ACME client")
    ap.add_argument("--crl-entries", type=int, default=1_000_000)
    ap.add_argument("--only", default="rest,acme,ocsp,crl")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", help="also write the table's figures as JSON here")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    if not wrk.available() and only & {"rest", "ocsp"}:
        print("error: wrk: not installed (Debian package wrk)", file=sys.stderr)
        return 3
    work = Path(tempfile.mkdtemp(prefix="bench-online-"))
    bench = Bench(args, work)
    try:
        bench.start_ours()
        leaf = bench.rest() if "rest" in only else None
        if "acme" in only:
            bench.acme()
        if "ocsp" in only:
            bench.ocsp(leaf or bench.issue_one("tls-server", p256_csr("ocsp.a.test")))
        bench.procs.stop_all()
        if "crl" in only:
            bench.crl()
    finally:
        bench.procs.stop_all()
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + table(bench, args))
    if args.json:
        doc = {
            "cores": os.cpu_count(),
            "database": "postgresql" if args.database else "sqlite",
            "workers": args.workers,
            "wrk": {
                "threads": args.threads,
                "connections": args.connections,
                "seconds": args.seconds,
            },
            "placement": asdict(bench.placement),
            "rows": [asdict(r) for r in bench.rows],
        }
        Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
