"""Concurrent ACME order loops (account, order, http-01, finalize, download).

The same client code runs against our server and against Pebble; it polls
every 50 ms so the figure measures the server, not the client's back-off.
"""

from __future__ import annotations

import http.client
import http.server as http_server
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from ceremony.online.acme.jose import decode_b64jose, encode_b64jose

POLL = 0.05


class Http01Responder:
    """Answers http-01 key authorizations for every client of the run."""

    def __init__(self, port: int) -> None:
        self.tokens: dict[str, str] = {}
        tokens = self.tokens

        class Handler(http_server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                body = tokens.get(self.path.rsplit("/", 1)[-1])
                self.send_response(200 if body else 404)
                self.end_headers()
                if body:
                    self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http_server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AcmeError(Exception):
    pass


@dataclass
class AcmeClient:
    directory_url: str
    responder: Http01Responder
    tls: ssl.SSLContext | None = None
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    kid: str | None = None
    nonce: str | None = None

    def __post_init__(self) -> None:
        u = urlsplit(self.directory_url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 443
        self.conn = self._connect()
        self.directory = json.loads(self._request("GET", self.directory_url)[2])
        jwk = JWKEC(key=self.key)
        self.thumbprint = encode_b64jose(jwk.thumbprint())

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=60, context=self.tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def _request(
        self, method: str, url: str, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        u = urlsplit(url)
        path = u.path + (f"?{u.query}" if u.query else "")
        headers = {"Content-Type": "application/jose+json"} if body is not None else {}
        for attempt in range(2):
            try:
                self.conn.request(method, path, body, headers)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = self._connect()
                if attempt:
                    raise
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if "replay-nonce" in hdrs:
            self.nonce = hdrs["replay-nonce"]
        return r.status, hdrs, data

    def post(self, url: str, payload: Any) -> tuple[int, dict[str, str], bytes]:
        if self.nonce is None:
            self._request("HEAD", self.directory["newNonce"])
        assert self.nonce is not None
        raw = b"" if payload is None else json.dumps(payload).encode()
        signed = acme_jws.JWS.sign(
            raw,
            key=JWKEC(key=self.key),
            alg=ES256,
            nonce=decode_b64jose(self.nonce),
            url=url,
            kid=self.kid,
        )
        self.nonce = None
        status, hdrs, data = self._request("POST", url, signed.json_dumps().encode())
        if status >= 400:
            raise AcmeError(f"{url}: HTTP {status} {data[:300]!r}")
        return status, hdrs, data

    def register(self) -> None:
        _s, hdrs, _d = self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True})
        self.kid = hdrs["location"]

    def poll(self, url: str, done: set[str], limit: float = 60) -> dict[str, Any]:
        end = time.monotonic() + limit
        while True:
            doc: dict[str, Any] = json.loads(self.post(url, None)[2])
            if doc["status"] in done:
                return doc
            if doc["status"] == "invalid" or time.monotonic() > end:
                raise AcmeError(f"{url}: {doc['status']} {doc.get('error')}")
            time.sleep(POLL)

    def order(self, name: str) -> bytes:
        _s, hdrs, data = self.post(
            self.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}
        )
        order_url = hdrs["location"]
        order = json.loads(data)
        for authz_url in order["authorizations"]:
            authz = json.loads(self.post(authz_url, None)[2])
            if authz["status"] != "valid":
                chall = next(c for c in authz["challenges"] if c["type"] == "http-01")
                self.responder.tokens[chall["token"]] = f"{chall['token']}.{self.thumbprint}"
                self.post(chall["url"], {})
                self.poll(authz_url, {"valid"})
        order = self.poll(order_url, {"ready", "valid"})
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        der = csr.public_bytes(serialization.Encoding.DER)
        self.post(order["finalize"], {"csr": encode_b64jose(der)})
        order = self.poll(order_url, {"valid"})
        return self.post(order["certificate"], None)[2]


@dataclass
class AcmeLoadResult:
    orders: int
    errors: list[str]
    seconds: float

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


def run_acme_load(
    directory: str,
    responder: Http01Responder,
    clients: int,
    orders_per_client: int,
    tls: ssl.SSLContext | None = None,
    domain: str = "bench.test",
) -> AcmeLoadResult:
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def worker(n: int) -> None:
        try:
            c = AcmeClient(directory, responder, tls)
            c.register()
        except Exception as ex:
            with lock:
                errors.append(f"client {n}: {ex}")
            ready.wait()
            return
        ready.wait()
        for i in range(orders_per_client):
            try:
                pem = c.order(f"c{n}-o{i}.{domain}")
                assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
                with lock:
                    done[0] += 1
            except Exception as ex:
                with lock:
                    errors.append(f"client {n} order {i}: {ex}")

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join(900)
    return AcmeLoadResult(done[0], errors, time.monotonic() - t0)
