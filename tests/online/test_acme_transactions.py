"""Each ACME POST is one write transaction that consumes its nonce (in-process, no HTTP):
a refused request still uses its nonce up, a forged one does not, and an account's key
is read from the database once per process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import josepy
import pytest
from acme import jws as acme_jws
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import event
from starlette.requests import Request

from ceremony.online.acme.problems import AcmeProblem
from ceremony.online.acme.server import AcmeServer
from ceremony.online.service import OnlineService


@dataclass
class Counts:
    writes: int = 0
    reads: int = 0


@dataclass
class Client:
    acme: AcmeServer
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    kid: str | None = None

    def nonce(self) -> str:
        return self.acme.nonces.issue(self.acme.s.clock())

    def body(self, path: str, payload: Any, nonce: str | None = None) -> bytes:
        raw = b"" if payload is None else json.dumps(payload).encode()
        signed = acme_jws.JWS.sign(
            raw,
            key=josepy.JWKEC(key=self.key),
            alg=josepy.ES256,
            nonce=josepy.json_util.decode_b64jose(nonce or self.nonce()),
            url=self.acme.url(path),
            kid=self.kid,
        )
        return signed.json_dumps().encode()

    def post(self, path: str, payload: Any, body: bytes | None = None) -> Any:
        """Call the handler of ``path`` as the route would (after the body is read)."""
        parts = path.split("/")
        handler = {
            "new-account": self.acme.new_account,
            "new-order": self.acme.new_order,
            "account": self.acme.account,
            "order": self.acme.finalize if parts[-1] == "finalize" else self.acme.order,
            "authz": self.acme.authz,
        }[parts[0]]
        return handler(request(path), body if body is not None else self.body(path, payload))


def request(path: str) -> Request:
    parts = path.split("/")
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/acme/" + path,
            "path_params": {"id": parts[1]} if len(parts) > 1 else {},
            "headers": [],
            "query_string": b"",
            "server": ("127.0.0.1", 8443),
            "scheme": "http",
        }
    )


def _id(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.fixture
def acme(service: OnlineService) -> Iterator[AcmeServer]:
    yield AcmeServer(service)


def _count(acme: AcmeServer) -> Counts:
    counts = Counts()
    db = acme.db

    def on_write(_conn: Any) -> None:
        counts.writes += 1

    def on_read(_conn: Any) -> None:
        counts.reads += 1

    if db.url.is_sqlite:
        event.listen(db.engine, "begin", on_write)
        event.listen(db._read_engine, "begin", on_read)
    return counts


def _register(acme: AcmeServer) -> Client:
    c = Client(acme)
    reply = c.post("new-account", {"termsOfServiceAgreed": True})
    assert reply.status == 201
    c.kid = reply.headers["Location"]
    return c


def test_every_post_is_one_write_transaction_and_no_read(
    sqlite_service: OnlineService,
) -> None:
    acme = AcmeServer(sqlite_service)
    counts = _count(acme)
    c = _register(acme)
    assert (counts.writes, counts.reads) == (1, 0)
    order = c.post("new-order", {"identifiers": [{"type": "dns", "value": "tx.a.test"}]})
    assert order.status == 201
    assert (counts.writes, counts.reads) == (2, 0)
    polled = c.post(f"order/{_id(order.headers['Location'])}", None)
    assert polled.body["status"] == "pending"
    authz_id = _id(polled.body["authorizations"][0])
    assert c.post(f"authz/{authz_id}", None).body["status"] == "pending"
    assert (counts.writes, counts.reads) == (4, 0)


def test_another_process_reads_an_account_key_once(sqlite_service: OnlineService) -> None:
    c = _register(AcmeServer(sqlite_service))
    other = AcmeServer(sqlite_service)  # a second worker: empty key cache
    counts = _count(other)
    c.acme = other
    for _ in range(3):
        c.post("new-order", {"identifiers": [{"type": "dns", "value": "k.a.test"}]})
    assert (counts.writes, counts.reads) == (3, 1)


def test_a_refused_request_uses_its_nonce_and_a_forged_one_does_not(acme: AcmeServer) -> None:
    c = _register(acme)
    order = c.post("new-order", {"identifiers": [{"type": "dns", "value": "n.a.test"}]})
    path = f"order/{_id(order.headers['Location'])}"
    refused = c.body(path + "/finalize", {"csr": "AAAA"})
    for code in ("orderNotReady", "badNonce"):
        with pytest.raises(AcmeProblem) as ex:
            c.post(path + "/finalize", None, refused)
        assert ex.value.code == code

    good = json.loads(c.body(path, None))
    sig = good["signature"]
    forged = dict(good, signature=("B" if sig[0] == "A" else "A") + sig[1:])
    with pytest.raises(AcmeProblem) as ex:
        c.post(path, None, json.dumps(forged).encode())
    assert ex.value.code == "malformed"
    assert c.post(path, None, json.dumps(good).encode()).status == 200


def test_a_deactivated_account_is_refused_with_its_nonce_used(acme: AcmeServer) -> None:
    c = _register(acme)
    reply = c.post(f"account/{_id(str(c.kid))}", {"status": "deactivated"})
    assert reply.body["status"] == "deactivated"
    body = c.body("new-order", {"identifiers": [{"type": "dns", "value": "d.a.test"}]})
    for code in ("unauthorized", "badNonce"):
        with pytest.raises(AcmeProblem) as ex:
            c.post("new-order", None, body)
        assert ex.value.code == code
