"""ACME server: the RFC 8555 error types for bad requests, and the flows certbot does not
exercise (dns-01, tls-alpn-01, key rollover, EAB, renewal information)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ceremony.online.bench.acme_load import Http01Responder
from tests.online.acme_client import RawAcme, b64
from tests.online.conftest import Server, cli, free_port, http, tool
from tests.online.pebble_env import start_pebble


@pytest.fixture
def acme_server(server_factory: Any) -> Iterator[tuple[Server, Http01Responder]]:
    port = free_port()
    responder = Http01Responder(port)
    srv = server_factory(extra=["--acme-http01-port", str(port), "--acme-resolve-to", "127.0.0.1"])
    try:
        yield srv, responder
    finally:
        responder.close()


def _valid_order(client: RawAcme, responder: Http01Responder, *names: str) -> Any:
    r = client.new_order(*names)
    assert r.status == 201, r.body
    order = r.json()
    order["url"] = r.headers["location"]
    for authz_url in order["authorizations"]:
        authz = client.authz(authz_url)
        chall = next(c for c in authz["challenges"] if c["type"] == "http-01")
        responder.tokens[chall["token"]] = client.key_authz(chall["token"])
        assert client.post(chall["url"], {}).status == 200
        assert client.poll(authz_url, {"valid", "invalid"})["status"] == "valid"
    order.update(client.poll(order["url"], {"ready", "invalid"}))
    assert order["status"] == "ready"
    return order


def test_acme_error_types(acme_server: tuple[Server, Http01Responder]) -> None:
    srv, responder = acme_server
    directory = srv.url("/acme/directory")
    alice = RawAcme(directory)
    assert alice.register(contact=["mailto:alice@a.test"]).status == 201
    again = alice.register()
    assert again.status == 200 and again.headers["location"] == alice.kid

    # bad nonce: well-formed but never issued
    r = alice.post(alice.directory["newOrder"], {"identifiers": []}, nonce=b64(b"x" * 40))
    assert r.status == 400 and r.problem == "badNonce"
    assert r.headers["replay-nonce"]
    # reused nonce
    n = alice.nonce()
    first = (
        alice.new_order("one.a.test")
        if False
        else alice.post(
            alice.directory["newOrder"],
            {"identifiers": [{"type": "dns", "value": "one.a.test"}]},
            nonce=n,
        )
    )
    assert first.status == 201
    r = alice.post(
        alice.directory["newOrder"],
        {"identifiers": [{"type": "dns", "value": "one.a.test"}]},
        nonce=n,
    )
    assert r.problem == "badNonce"
    # bad JWS signature
    body = json.loads(alice.sign(alice.directory["newOrder"], {"identifiers": []}))
    sig = bytearray(base64.urlsafe_b64decode(body["signature"] + "=="))
    sig[5] ^= 0x01
    body["signature"] = b64(bytes(sig))
    r = alice.post_raw(alice.directory["newOrder"], json.dumps(body).encode())
    assert r.status == 400 and r.problem == "malformed"
    # not a JWS / wrong content type
    assert alice.post_raw(alice.directory["newOrder"], b"{}").problem == "malformed"
    status, _h, _b = http(
        "POST", alice.directory["newOrder"], b"{}", {"Content-Type": "application/json"}
    )
    assert status == 415
    # url in the JWS differs from the request URL
    r = alice.post_raw(
        alice.directory["newOrder"], alice.sign(alice.directory["newAccount"], {"identifiers": []})
    )
    assert r.problem == "unauthorized"
    # unknown account
    ghost = RawAcme(directory)
    ghost.kid = srv.url("/acme/account/nope")
    assert ghost.new_order("a.a.test").problem == "accountDoesNotExist"
    assert ghost.register(onlyReturnExisting=True).problem == "accountDoesNotExist"
    # name outside policy
    r = alice.new_order("www.example.com", "ok.a.test")
    assert r.status == 400 and r.problem == "rejectedIdentifier"
    assert r.json()["subproblems"][0]["identifier"]["value"] == "www.example.com"
    assert alice.new_order("bad_name.a.test").problem == "rejectedIdentifier"
    r = alice.post(
        alice.directory["newOrder"], {"identifiers": [{"type": "email", "value": "x@a.test"}]}
    )
    assert r.problem == "unsupportedIdentifier"
    assert alice.new_order("p.a.test", profile="nope").problem == "invalidProfile"
    # finalize before the order is ready
    pending = first.json()
    r = alice.finalize(pending, ["one.a.test"])
    assert r.status == 403 and r.problem == "orderNotReady"
    # wrong account: bob may not read or finalize alice's order
    bob = RawAcme(directory)
    bob.register()
    r = bob.post(first.headers["location"], None)
    assert r.status == 403 and r.problem == "unauthorized"
    assert bob.post(pending["authorizations"][0], None).problem == "unauthorized"
    # CSR names not matching the order
    order = _valid_order(alice, responder, "two.a.test")
    r = alice.finalize(order, ["two.a.test", "three.a.test"])
    assert r.status == 400 and r.problem == "badCSR"
    r = alice.finalize(order, ["other.a.test"])
    assert r.problem == "badCSR"
    # the account key may not be the certificate key
    pem = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("two.a.test")]), False)
        .sign(alice.key, hashes.SHA256())
    )
    r = alice.post(order["finalize"], {"csr": b64(pem.public_bytes(serialization.Encoding.DER))})
    assert r.problem == "badCSR"
    # a good finalize, download, and wrong-account download
    r = alice.finalize(order, ["two.a.test"])
    assert r.status == 200 and r.json()["status"] == "valid", r.body
    cert_url = r.json()["certificate"]
    got = alice.post(cert_url, None)
    assert got.headers["content-type"] == "application/pem-certificate-chain"
    assert len(x509.load_pem_x509_certificates(got.body)) == 2
    assert bob.post(cert_url, None).problem == "unauthorized"
    # finalize again: not ready any more
    assert alice.finalize(order, ["two.a.test"]).problem == "orderNotReady"
    # revocation: bad reason, by another account, then ok, then alreadyRevoked
    cert = x509.load_pem_x509_certificates(got.body)[0]
    der = b64(cert.public_bytes(serialization.Encoding.DER))
    url = alice.directory["revokeCert"]
    assert alice.post(url, {"certificate": der, "reason": 7}).problem == "badRevocationReason"
    assert bob.post(url, {"certificate": der}).problem == "unauthorized"
    assert alice.post(url, {"certificate": der, "reason": 4}).status == 200
    assert alice.post(url, {"certificate": der}).problem == "alreadyRevoked"


def test_http01_failure_marks_order_invalid(acme_server: tuple[Server, Http01Responder]) -> None:
    srv, _responder = acme_server
    c = RawAcme(srv.url("/acme/directory"))
    c.register()
    r = c.new_order("nobody.a.test")
    authz_url = r.json()["authorizations"][0]
    chall = next(x for x in c.authz(authz_url)["challenges"] if x["type"] == "http-01")
    c.post(chall["url"], {})
    authz = c.poll(authz_url, {"valid", "invalid"})
    assert authz["status"] == "invalid"
    assert authz["challenges"][1]["error"]["type"].endswith(":unauthorized")
    assert c.post(r.headers["location"], None).json()["status"] == "invalid"


def _alpn_cert(name: str, key_authz: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ext = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31"),
        b"\x04\x20" + hashlib.sha256(key_authz.encode()).digest(),
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(ext, critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_tls_alpn01(server_factory: Any, tmp_path: Path) -> None:
    port = free_port()
    srv = server_factory(
        extra=["--acme-tlsalpn01-port", str(port), "--acme-resolve-to", "127.0.0.1"]
    )
    c = RawAcme(srv.url("/acme/directory"))
    c.register()
    order = c.new_order("alpn.a.test")
    authz_url = order.json()["authorizations"][0]
    chall = next(x for x in c.authz(authz_url)["challenges"] if x["type"] == "tls-alpn-01")
    cert_pem, key_pem = _alpn_cert("alpn.a.test", c.key_authz(chall["token"]))
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    ctx.set_alpn_protocols(["acme-tls/1"])
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(20)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        c.post(chall["url"], {})
        assert c.poll(authz_url, {"valid", "invalid"})["status"] == "valid"
    finally:
        t.join(20)
        listener.close()


def test_dns01_wildcard_with_challtestsrv(server_factory: Any, tmp_path: Path) -> None:
    tool("pebble-challtestsrv")
    # reuse the Pebble helper only for its DNS server (pebble-challtestsrv)
    peb = start_pebble(tmp_path / "pebble", free_port(), free_port())
    try:
        srv = server_factory(extra=["--acme-dns-server", peb.dns_server])
        c = RawAcme(srv.url("/acme/directory"))
        c.register()
        r = c.new_order("*.wild.a.test")
        order = r.json()
        authz_url = order["authorizations"][0]
        authz = c.authz(authz_url)
        assert authz["wildcard"] is True and authz["identifier"]["value"] == "wild.a.test"
        assert [x["type"] for x in authz["challenges"]] == ["dns-01"]
        chall = authz["challenges"][0]
        status, _h, _b = http(
            "POST",
            f"{peb.challtest_management}/set-txt",
            json.dumps(
                {"host": "_acme-challenge.wild.a.test.", "value": c.dns01_value(chall["token"])}
            ).encode(),
        )
        assert status == 200
        c.post(chall["url"], {})
        assert c.poll(authz_url, {"valid", "invalid"})["status"] == "valid"
        order = c.poll(r.headers["location"], {"ready", "invalid"})
        fin = c.finalize(order, ["*.wild.a.test"])
        assert fin.json()["status"] == "valid", fin.body
    finally:
        peb.stop()


def test_key_rollover_eab_and_renewal_info(
    acme_server: tuple[Server, Http01Responder],
) -> None:
    srv, responder = acme_server
    directory = srv.url("/acme/directory")
    c = RawAcme(directory)
    c.register()
    # key rollover
    new_key = ec.generate_private_key(ec.SECP256R1())
    url = c.directory["keyChange"]
    inner = json.loads(
        c.sign(
            url,
            {"account": c.kid, "oldKey": c.jwk.public_key().to_partial_json()},
            use_jwk=True,
            key=new_key,
        )
    )
    r = c.post(url, inner)
    assert r.status == 200, r.body
    old_key, c.key = c.key, new_key
    assert c.post(c.kid, None).status == 200
    c.key = old_key
    assert c.post(c.kid, None).problem == "malformed"  # old key no longer verifies
    c.key = new_key

    # renewal information
    order = _valid_order(c, responder, "ari.a.test")
    fin = c.finalize(order, ["ari.a.test"]).json()
    cert = x509.load_pem_x509_certificates(c.post(fin["certificate"], None).body)[0]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    serial = cert.serial_number.to_bytes(cert.serial_number.bit_length() // 8 + 1, "big")
    cert_id = f"{b64(aki.key_identifier or b'')}.{b64(serial)}"
    status, headers, body = http("GET", f"{c.directory['renewalInfo']}/{cert_id}")
    window = json.loads(body)["suggestedWindow"]
    assert status == 200 and headers["retry-after"] and window["start"] < window["end"]
    assert http("GET", f"{c.directory['renewalInfo']}/bm9wZQ.AQ")[0] == 404
    assert http("GET", f"{c.directory['renewalInfo']}/garbage")[0] == 400
    r = c.new_order("ari.a.test", replaces=cert_id)
    assert r.status == 201 and r.json()["replaces"] == cert_id
    assert c.new_order("ari.a.test", replaces=cert_id).problem == "alreadyReplaced"

    # external account binding
    out = cli("eab", "create", "--data", str(srv.data))
    assert out.returncode == 0, out.stderr
    kid = out.stdout.split()[1]
    hmac_key = out.stdout.split()[3]
    d = RawAcme(directory)
    import josepy
    from acme import messages

    eab = messages.ExternalAccountBinding.from_data(
        account_public_key=d.jwk.public_key(),
        kid=kid,
        hmac_key=hmac_key,
        directory=messages.Directory.from_json(d.directory),
    )
    bad = messages.ExternalAccountBinding.from_data(
        account_public_key=d.jwk.public_key(),
        kid=kid,
        hmac_key=b64(b"k" * 32),
        directory=messages.Directory.from_json(d.directory),
    )
    assert d.register(externalAccountBinding=bad).problem == "unauthorized"
    assert d.register(externalAccountBinding=eab).status == 201
    e = RawAcme(directory)
    eab_e = messages.ExternalAccountBinding.from_data(
        account_public_key=josepy.JWKEC(key=e.key).public_key(),
        kid=kid,
        hmac_key=hmac_key,
        directory=messages.Directory.from_json(e.directory),
    )
    assert e.register(externalAccountBinding=eab_e).problem == "unauthorized"  # key used
