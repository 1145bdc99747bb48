"""Strict ACME crypto (RFC 8555 section 6.2): account keys RSA 2048-4096 or P-256/P-384,
``alg`` matching the key, ``badSignatureAlgorithm`` listing the accepted algorithms.

The JWS here are built by hand with ``cryptography`` (not by the server's code), so they
can carry what no well-behaved client sends: ``alg: none``, EdDSA, ES384 over a P-256
key, a 1024-bit RSA key. The server's verdicts are checked over HTTP, and the verifier's
thumbprints against josepy's (the implementation accounts were created with).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import josepy
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ceremony.online.acme.jws_check import ACCOUNT_ALGORITHMS, AccountKey, parse_jws
from ceremony.online.acme.problems import AcmeProblem
from tests.online.acme_client import RawAcme, b64
from tests.online.conftest import Server

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _int(n: int, size: int | None = None) -> str:
    return b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


def public_jwk(key: PrivateKey) -> dict[str, str]:
    if isinstance(key, rsa.RSAPrivateKey):
        nums = key.public_key().public_numbers()
        return {"kty": "RSA", "n": _int(nums.n), "e": _int(nums.e)}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        pub = key.public_key().public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
        return {"kty": "EC", "crv": crv, "x": _int(pub.x, size), "y": _int(pub.y, size)}
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}


def sign(key: PrivateKey, alg: str, data: bytes) -> bytes:
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
    if alg == "none":
        return b""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    h = digest[alg[2:]]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg.startswith("PS"):
        return key.sign(data, padding.PSS(padding.MGF1(h), h.digest_size), h)
    return key.sign(data, padding.PKCS1v15(), h)


def jws(key: PrivateKey, alg: str, url: str, nonce: str, payload: Any) -> bytes:
    protected = b64(
        json.dumps({"alg": alg, "jwk": public_jwk(key), "nonce": nonce, "url": url}).encode()
    )
    body = b64(json.dumps(payload).encode())
    sig = sign(key, alg, f"{protected}.{body}".encode())
    return json.dumps({"protected": protected, "payload": body, "signature": b64(sig)}).encode()


@pytest.fixture
def acme(server_factory: Any) -> Iterator[tuple[Server, RawAcme]]:
    srv = server_factory()
    yield srv, RawAcme(srv.url("/acme/directory"))


def register(client: RawAcme, key: PrivateKey, alg: str) -> tuple[int, dict[str, Any]]:
    url = client.directory["newAccount"]
    r = client.post_raw(url, jws(key, alg, url, client.nonce(), {"termsOfServiceAgreed": True}))
    return r.status, r.json()


def test_new_account_refuses_weak_keys_and_mismatched_or_unknown_algorithms(
    acme: tuple[Server, RawAcme],
) -> None:
    _srv, client = acme
    p256 = ec.generate_private_key(ec.SECP256R1())
    cases: list[tuple[str, PrivateKey, str, str]] = [
        ("RSA-1024", rsa.generate_private_key(65537, 1024), "RS256", "badPublicKey"),
        ("ES384 over P-256", p256, "ES384", "badSignatureAlgorithm"),
        (
            "ES256 over P-384",
            ec.generate_private_key(ec.SECP384R1()),
            "ES256",
            "badSignatureAlgorithm",
        ),
        ("alg none", p256, "none", "badSignatureAlgorithm"),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate(), "EdDSA", "badSignatureAlgorithm"),
        ("P-521", ec.generate_private_key(ec.SECP521R1()), "ES512", "badSignatureAlgorithm"),
        ("RSA exponent 3", rsa.generate_private_key(3, 2048), "RS256", "badPublicKey"),
        ("RS256 over P-256", p256, "RS256", "badSignatureAlgorithm"),
    ]
    for what, key, alg, want in cases:
        status, doc = register(client, key, alg)
        assert status == 400, (what, doc)
        assert doc["type"] == f"urn:ietf:params:acme:error:{want}", (what, doc)
        if want == "badSignatureAlgorithm":
            assert doc["algorithms"] == list(ACCOUNT_ALGORITHMS), (what, doc)
    accepted: list[tuple[PrivateKey, str]] = [
        (rsa.generate_private_key(65537, 2048), "RS256"),
        (rsa.generate_private_key(65537, 2048), "PS256"),
        (ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (p256, "ES256"),
    ]
    for key, alg in accepted:
        status, doc = register(client, key, alg)
        assert status == 201, (alg, doc)
        assert doc["status"] == "valid"


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(65537, 2048),
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
    ],
    ids=["rsa-2048", "p-256", "p-384"],
)
def test_account_key_thumbprint_and_stored_form_match_josepy(key: PrivateKey) -> None:
    ours = AccountKey.from_jwk(public_jwk(key))
    theirs = josepy.JWK.load(
        key.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    ).public_key()
    assert ours.thumbprint == b64(theirs.thumbprint())
    assert ours.jwk_json == json.dumps(
        theirs.to_partial_json(), sort_keys=True, separators=(",", ":")
    )


def test_account_key_refuses_private_members_and_non_minimal_integers() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(key)
    with pytest.raises(AcmeProblem) as ex:
        AccountKey.from_jwk({**jwk, "d": _int(key.private_numbers().private_value, 32)})
    assert ex.value.code == "badPublicKey"
    with pytest.raises(AcmeProblem) as ex:
        AccountKey.from_jwk({**jwk, "x": b64(b"\x00" + josepy.json_util.decode_b64jose(jwk["x"]))})
    assert ex.value.code == "badPublicKey"
    rsa_jwk = public_jwk(rsa.generate_private_key(65537, 2048))
    with pytest.raises(AcmeProblem) as ex:
        AccountKey.from_jwk(
            {**rsa_jwk, "n": b64(b"\x00" + josepy.json_util.decode_b64jose(rsa_jwk["n"]))}
        )
    assert ex.value.code == "badPublicKey"
    off_curve = {**jwk, "y": _int(1, 32)}
    with pytest.raises(AcmeProblem) as ex:
        AccountKey.from_jwk(off_curve)
    assert ex.value.code == "badPublicKey"


def test_account_key_verifies_only_its_own_algorithm() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ours = AccountKey.from_jwk(public_jwk(key))
    data = b"header.payload"
    assert ours.verify("ES256", data, sign(key, "ES256", data))
    assert not ours.verify("ES256", data + b"x", sign(key, "ES256", data))
    assert not ours.verify("ES256", data, sign(key, "ES256", data)[:-1])
    with pytest.raises(AcmeProblem) as ex:
        ours.verify("ES384", data, sign(key, "ES384", data))
    assert ex.value.code == "badSignatureAlgorithm"


@pytest.mark.parametrize(
    "member",
    ["protected", "payload", "signature"],
)
def test_jws_members_must_be_unpadded_base64url(member: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    obj = json.loads(jws(key, "ES256", "https://x/acme/new-account", b64(b"n" * 40), {}))
    obj[member] = obj[member] + "="
    with pytest.raises(AcmeProblem) as ex:
        parse_jws(json.dumps(obj).encode())
    assert ex.value.code == "malformed"
