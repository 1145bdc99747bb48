"""ACME after a crash and over time: a finalize interrupted after its certificate committed
completes on the next read (or re-finalize); one interrupted before is ready again;
authorizations expire, valid ones too, and an expired one no longer lets its account
revoke another account's certificate."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import update

from ceremony.audit.eventlog import Actor
from ceremony.online.acme.server import PROCESSING_TIMEOUT, order_ref
from ceremony.online.bench.acme_load import Http01Responder
from ceremony.online.db.models import AcmeAuthorization, AcmeOrder
from ceremony.online.service import OnlineService, ServiceOptions, open_service
from tests.online.acme_client import RawAcme, b64
from tests.online.conftest import Server
from tests.online.helpers import make_csr
from tests.online.test_acme import _valid_order, acme_server

__all__ = ["acme_server"]  # the fixture, shared with test_acme


def _side_service(srv: Server) -> OnlineService:
    """A second process's view of the server's data folder (as a crashed worker had)."""
    return open_service(ServiceOptions(data=srv.data, record_urls=False, bootstrap=False))


def _order_id(order: dict[str, Any]) -> str:
    return str(order["url"]).rsplit("/", 1)[1]


def test_finalize_interrupted_after_the_certificate_committed(
    acme_server: tuple[Server, Http01Responder],
) -> None:
    srv, responder = acme_server
    client = RawAcme(srv.url("/acme/directory"))
    assert client.register().status == 201
    for how in ("read", "re-finalize"):
        name = f"crash-{how.replace('-', '')}.a.test"
        order = _valid_order(client, responder, name)
        oid = _order_id(order)
        pem, _key = make_csr([name])
        # what a worker killed between the certificate's commit and the order's update left
        side = _side_service(srv)
        try:
            with side.db.write() as session:
                session.execute(
                    update(AcmeOrder)
                    .where(AcmeOrder.id == oid)
                    .values(status="processing", finalized_at=side.clock())
                )
            issued = side.issuance.issue_csr(
                pem,
                order["profile"],
                Actor("crashed", "acme-account"),
                order_ref=order_ref(oid),
            )
        finally:
            side.close()
        if how == "read":
            doc = client.post(order["url"], None).json()
        else:
            r = client.finalize(order, [name])
            assert r.status == 200, r.body
            doc = r.json()
        assert doc["status"] == "valid" and doc["certificate"].endswith(issued.serial), doc
        chain = client.post(doc["certificate"], None)
        assert chain.status == 200
        assert x509.load_pem_x509_certificates(chain.body)[0].serial_number == int(
            issued.serial, 16
        )


def test_finalize_interrupted_before_issuing_is_ready_again(
    acme_server: tuple[Server, Http01Responder],
) -> None:
    srv, responder = acme_server
    client = RawAcme(srv.url("/acme/directory"))
    assert client.register().status == 201
    order = _valid_order(client, responder, "died.a.test")
    side = _side_service(srv)
    try:
        with side.db.write() as session:
            session.execute(
                update(AcmeOrder)
                .where(AcmeOrder.id == _order_id(order))
                .values(status="processing", finalized_at=side.clock())
            )
        assert client.post(order["url"], None).json()["status"] == "processing"
        with side.db.write() as session:
            session.execute(
                update(AcmeOrder)
                .where(AcmeOrder.id == _order_id(order))
                .values(finalized_at=side.clock() - PROCESSING_TIMEOUT - timedelta(seconds=1))
            )
    finally:
        side.close()
    assert client.post(order["url"], None).json()["status"] == "ready"
    r = client.finalize(order, ["died.a.test"])
    assert r.status == 200 and r.json()["status"] == "valid", r.body


def test_expired_authorization_is_expired_and_cannot_revoke(
    acme_server: tuple[Server, Http01Responder],
) -> None:
    srv, responder = acme_server
    owner = RawAcme(srv.url("/acme/directory"))
    other = RawAcme(srv.url("/acme/directory"))
    assert owner.register().status == 201 and other.register().status == 201
    certs = []
    for _ in range(2):
        order = _valid_order(owner, responder, "shared.a.test")
        done = owner.poll(owner.finalize(order, ["shared.a.test"]).headers["location"], {"valid"})
        certs.append(x509.load_pem_x509_certificates(owner.post(done["certificate"], None).body)[0])
    proof = _valid_order(other, responder, "shared.a.test")
    authz_url = proof["authorizations"][0]
    assert other.authz(authz_url)["status"] == "valid"

    def revoke(cert: x509.Certificate) -> Any:
        der = cert.public_bytes(serialization.Encoding.DER)
        return other.post(other.directory["revokeCert"], {"certificate": b64(der)})

    assert revoke(certs[0]).status == 200  # a valid authorization for every name may revoke
    side = _side_service(srv)
    try:
        with side.db.write() as session:
            session.execute(
                update(AcmeAuthorization)
                .where(AcmeAuthorization.account_id == other.kid.rsplit("/", 1)[1])  # type: ignore[union-attr]
                .values(expires=side.clock() - timedelta(minutes=1))
            )
    finally:
        side.close()
    assert other.authz(authz_url)["status"] == "expired"
    refused = revoke(certs[1])
    assert refused.problem == "unauthorized", json.loads(refused.body)
    assert other.post(proof["url"], None).json()["status"] == "invalid"
