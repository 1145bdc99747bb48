"""Parse and verify the flattened JWS of every ACME POST (RFC 8555 section 6.2).

Checks, in order: JSON and JWS syntax (``malformed``); one signature with a
protected header holding ``alg``, ``nonce``, ``url`` and exactly one of
``jwk``/``kid`` (``malformed``); an accepted ``alg`` matching the key type
(``badSignatureAlgorithm``); the key (``kid`` must name a known, valid
account: ``accountDoesNotExist``/``unauthorized``); the signature
(``malformed``); the nonce (``badNonce``); the ``url`` equals the request
URL (``unauthorized``). Signature before nonce: an unsigned request cannot
burn nonces.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from acme import jws as acme_jws

from ceremony.online.acme import jose
from ceremony.online.acme.nonces import NonceStore
from ceremony.online.acme.problems import AcmeProblem
from ceremony.online.db.models import AcmeAccount

ALGORITHMS: dict[str, type[jose.JWK]] = {
    "RS256": jose.JWKRSA,
    "RS384": jose.JWKRSA,
    "RS512": jose.JWKRSA,
    "PS256": jose.JWKRSA,
    "ES256": jose.JWKEC,
    "ES384": jose.JWKEC,
    "ES512": jose.JWKEC,
}

AccountLookup = Callable[[str], AcmeAccount | None]


@dataclass(frozen=True)
class SignedRequest:
    """A verified ACME POST."""

    payload: bytes
    protected: dict[str, Any]
    jwk: jose.JWK
    account: AcmeAccount | None
    url: str

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


def parse_jws(body: bytes) -> tuple[acme_jws.JWS, dict[str, Any]]:
    """The JWS and its decoded protected header; ``malformed`` on any syntax error."""
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
    except (jose.DeserializationError, json.JSONDecodeError, UnicodeDecodeError) as ex:
        raise AcmeProblem("malformed", "JWS protected header is not base64url JSON") from ex
    if not isinstance(protected, dict):
        raise AcmeProblem("malformed", "JWS protected header must be an object")
    nonce = protected.get("nonce")
    if isinstance(nonce, str):
        try:
            jose.decode_b64jose(nonce)
        except jose.DeserializationError as ex:
            raise AcmeProblem("badNonce", "nonce is not base64url") from ex
    try:
        jws = acme_jws.JWS.from_json(obj)
    except (jose.DeserializationError, ValueError, TypeError, KeyError) as ex:
        raise AcmeProblem("malformed", f"JWS cannot be parsed: {ex}") from ex
    return jws, protected


def verify_request(
    body: bytes,
    request_url: str,
    key_mode: str,
    lookup_account: AccountLookup,
    account_url_prefix: str,
    nonces: NonceStore | None,
    now: datetime,
) -> SignedRequest:
    """Verify an ACME POST; ``key_mode`` is ``jwk``, ``kid`` or ``either``.

    ``nonces`` None skips the nonce (the inner JWS of a key change has none).
    """
    jws, protected = parse_jws(body)
    for member in ("alg", "url") + (("nonce",) if nonces is not None else ()):
        if not isinstance(protected.get(member), str):
            raise AcmeProblem("malformed", f"JWS protected header lacks {member!r}")
    has_jwk, has_kid = "jwk" in protected, "kid" in protected
    if has_jwk == has_kid:
        raise AcmeProblem("malformed", "JWS protected header needs exactly one of jwk and kid")
    if key_mode == "jwk" and not has_jwk:
        raise AcmeProblem("malformed", "this request must be signed with a jwk, not a kid")
    if key_mode == "kid" and not has_kid:
        raise AcmeProblem("malformed", "this request must be signed with an account kid")
    alg = protected["alg"]
    if alg not in ALGORITHMS:
        raise AcmeProblem(
            "badSignatureAlgorithm",
            f"alg {alg!r} not accepted (accepted: {', '.join(ALGORITHMS)})",
        )
    account: AcmeAccount | None = None
    if has_jwk:
        try:
            key = jose.jwk_from_json(protected["jwk"])
        except (jose.DeserializationError, ValueError, TypeError, KeyError) as ex:
            raise AcmeProblem("badPublicKey", f"jwk cannot be parsed: {ex}") from ex
        if isinstance(key, jose.JWKOct) or getattr(key.key, "private_bytes", None):
            raise AcmeProblem("badPublicKey", "jwk must be a public EC or RSA key")
    else:
        kid = protected["kid"]
        if not isinstance(kid, str) or not kid.startswith(account_url_prefix):
            raise AcmeProblem("accountDoesNotExist", "kid is not an account URL of this server")
        account = lookup_account(kid[len(account_url_prefix) :])
        if account is None:
            raise AcmeProblem("accountDoesNotExist", "no account for this kid")
        if account.status != "valid":
            raise AcmeProblem("unauthorized", f"account is {account.status}")
        key = jose.jwk_from_json(json.loads(account.jwk))
    if not isinstance(key, ALGORITHMS[alg]):
        raise AcmeProblem("badSignatureAlgorithm", f"alg {alg} does not fit the key type")
    try:
        valid = jws.verify(key)
    except Exception as ex:
        raise AcmeProblem("malformed", f"JWS signature cannot be checked: {ex}") from ex
    if not valid:
        raise AcmeProblem("malformed", "JWS signature is invalid")
    if nonces is not None and not nonces.use(protected["nonce"], now):
        raise AcmeProblem("badNonce", "nonce unknown, expired or used already")
    if protected["url"] != request_url:
        raise AcmeProblem("unauthorized", "JWS url does not match the request URL")
    return SignedRequest(
        payload=jws.payload, protected=protected, jwk=key, account=account, url=request_url
    )


def thumbprint(key: jose.JWK) -> str:
    return jose.encode_b64jose(key.thumbprint())


def key_json(key: jose.JWK) -> str:
    return json.dumps(key.to_partial_json(), sort_keys=True, separators=(",", ":"))
