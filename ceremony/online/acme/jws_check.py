"""Parse and verify the flattened JWS of every ACME POST (RFC 8555 section 6.2), with
``cryptography`` directly.

Checks, in order: JSON and JWS syntax (``malformed``); one signature with a protected
header holding ``alg``, ``nonce``, ``url`` and exactly one of ``jwk``/``kid``
(``malformed``); ``alg`` one of :data:`ACCOUNT_ALGORITHMS` (``badSignatureAlgorithm``,
the problem lists them); the key: a public RSA key of 2048 to 4096 bits with exponent
65537, or a P-256 or P-384 key (``badPublicKey``), or the key of the account ``kid`` names
(``accountDoesNotExist``); ``alg`` fits that key: RS*/PS* for RSA, ES256 for P-256,
ES384 for P-384 (``badSignatureAlgorithm``); the signature (``malformed``); the nonce's
form, MAC and age (``badNonce``); ``url`` equals the request URL (``unauthorized``).
The signature is checked before the nonce is consumed, so an unsigned request cannot
burn nonces; the server consumes it in the request's own write transaction.

A JWK becomes a key object once per account and process (:class:`KeyCache`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ceremony.online.acme import jose
from ceremony.online.acme.problems import AcmeProblem

ACCOUNT_ALGORITHMS = ("ES256", "ES384", "RS256", "RS384", "RS512", "PS256")
MAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_BITS = (2048, 4096)

_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_CURVES: dict[str, tuple[ec.EllipticCurve, str, int]] = {
    "P-256": (ec.SECP256R1(), "ES256", 32),
    "P-384": (ec.SECP384R1(), "ES384", 48),
}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def bad_algorithm(detail: str) -> AcmeProblem:
    """``badSignatureAlgorithm`` carrying the accepted list (RFC 8555 section 6.2)."""
    return AcmeProblem(
        "badSignatureAlgorithm",
        f"{detail} (accepted: {', '.join(ACCOUNT_ALGORITHMS)})",
        extra={"algorithms": list(ACCOUNT_ALGORITHMS)},
    )


def _uint(jwk: dict[str, Any], member: str, size: int | None = None) -> int:
    try:
        raw = jose.decode_b64jose(jwk[member])
    except (KeyError, jose.DeserializationError) as ex:
        raise AcmeProblem("badPublicKey", f"jwk member {member!r} is not base64url") from ex
    if size is not None and len(raw) != size:
        raise AcmeProblem("badPublicKey", f"jwk member {member!r} must be {size} bytes")
    if size is None and (not raw or raw[0] == 0):
        raise AcmeProblem("badPublicKey", f"jwk member {member!r} is not a minimal integer")
    return int.from_bytes(raw, "big")


@dataclass(frozen=True)
class AccountKey:
    """A checked public account key: the key object, its JWK and RFC 7638 thumbprint."""

    key: PublicKey
    jwk_json: str
    """The public JWK, members sorted, no whitespace (what the database stores)."""
    thumbprint: str
    algorithms: tuple[str, ...]
    """The accepted ``alg`` values that fit this key."""

    @classmethod
    def from_jwk(cls, jwk: Any) -> AccountKey:
        """Check ``jwk`` against the key policy; ``badPublicKey`` when it fails."""
        if not isinstance(jwk, dict) or not all(isinstance(k, str) for k in jwk):
            raise AcmeProblem("badPublicKey", "jwk must be a JSON object")
        if any(m in jwk for m in _PRIVATE_MEMBERS):
            raise AcmeProblem("badPublicKey", "jwk must be a public key (it has private members)")
        kty = jwk.get("kty")
        key: PublicKey
        if kty == "RSA":
            n, e = _uint(jwk, "n"), _uint(jwk, "e")
            if not RSA_BITS[0] <= n.bit_length() <= RSA_BITS[1]:
                raise AcmeProblem(
                    "badPublicKey",
                    f"RSA key of {n.bit_length()} bits: {RSA_BITS[0]} to {RSA_BITS[1]} accepted",
                )
            if e != 65537:
                raise AcmeProblem("badPublicKey", "RSA public exponent must be 65537")
            try:
                key = rsa.RSAPublicNumbers(e, n).public_key()
            except ValueError as ex:
                raise AcmeProblem("badPublicKey", f"RSA key: {ex}") from ex
            members = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
            algorithms = tuple(a for a in ACCOUNT_ALGORITHMS if a[:2] in ("RS", "PS"))
        elif kty == "EC":
            crv = jwk.get("crv")
            if crv not in _CURVES:
                raise AcmeProblem("badPublicKey", f"EC curve {crv!r}: P-256 or P-384 accepted")
            curve, alg, size = _CURVES[crv]
            x, y = _uint(jwk, "x", size), _uint(jwk, "y", size)
            try:
                key = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
            except ValueError as ex:
                raise AcmeProblem("badPublicKey", "EC key: the point is not on the curve") from ex
            members = {"crv": crv, "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
            algorithms = (alg,)
        else:
            raise AcmeProblem("badPublicKey", f"jwk kty {kty!r}: RSA or EC accepted")
        text = json.dumps(members, sort_keys=True, separators=(",", ":"))
        return cls(
            key=key,
            jwk_json=text,
            thumbprint=jose.encode_b64jose(hashlib.sha256(text.encode()).digest()),
            algorithms=algorithms,
        )

    def check_algorithm(self, alg: str) -> None:
        if alg not in self.algorithms:
            raise bad_algorithm(
                f"alg {alg} does not fit this key (use {'/'.join(self.algorithms)})"
            )

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's ``alg`` signature over ``signing_input``."""
        self.check_algorithm(alg)
        digest = _HASH[alg[2:]]()
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                size = (self.key.curve.key_size + 7) // 8
                if len(signature) != 2 * size:
                    return False
                r = int.from_bytes(signature[:size], "big")
                s = int.from_bytes(signature[size:], "big")
                self.key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
            elif alg.startswith("PS"):
                pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.AUTO)
                self.key.verify(signature, signing_input, pss, digest)
            else:
                self.key.verify(signature, signing_input, padding.PKCS1v15(), digest)
        except InvalidSignature:
            return False
        return True

    def same_key(self, other: object) -> bool:
        """True when ``other`` (any public key object) is this key."""
        if not isinstance(other, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            return False
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        return self.key.public_bytes(der, spki) == other.public_bytes(der, spki)


class KeyCache:
    """Parsed account keys by account id, so a JWK becomes a key object once per account
    and process (bounded, least recently used dropped first). The database stays the
    authority: a request's transaction compares the account's stored JWK with the key
    that verified it (see the server)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._keys: OrderedDict[str, AccountKey] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, account_id: str) -> AccountKey | None:
        with self._lock:
            key = self._keys.get(account_id)
            if key is not None:
                self._keys.move_to_end(account_id)
            return key

    def put(self, account_id: str, key: AccountKey) -> None:
        with self._lock:
            self._keys[account_id] = key
            self._keys.move_to_end(account_id)
            while len(self._keys) > self.size:
                self._keys.popitem(last=False)


def stored_key(jwk_json: str) -> AccountKey:
    """The key of a stored account JWK (``serverInternal`` if the row is damaged)."""
    try:
        return AccountKey.from_jwk(json.loads(jwk_json))
    except (json.JSONDecodeError, AcmeProblem) as ex:
        raise AcmeProblem("serverInternal", "the stored account key cannot be read") from ex


@dataclass(frozen=True)
class Jws:
    """A flattened JWS, decoded but not yet verified."""

    protected: dict[str, Any]
    payload: bytes
    signature: bytes
    signing_input: bytes

    @property
    def alg(self) -> str:
        return str(self.protected["alg"])

    def verify_mac(self, key: bytes) -> bool:
        """An HS256/384/512 JWS (External Account Binding) under ``key``."""
        if self.alg not in MAC_ALGORITHMS:
            return False
        mac = hmac.new(key, self.signing_input, f"sha{self.alg[2:]}").digest()
        return hmac.compare_digest(mac, self.signature)


def parse_jws(body: bytes | dict[str, Any]) -> Jws:
    """The JWS of ``body`` (bytes or an already decoded object); ``malformed`` on any
    syntax error, ``badNonce`` on a nonce that is not base64url."""
    if isinstance(body, dict):
        obj: Any = body
    else:
        try:
            obj = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as ex:
            raise AcmeProblem("malformed", "request body is not JSON") from ex
    if not isinstance(obj, dict) or set(obj) != {"protected", "payload", "signature"}:
        raise AcmeProblem(
            "malformed", "request must be a flattened JWS (protected, payload, signature)"
        )
    if not all(isinstance(v, str) for v in obj.values()):
        raise AcmeProblem("malformed", "JWS members must be strings")
    try:
        protected = json.loads(jose.decode_b64jose(obj["protected"]))
        payload = jose.decode_b64jose(obj["payload"])
        signature = jose.decode_b64jose(obj["signature"])
    except (jose.DeserializationError, json.JSONDecodeError, UnicodeDecodeError) as ex:
        raise AcmeProblem("malformed", "JWS members must be base64url (protected: JSON)") from ex
    if not isinstance(protected, dict):
        raise AcmeProblem("malformed", "JWS protected header must be an object")
    if "crit" in protected or protected.get("b64") is False:
        raise AcmeProblem("malformed", "JWS crit and unencoded payloads are not supported")
    if not isinstance(protected.get("alg"), str):
        raise AcmeProblem("malformed", "JWS protected header lacks 'alg'")
    nonce = protected.get("nonce")
    if nonce is not None:
        try:
            jose.decode_b64jose(nonce)
        except jose.DeserializationError as ex:
            raise AcmeProblem("badNonce", "nonce is not base64url") from ex
    signing_input = f"{obj['protected']}.{obj['payload']}".encode("ascii")
    return Jws(protected, payload, signature, signing_input)


@dataclass(frozen=True)
class SignedRequest:
    """An ACME POST whose signature verified; its nonce is not consumed yet."""

    jws: Jws
    key: AccountKey
    """The key that verified the signature."""
    account_id: str | None
    """The account ``kid`` names (None for a ``jwk`` request)."""
    nonce: str | None
    url: str

    @property
    def payload(self) -> bytes:
        return self.jws.payload

    @property
    def protected(self) -> dict[str, Any]:
        return self.jws.protected

    @property
    def post_as_get(self) -> bool:
        return self.payload == b""

    def json(self) -> dict[str, Any]:
        if self.post_as_get:
            return {}
        try:
            obj = json.loads(self.payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as ex:
            raise AcmeProblem("malformed", f"payload is not JSON: {ex}") from ex
        if not isinstance(obj, dict):
            raise AcmeProblem("malformed", "payload must be a JSON object")
        return obj


KidLookup = Callable[[str], AccountKey | None]
"""The key of an account id, None when there is no such account."""
NonceCheck = Callable[[str], bool]
"""True for a nonce this service issued and that has not expired (not consumed here)."""


def verify_request(
    body: bytes,
    request_url: str,
    key_mode: str,
    kid_key: KidLookup,
    account_url_prefix: str,
    nonce_ok: NonceCheck | None,
) -> SignedRequest:
    """Verify an ACME POST; ``key_mode`` is ``jwk``, ``kid`` or ``either``.

    ``nonce_ok`` None: the JWS carries no nonce (the inner JWS of a key change).
    """
    jws = parse_jws(body)
    protected = jws.protected
    for member in ("url",) + (("nonce",) if nonce_ok is not None else ()):
        if not isinstance(protected.get(member), str):
            raise AcmeProblem("malformed", f"JWS protected header lacks {member!r}")
    has_jwk, has_kid = "jwk" in protected, "kid" in protected
    if has_jwk == has_kid:
        raise AcmeProblem("malformed", "JWS protected header needs exactly one of jwk and kid")
    if key_mode == "jwk" and not has_jwk:
        raise AcmeProblem("malformed", "this request must be signed with a jwk, not a kid")
    if key_mode == "kid" and not has_kid:
        raise AcmeProblem("malformed", "this request must be signed with an account kid")
    if jws.alg not in ACCOUNT_ALGORITHMS:
        raise bad_algorithm(f"alg {jws.alg!r} is not accepted")
    account_id: str | None = None
    if has_jwk:
        key = AccountKey.from_jwk(protected["jwk"])
    else:
        kid = protected["kid"]
        if not isinstance(kid, str) or not kid.startswith(account_url_prefix):
            raise AcmeProblem("accountDoesNotExist", "kid is not an account URL of this server")
        account_id = kid[len(account_url_prefix) :]
        found = kid_key(account_id)
        if found is None:
            raise AcmeProblem("accountDoesNotExist", "no account for this kid")
        key = found
    if not key.verify(jws.alg, jws.signing_input, jws.signature):
        raise AcmeProblem("malformed", "JWS signature is invalid")
    nonce = protected.get("nonce") if nonce_ok is not None else None
    if nonce_ok is not None and not nonce_ok(str(nonce)):
        raise AcmeProblem("badNonce", "nonce unknown, expired or used already")
    if protected["url"] != request_url:
        raise AcmeProblem("unauthorized", "JWS url does not match the request URL")
    return SignedRequest(
        jws=jws,
        key=key,
        account_id=account_id,
        nonce=str(nonce) if nonce is not None else None,
        url=request_url,
    )
