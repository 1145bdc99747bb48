"""A raw ACME client for tests: signs JWS with josepy/acme and sends them with urllib,
so tests can also send what a well-behaved client never would."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import josepy
from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.online.conftest import http
from tests.online.helpers import make_csr


def b64(data: bytes) -> str:
    return josepy.json_util.encode_b64jose(data)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def problem(self) -> str:
        doc = self.json()
        assert self.headers.get("content-type", "").startswith("application/problem+json"), doc
        return str(doc["type"]).removeprefix("urn:ietf:params:acme:error:")


@dataclass
class RawAcme:
    directory_url: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    kid: str | None = None
    directory: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directory = json.loads(http("GET", self.directory_url)[2])

    @property
    def jwk(self) -> josepy.JWKEC:
        return josepy.JWKEC(key=self.key)

    @property
    def thumbprint(self) -> str:
        return b64(self.jwk.thumbprint())

    def nonce(self) -> str:
        return http("HEAD", self.directory["newNonce"])[1]["replay-nonce"]

    def sign(
        self,
        url: str,
        payload: Any,
        nonce: str | None = None,
        use_jwk: bool = False,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> bytes:
        raw = b"" if payload is None else json.dumps(payload).encode()
        jwk = josepy.JWKEC(key=key or self.key)
        signed = acme_jws.JWS.sign(
            raw,
            key=jwk,
            alg=josepy.ES256,
            nonce=josepy.json_util.decode_b64jose(nonce or self.nonce()),
            url=url,
            kid=None if use_jwk or self.kid is None else self.kid,
        )
        return signed.json_dumps().encode()

    def post_raw(self, url: str, body: bytes) -> Response:
        status, headers, data = http("POST", url, body, {"Content-Type": "application/jose+json"})
        return Response(status, headers, data)

    def post(self, url: str, payload: Any, **kw: Any) -> Response:
        return self.post_raw(url, self.sign(url, payload, **kw))

    def register(self, **extra: Any) -> Response:
        r = self.post(
            self.directory["newAccount"], {"termsOfServiceAgreed": True, **extra}, use_jwk=True
        )
        if r.status in (200, 201):
            self.kid = r.headers["location"]
        return r

    def new_order(self, *names: str, **extra: Any) -> Response:
        idents = [{"type": "dns", "value": n} for n in names]
        return self.post(self.directory["newOrder"], {"identifiers": idents, **extra})

    def authz(self, url: str) -> Any:
        return self.post(url, None).json()

    def key_authz(self, token: str) -> str:
        return f"{token}.{self.thumbprint}"

    def dns01_value(self, token: str) -> str:
        return b64(hashlib.sha256(self.key_authz(token).encode()).digest())

    def finalize(self, order: Any, names: list[str]) -> Response:
        pem, _key = make_csr(names)
        der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
        return self.post(order["finalize"], {"csr": b64(der)})

    def poll(self, url: str, until: set[str], tries: int = 100) -> Any:
        import time

        for _ in range(tries):
            doc = self.post(url, None).json()
            if doc["status"] in until:
                return doc
            time.sleep(0.1)
        raise AssertionError(f"{url} stuck at {doc['status']}")
