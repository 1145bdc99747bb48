"""ACME routes and the account/order/authorization/challenge state machine.

Resources (all under ``/acme``): ``directory``, ``new-nonce``,
``new-account``, ``account/<id>`` (+ ``/orders``), ``new-order``,
``order/<id>`` (+ ``/finalize``), ``authz/<id>``, ``chall/<id>``,
``cert/<serial>``, ``revoke-cert``, ``key-change``, ``renewal-info/<certID>``.

Every POST is one write transaction (:meth:`AcmeServer._transaction`): the account
row, the nonce (consumed there, kept even when the request is then refused) and the
request's own reads and writes, through SQLAlchemy Core statements. Finalize adds the
issuance's own transaction and one that marks the order valid.

Orders get one fresh authorization per identifier (no reuse across
orders). Challenge validation runs in a small thread pool; the client polls.
Finalize issues synchronously through the shared issuance core (policy,
lint, sign, store, audit), so the order is ``valid`` when finalize answers.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ceremony.audit.eventlog import Actor
from ceremony.errors import CeremonyError, FaultError, InputError, PolicyError
from ceremony.online import eab as external_account
from ceremony.online.acme import ari, jose, validation
from ceremony.online.acme.jws_check import (
    MAC_ALGORITHMS,
    AccountKey,
    KeyCache,
    SignedRequest,
    parse_jws,
    stored_key,
    verify_request,
)
from ceremony.online.acme.nonces import NonceStore, load_or_create_key
from ceremony.online.acme.problems import AcmeProblem, subproblem
from ceremony.online.acme.va_scheduler import ValidationScheduler
from ceremony.online.bodies import CLOSE, BodyTooLarge, read_limited
from ceremony.online.db.engine import client_message
from ceremony.online.db.models import (
    AcmeAccount,
    AcmeAuthorization,
    AcmeChallenge,
    AcmeEabKey,
    AcmeOrder,
    Certificate,
)
from ceremony.online.issuance import UnknownCertificate, normalize_serial, serial_hex
from ceremony.online.limits import RateLimited, check_rate, registered_domain
from ceremony.online.metrics import REGISTRY
from ceremony.online.policy import (
    check_dns_name,
    check_ip,
    csr_names,
    normalize_dns_name,
    parse_csr,
    parse_ip,
)
from ceremony.online.reasons import reason_from_code
from ceremony.online.service import OnlineService

log = logging.getLogger("ceremony.online.acme")

ORDER_LIFETIME = timedelta(days=7)
PROCESSING_TIMEOUT = timedelta(minutes=2)
"""A finalize that has not stored its certificate by then died: the order is ready again."""
RETRY_AFTER_POLL = "1"
ARI_RETRY_AFTER = "21600"
JOSE = "application/jose+json"
MAX_BODY = 64 * 1024

ACCOUNTS = cast(Table, AcmeAccount.__table__)
ORDERS = cast(Table, AcmeOrder.__table__)
AUTHZS = cast(Table, AcmeAuthorization.__table__)
CHALLENGES = cast(Table, AcmeChallenge.__table__)
EAB_KEYS = cast(Table, AcmeEabKey.__table__)
CERTIFICATES = cast(Table, Certificate.__table__)

Row = Mapping[Any, Any]


def rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return secrets.token_urlsafe(12)


def order_ref(order_id: str) -> str:
    """What a certificate issued for an ACME order records (``Certificate.order_ref``)."""
    return f"acme-order:{order_id}"


@dataclass(frozen=True)
class Account:
    """An account as the request's transaction read it."""

    id: str
    status: str
    thumbprint: str
    jwk: str
    contact: str
    created_at: datetime


_ACCOUNT_COLUMNS = (
    ACCOUNTS.c.id,
    ACCOUNTS.c.status,
    ACCOUNTS.c.thumbprint,
    ACCOUNTS.c.jwk,
    ACCOUNTS.c.contact,
    ACCOUNTS.c.created_at,
)


@dataclass
class Reply:
    """What a handler answers (the wrapper adds nonce and index link)."""

    body: dict[str, Any] | bytes | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Handler = Callable[[Request, bytes], Reply]


class AcmeServer:
    """The ACME resources of one service."""

    def __init__(self, service: OnlineService) -> None:
        self.s = service
        self.db = service.db
        self.base = service.public_url + "/acme"
        self.overrides = service.options.acme_test
        self.nonces = NonceStore(
            self.db, load_or_create_key(service.folder.root / "acme-nonce.key")
        )
        self.keys = KeyCache()
        self.limits = service.config.limits
        self._va = ValidationScheduler(
            self.limits.validation_workers, self.limits.validation_per_account
        )

    def close(self) -> None:
        self._va.close()

    # --- plumbing -------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    @property
    def account_prefix(self) -> str:
        return self.url("account/")

    def routes(self) -> list[Route]:
        post: list[tuple[str, Handler]] = [
            ("new-account", self.new_account),
            ("account/{id}", self.account),
            ("account/{id}/orders", self.account_orders),
            ("new-order", self.new_order),
            ("order/{id}", self.order),
            ("order/{id}/finalize", self.finalize),
            ("authz/{id}", self.authz),
            ("chall/{id}", self.challenge),
            ("cert/{serial}", self.certificate),
            ("revoke-cert", self.revoke_cert),
            ("key-change", self.key_change),
        ]
        routes = [
            Route("/acme/directory", self.directory, methods=["GET"]),
            Route("/acme/new-nonce", self.new_nonce, methods=["GET", "HEAD"]),
            Route(
                "/acme/renewal-info/{certid}", self._wrap_get(self.renewal_info), methods=["GET"]
            ),
        ]
        routes += [Route(f"/acme/{p}", self._wrap(h), methods=["POST"]) for p, h in post]
        return routes

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = {
            "Replay-Nonce": self.nonces.issue(self.s.clock()),
            "Link": f'<{self.url("directory")}>;rel="index"',
            "Cache-Control": "no-store",
        }
        if "Link" in extra:
            headers["Link"] += ", " + extra.pop("Link")
        headers.update(extra)
        return headers

    def _problem(self, p: AcmeProblem) -> Response:
        status = p.status or 400
        return JSONResponse(
            p.document(),
            status_code=status,
            media_type="application/problem+json",
            headers=self._headers(dict(p.headers)),
        )

    def _respond(self, reply: Reply) -> Response:
        headers = self._headers(dict(reply.headers))
        if isinstance(reply.body, bytes):
            return Response(reply.body, reply.status, headers, media_type=reply.content_type)
        if reply.body is None:
            return Response(b"", reply.status, headers)
        return JSONResponse(reply.body, reply.status, headers)

    def _run(self, fn: Callable[[], Reply]) -> Reply | AcmeProblem:
        try:
            return fn()
        except AcmeProblem as p:
            return p
        except RateLimited as ex:
            headers = {} if ex.retry_after is None else {"Retry-After": str(ex.retry_after)}
            return AcmeProblem("rateLimited", ex.message, headers=headers)
        except FaultError as ex:
            log.error("acme: %s", ex.message)
            return AcmeProblem("serverInternal", client_message(ex))
        except CeremonyError as ex:
            return AcmeProblem("malformed", ex.message)

    def _wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            ctype = request.headers.get("content-type", "").split(";")[0].strip()
            if ctype != JOSE:
                return self._problem(
                    AcmeProblem("malformed", f"Content-Type must be {JOSE}", status=415)
                )
            try:
                body = await read_limited(request, MAX_BODY)
            except BodyTooLarge as ex:
                return self._problem(
                    AcmeProblem("malformed", str(ex), status=413, headers=dict(CLOSE))
                )
            result = await run_in_threadpool(self._run, lambda: handler(request, body))
            if isinstance(result, AcmeProblem):
                return self._problem(result)
            return self._respond(result)

        return endpoint

    def _wrap_get(
        self, handler: Callable[[Request], Reply]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            result = await run_in_threadpool(self._run, lambda: handler(request))
            if isinstance(result, AcmeProblem):
                return self._problem(result)
            return self._respond(result)

        return endpoint

    def request_url(self, request: Request) -> str:
        return self.s.public_url + request.url.path

    def _kid_key(self, account_id: str) -> AccountKey | None:
        """The account's key: parsed once per process, read from the database on a miss."""
        key = self.keys.get(account_id)
        if key is None:
            with self.db.read() as session:
                jwk = session.execute(
                    select(ACCOUNTS.c.jwk).where(ACCOUNTS.c.id == account_id)
                ).scalar_one_or_none()
            if jwk is None:
                return None
            key = stored_key(jwk)
            self.keys.put(account_id, key)
        return key

    def verify(self, request: Request, body: bytes, mode: str = "kid") -> SignedRequest:
        now = self.s.clock()
        return verify_request(
            body,
            self.request_url(request),
            mode,
            self._kid_key,
            self.account_prefix,
            lambda nonce: self.nonces.valid(nonce, now),
        )

    def _load_account(self, session: Session, r: SignedRequest) -> Account:
        """The kid's account row; if its key changed since ``r`` was verified (a key
        change, maybe in another process), the signature is checked again."""
        row = session.execute(
            select(*_ACCOUNT_COLUMNS).where(ACCOUNTS.c.id == r.account_id)
        ).one_or_none()
        if row is None:
            raise AcmeProblem("accountDoesNotExist", "no account for this kid")
        account = Account(*row)
        if account.jwk != r.key.jwk_json:
            key = stored_key(account.jwk)
            self.keys.put(account.id, key)
            if key.jwk_json != r.key.jwk_json and not key.verify(
                r.jws.alg, r.jws.signing_input, r.jws.signature
            ):
                raise AcmeProblem("malformed", "JWS signature is invalid")
        return account

    @contextmanager
    def _transaction(self, r: SignedRequest) -> Iterator[tuple[Session, Account | None]]:
        """The request's one write transaction: account row, nonce, then the handler's
        work in a savepoint. A refusal raised there rolls the handler's work back but
        the nonce stays used; an invalid signature or nonce rolls everything back."""
        refused: AcmeProblem | InputError | None = None
        with self.db.write() as session:
            account = self._load_account(session, r) if r.account_id is not None else None
            if r.nonce is not None and not self.nonces.consume(session, r.nonce, self.s.clock()):
                raise AcmeProblem("badNonce", "nonce unknown, expired or used already")
            savepoint = session.begin_nested()
            try:
                if account is not None and account.status != "valid":
                    raise AcmeProblem("unauthorized", f"account is {account.status}")
                yield session, account
            except (AcmeProblem, InputError) as ex:
                savepoint.rollback()
                refused = ex
            else:
                savepoint.commit()
        if refused is not None:
            raise refused

    @staticmethod
    def _account_of(account: Account | None) -> Account:
        if account is None:
            raise AcmeProblem("malformed", "this request must be signed with an account kid")
        return account

    def expire_nonces(self) -> None:
        self.nonces.expire(self.s.clock())

    # --- directory and nonces ---------------------------------------------------------

    async def directory(self, _request: Request) -> Response:
        profiles = {
            name: f"{self.s.config.profiles[name].kind} certificates"
            for name in self.s.config.acme_profiles
        }
        meta: dict[str, Any] = {
            "externalAccountRequired": self.s.config.acme.eab_required,
            "profiles": profiles,
        }
        return JSONResponse(
            {
                "newNonce": self.url("new-nonce"),
                "newAccount": self.url("new-account"),
                "newOrder": self.url("new-order"),
                "revokeCert": self.url("revoke-cert"),
                "keyChange": self.url("key-change"),
                "renewalInfo": self.url("renewal-info"),
                "meta": meta,
            }
        )

    async def new_nonce(self, request: Request) -> Response:
        status = 200 if request.method == "HEAD" else 204
        return Response(b"", status, self._headers({}))

    # --- accounts -------------------------------------------------------------------------

    def _account_body(self, a: Account) -> dict[str, Any]:
        return {
            "status": a.status,
            "contact": json.loads(a.contact),
            "orders": self.url(f"account/{a.id}/orders"),
            "createdAt": rfc3339(a.created_at),
        }

    def _check_contact(self, contact: Any) -> list[str]:
        if contact is None:
            return []
        if not isinstance(contact, list) or not all(isinstance(c, str) for c in contact):
            raise AcmeProblem("malformed", "contact must be a list of strings")
        for c in contact:
            if not c.startswith("mailto:"):
                raise AcmeProblem("unsupportedContact", f"contact {c!r}: only mailto: is supported")
            addr = c[7:]
            if "@" not in addr or "," in addr or "?" in addr or len(addr) > 254:
                raise AcmeProblem("invalidContact", f"contact {c!r}: not a single e-mail address")
        return contact

    @staticmethod
    def _account_by_thumbprint(session: Session, thumbprint: str) -> Account | None:
        row = session.execute(
            select(*_ACCOUNT_COLUMNS).where(ACCOUNTS.c.thumbprint == thumbprint)
        ).one_or_none()
        return None if row is None else Account(*row)

    def new_account(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body, "jwk")
        payload = r.json()
        tp = r.key.thumbprint
        with self._transaction(r) as (session, _none):
            existing = self._account_by_thumbprint(session, tp)
            if existing is not None:
                if existing.status != "valid":
                    raise AcmeProblem("unauthorized", f"account is {existing.status}")
                return Reply(
                    self._account_body(existing),
                    200,
                    {"Location": self.url(f"account/{existing.id}")},
                )
            if payload.get("onlyReturnExisting"):
                raise AcmeProblem("accountDoesNotExist", "no account exists for this key")
            contact = self._check_contact(payload.get("contact"))
            account = Account(
                id=new_id(),
                status="valid",
                thumbprint=tp,
                jwk=r.key.jwk_json,
                contact=json.dumps(contact),
                created_at=self.s.clock(),
            )
            eab = payload.get("externalAccountBinding")
            eab_kid = None
            if eab is not None:
                eab_kid = self._check_eab(session, eab, r, self.request_url(request))
                external_account.record_binding(session, eab_kid, account.id, account.created_at)
            elif self.s.config.acme.eab_required:
                raise AcmeProblem("externalAccountRequired", "this server requires an EAB")
            client = request.client.host if request.client else "unknown"
            check_rate(
                session,
                "account-ip",
                client,
                self.limits.new_accounts_per_ip,
                account.created_at,
                f"new accounts from {client}",
            )
            session.execute(
                insert(ACCOUNTS).values(
                    id=account.id,
                    thumbprint=tp,
                    jwk=account.jwk,
                    status=account.status,
                    contact=account.contact,
                    eab_kid=eab_kid,
                    created_at=account.created_at,
                )
            )
        self.keys.put(account.id, r.key)
        return Reply(
            self._account_body(account), 201, {"Location": self.url(f"account/{account.id}")}
        )

    def _check_eab(self, session: Session, eab: Any, r: SignedRequest, url: str) -> str:
        if not isinstance(eab, dict):
            raise AcmeProblem("malformed", "externalAccountBinding must be a JWS object")
        jws = parse_jws(eab)
        protected = jws.protected
        if jws.alg not in MAC_ALGORITHMS:
            raise AcmeProblem(
                "badSignatureAlgorithm",
                "externalAccountBinding must use HS256/384/512",
                extra={"algorithms": list(MAC_ALGORITHMS)},
            )
        if "nonce" in protected:
            raise AcmeProblem("malformed", "externalAccountBinding must not carry a nonce")
        if protected.get("url") != url:
            raise AcmeProblem("unauthorized", "externalAccountBinding url must be newAccount's")
        kid = protected.get("kid")
        if not isinstance(kid, str):
            raise AcmeProblem("malformed", "externalAccountBinding lacks kid")
        key = session.execute(
            select(
                EAB_KEYS.c.hmac_key,
                EAB_KEYS.c.account_id,
                EAB_KEYS.c.revoked_at,
                EAB_KEYS.c.expires_at,
            )
            .where(EAB_KEYS.c.kid == kid)
            .with_for_update()
        ).one_or_none()
        if key is None:
            raise AcmeProblem("unauthorized", "externalAccountBinding kid is unknown")
        why = external_account.refusal(
            key.revoked_at, key.account_id, key.expires_at, self.s.clock()
        )
        if why is not None:
            raise AcmeProblem("unauthorized", why)
        try:
            mac_key = jose.decode_b64jose(key.hmac_key)
        except jose.DeserializationError as ex:
            raise AcmeProblem("serverInternal", "the stored EAB key cannot be read") from ex
        if not jws.verify_mac(mac_key):
            raise AcmeProblem("unauthorized", "externalAccountBinding MAC is invalid")
        try:
            bound = AccountKey.from_jwk(json.loads(jws.payload))
        except (ValueError, AcmeProblem) as ex:
            raise AcmeProblem("malformed", "externalAccountBinding payload is not a JWK") from ex
        if bound.thumbprint != r.key.thumbprint:
            raise AcmeProblem("unauthorized", "externalAccountBinding binds another key")
        return kid

    def account(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body)
        payload = r.json()
        with self._transaction(r) as (session, account):
            a = self._account_of(account)
            if a.id != request.path_params["id"]:
                raise AcmeProblem("unauthorized", "this is not your account")
            changes: dict[str, str] = {}
            if "contact" in payload:
                changes["contact"] = json.dumps(self._check_contact(payload["contact"]))
            status = payload.get("status")
            if status is not None:
                if status != "deactivated":
                    raise AcmeProblem("malformed", "status may only be set to deactivated")
                changes["status"] = "deactivated"
            if changes:
                session.execute(update(ACCOUNTS).where(ACCOUNTS.c.id == a.id).values(**changes))
                a = Account(
                    a.id,
                    changes.get("status", a.status),
                    a.thumbprint,
                    a.jwk,
                    changes.get("contact", a.contact),
                    a.created_at,
                )
        return Reply(self._account_body(a), 200, {"Location": self.url(f"account/{a.id}")})

    def account_orders(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body)
        with self._transaction(r) as (session, account):
            a = self._account_of(account)
            if a.id != request.path_params["id"]:
                raise AcmeProblem("unauthorized", "this is not your account")
            ids = (
                session.execute(
                    select(ORDERS.c.id)
                    .where(
                        ORDERS.c.account_id == a.id,
                        ORDERS.c.status.in_(("pending", "ready", "processing", "valid")),
                    )
                    .order_by(ORDERS.c.created_at)
                    .limit(1000)
                )
                .scalars()
                .all()
            )
        return Reply({"orders": [self.url(f"order/{i}") for i in ids]})

    def key_change(self, request: Request, body: bytes) -> Reply:
        outer = self.verify(request, body)
        inner = verify_request(
            outer.payload,
            self.request_url(request),
            "jwk",
            self._kid_key,
            self.account_prefix,
            None,
        )
        payload = inner.json()
        try:
            old = AccountKey.from_jwk(payload.get("oldKey"))
        except AcmeProblem as ex:
            raise AcmeProblem("malformed", f"keyChange oldKey is not a JWK: {ex.detail}") from ex
        new = inner.key
        with self._transaction(outer) as (session, account):
            a = self._account_of(account)
            if payload.get("account") != self.url(f"account/{a.id}"):
                raise AcmeProblem("unauthorized", "keyChange account does not match the kid")
            if old.thumbprint != a.thumbprint:
                raise AcmeProblem("unauthorized", "keyChange oldKey is not the account key")
            other = self._account_by_thumbprint(session, new.thumbprint)
            if other is not None:
                raise AcmeProblem(
                    "malformed",
                    "the new key belongs to another account",
                    status=409,
                    headers={"Location": self.url(f"account/{other.id}")},
                )
            session.execute(
                update(ACCOUNTS)
                .where(ACCOUNTS.c.id == a.id)
                .values(thumbprint=new.thumbprint, jwk=new.jwk_json)
            )
            a = Account(a.id, a.status, new.thumbprint, new.jwk_json, a.contact, a.created_at)
        self.keys.put(a.id, new)
        return Reply(self._account_body(a), 200, {"Location": self.url(f"account/{a.id}")})

    # --- orders ----------------------------------------------------------------------------

    def _profile_for(self, name: Any) -> str:
        if name is None:
            default = self.s.config.acme_default_profile
            if default is None:
                raise AcmeProblem("serverInternal", "no profile is enabled for ACME")
            return default
        if not isinstance(name, str) or name not in self.s.config.acme_profiles:
            raise AcmeProblem("invalidProfile", f"profile {name!r} is not offered by this server")
        return name

    def _order_identifiers(self, payload: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        """The profile and the checked, de-duplicated identifiers of a new order."""
        if "notBefore" in payload or "notAfter" in payload:
            raise AcmeProblem("malformed", "notBefore/notAfter are not supported")
        idents = payload.get("identifiers")
        cap = self.limits.max_names_per_order
        if not isinstance(idents, list) or not idents:
            raise AcmeProblem("malformed", "identifiers must be a non-empty list")
        if len(idents) > cap:
            raise AcmeProblem("malformed", f"an order may name at most {cap} identifiers")
        profile = self.s.issuance.profile(self._profile_for(payload.get("profile")))
        clean: list[tuple[str, str]] = []
        problems: list[dict[str, Any]] = []
        for ident in idents:
            if not isinstance(ident, dict) or not isinstance(ident.get("value"), str):
                raise AcmeProblem("malformed", "each identifier needs a type and a value")
            itype, value = ident.get("type"), ident["value"]
            try:
                if itype == "dns":
                    if parse_ip(value) is not None:
                        raise AcmeProblem("malformed", f"{value!r}: an IP address is type ip")
                    clean.append(("dns", check_dns_name(profile, value)))
                elif itype == "ip":
                    ip = parse_ip(value)
                    if ip is None:
                        raise AcmeProblem("malformed", f"{value!r}: not an IP address")
                    clean.append(("ip", str(check_ip(profile, ip))))
                else:
                    problems.append(
                        subproblem("unsupportedIdentifier", f"type {itype!r}", str(itype), value)
                    )
            except PolicyError as ex:
                problems.append(subproblem("rejectedIdentifier", ex.message, str(itype), value))
        if problems:
            code = (
                "rejectedIdentifier"
                if any(p["type"].endswith("rejectedIdentifier") for p in problems)
                else "unsupportedIdentifier"
            )
            raise AcmeProblem(code, "; ".join(p["detail"] for p in problems), subproblems=problems)
        return profile.name, list(dict.fromkeys(clean))

    def new_order(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body)
        payload = r.json()
        with self._transaction(r) as (session, account):
            a = self._account_of(account)
            profile, clean = self._order_identifiers(payload)
            replaces = payload.get("replaces")
            if replaces is not None:
                self._check_replaces(session, a, replaces)
            now = self.s.clock()
            self._check_order_limits(session, a, [v for _t, v in clean], now)
            order: dict[str, Any] = {
                "id": new_id(),
                "account_id": a.id,
                "status": "pending",
                "identifiers": json.dumps([{"type": t, "value": v} for t, v in clean]),
                "profile": profile,
                "expires": now + ORDER_LIFETIME,
                "created_at": now,
                "replaces": replaces,
                "error": None,
                "certificate_serial": None,
            }
            authzs: list[dict[str, Any]] = []
            challenges: list[dict[str, Any]] = []
            for itype, value in clean:
                wildcard = value.startswith("*.")
                authz_id = new_id()
                authzs.append(
                    {
                        "id": authz_id,
                        "order_id": order["id"],
                        "account_id": a.id,
                        "identifier_type": itype,
                        "identifier_value": value.removeprefix("*."),
                        "wildcard": wildcard,
                        "status": "pending",
                        "expires": order["expires"],
                    }
                )
                types = (
                    ["dns-01"]
                    if wildcard
                    else (
                        ["http-01", "tls-alpn-01"]
                        if itype == "ip"
                        else ["http-01", "dns-01", "tls-alpn-01"]
                    )
                )
                challenges += [
                    {
                        "id": new_id(),
                        "authorization_id": authz_id,
                        "type": ctype,
                        "token": secrets.token_urlsafe(32),
                        "status": "pending",
                        "validated": None,
                        "error": None,
                    }
                    for ctype in types
                ]
            session.execute(insert(ORDERS), [order])
            session.execute(insert(AUTHZS), authzs)
            session.execute(insert(CHALLENGES), challenges)
        return Reply(
            self._order_body(order, [z["id"] for z in authzs]),
            201,
            {"Location": self.url(f"order/{order['id']}")},
        )

    def _check_order_limits(
        self, session: Session, a: Account, names: list[str], now: datetime
    ) -> None:
        """Caps on pending work, then the rate limits (recording this order)."""
        limits = self.limits
        pending_orders = session.execute(
            select(func.count()).where(
                ORDERS.c.account_id == a.id,
                ORDERS.c.status.in_(("pending", "ready", "processing")),
                ORDERS.c.expires > now,
            )
        ).scalar_one()
        if pending_orders >= limits.max_pending_orders_per_account:
            raise RateLimited(
                f"this account has {pending_orders} pending orders (at most "
                f"{limits.max_pending_orders_per_account}); finish or let them expire",
                None,
            )
        pending_authzs = session.execute(
            select(func.count()).where(
                AUTHZS.c.account_id == a.id, AUTHZS.c.status == "pending", AUTHZS.c.expires > now
            )
        ).scalar_one()
        if pending_authzs + len(names) > limits.max_pending_authorizations_per_account:
            raise RateLimited(
                f"this account has {pending_authzs} pending authorizations (at most "
                f"{limits.max_pending_authorizations_per_account} with this order's)",
                None,
            )
        check_rate(session, "order-account", a.id, limits.new_orders_per_account, now, "new orders")
        for domain in sorted({registered_domain(n) for n in names}):
            check_rate(
                session,
                "order-domain",
                domain,
                limits.new_orders_per_domain,
                now,
                f"new orders for {domain}",
            )

    def _check_replaces(self, session: Session, a: Account, replaces: Any) -> None:
        if not isinstance(replaces, str):
            raise AcmeProblem("malformed", "replaces must be a certID string")
        aki, serial = ari.parse_cert_id(replaces)
        issuer = self._issuer_by_aki(aki)
        s = serial_hex(serial)
        cert_issuer = session.execute(
            select(CERTIFICATES.c.issuer_id).where(CERTIFICATES.c.serial == s)
        ).scalar_one_or_none()
        if cert_issuer is None or issuer is None or cert_issuer != issuer:
            raise AcmeProblem("malformed", "replaces names no certificate of this CA")
        owner = session.execute(
            select(ORDERS.c.id).where(ORDERS.c.account_id == a.id, ORDERS.c.certificate_serial == s)
        ).first()
        if owner is None:
            raise AcmeProblem("unauthorized", "replaces names a certificate of another account")
        taken = session.execute(
            select(ORDERS.c.id).where(ORDERS.c.replaces == replaces, ORDERS.c.status != "invalid")
        ).first()
        if taken is not None:
            raise AcmeProblem("alreadyReplaced", "another order replaces this certificate")

    def _issuer_by_aki(self, aki: bytes) -> str | None:
        for ca in self.s.loaded.all.values():
            if ca.ski.digest == aki:
                return ca.id
        return None

    def _order_body(self, o: Row, authz_ids: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": o["status"],
            "expires": rfc3339(o["expires"]),
            "identifiers": json.loads(o["identifiers"]),
            "authorizations": [self.url(f"authz/{i}") for i in authz_ids],
            "finalize": self.url(f"order/{o['id']}/finalize"),
            "profile": o["profile"],
        }
        if o["replaces"]:
            body["replaces"] = o["replaces"]
        if o["certificate_serial"]:
            body["certificate"] = self.url(f"cert/{o['certificate_serial']}")
        if o["error"]:
            body["error"] = json.loads(o["error"])
        return body

    @staticmethod
    def _refresh_order(session: Session, o: dict[str, Any], now: datetime) -> list[str]:
        """Update a pending/ready order (``o``, in place) from its authorizations;
        return their ids."""
        authzs = session.execute(
            select(AUTHZS.c.id, AUTHZS.c.status, AUTHZS.c.expires).where(
                AUTHZS.c.order_id == o["id"]
            )
        ).all()
        statuses = {}
        for authz_id, status, expires in authzs:
            if status in ("pending", "valid") and now > expires:
                status = "expired"
                session.execute(update(AUTHZS).where(AUTHZS.c.id == authz_id).values(status=status))
            statuses[authz_id] = status
        changes: dict[str, Any] = {}
        if o["status"] == "processing":
            changes = AcmeServer._recover_processing(session, o, now)
        elif o["status"] in ("pending", "ready") and now > o["expires"]:
            changes = {
                "status": "invalid",
                "error": json.dumps(AcmeProblem("malformed", "order expired").document()),
            }
        elif o["status"] in ("pending", "ready"):
            if any(
                s in ("invalid", "deactivated", "expired", "revoked") for s in statuses.values()
            ):
                changes = {"status": "invalid"}
                REGISTRY.inc("ceremony_online_acme_orders_total", status="invalid")
            elif o["status"] == "pending" and all(s == "valid" for s in statuses.values()):
                changes = {"status": "ready"}
        if changes:
            session.execute(update(ORDERS).where(ORDERS.c.id == o["id"]).values(**changes))
            o.update(changes)
        return [authz_id for authz_id, _s, _e in authzs]

    @staticmethod
    def _recover_processing(session: Session, o: dict[str, Any], now: datetime) -> dict[str, Any]:
        """A ``processing`` order whose finalize was interrupted: ``valid`` with the
        certificate the finalize committed, or ``ready`` again once the finalize has
        clearly died without one; no change while it may still be running."""
        serial = session.execute(
            select(CERTIFICATES.c.serial)
            .where(CERTIFICATES.c.order_ref == order_ref(o["id"]))
            .limit(1)
        ).scalar_one_or_none()
        if serial is not None:
            REGISTRY.inc("ceremony_online_acme_orders_total", status="valid")
            return {"status": "valid", "certificate_serial": serial}
        started = o.get("finalized_at")
        if started is None or started + PROCESSING_TIMEOUT < now:
            log.warning("acme: order %s: finalize died before issuing; ready again", o["id"])
            return {"status": "ready", "finalized_at": None}
        return {}

    @staticmethod
    def _owned_order(session: Session, a: Account, order_id: str) -> dict[str, Any]:
        """The order, locked (``FOR UPDATE``), if it belongs to ``a``."""
        row = (
            session.execute(select(ORDERS).where(ORDERS.c.id == order_id).with_for_update())
            .mappings()
            .one_or_none()
        )
        if row is None:
            raise AcmeProblem("malformed", "no such order", status=404)
        if row["account_id"] != a.id:
            raise AcmeProblem("unauthorized", "this order belongs to another account")
        return dict(row)

    def order(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body)
        with self._transaction(r) as (session, account):
            o = self._owned_order(session, self._account_of(account), request.path_params["id"])
            ids = self._refresh_order(session, o, self.s.clock())
            reply = self._order_body(o, ids)
        headers = {"Retry-After": RETRY_AFTER_POLL} if o["status"] == "processing" else {}
        return Reply(reply, 200, headers)

    def finalize(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body)
        payload = r.json()
        order_id = request.path_params["id"]
        now = self.s.clock()
        with self._transaction(r) as (session, account):
            a = self._account_of(account)
            o = self._owned_order(session, a, order_id)
            was = o["status"]
            ids = self._refresh_order(session, o, now)
            if was == "processing" and o["status"] == "valid":  # an interrupted finalize
                return Reply(
                    self._order_body(o, ids), 200, {"Location": self.url(f"order/{order_id}")}
                )
            if o["status"] != "ready":
                raise AcmeProblem("orderNotReady", f"order is {o['status']}, not ready")
            csr_b64 = payload.get("csr")
            if not isinstance(csr_b64, str):
                raise AcmeProblem("malformed", "finalize needs a csr")
            try:
                csr = parse_csr(jose.decode_b64jose(csr_b64))
            except jose.DeserializationError as ex:
                raise AcmeProblem("badCSR", "csr is not base64url") from ex
            except InputError as ex:
                raise AcmeProblem("badCSR", ex.message) from ex
            self._check_csr_matches(csr, json.loads(o["identifiers"]), r.key)
            session.execute(
                update(ORDERS)
                .where(ORDERS.c.id == order_id)
                .values(status="processing", finalized_at=now)
            )
            profile = o["profile"]
        try:
            issued = self.s.issuance.issue_csr(
                csr,
                profile,
                Actor(a.id, "acme-account"),
                None,
                {"acme_order": order_id},
                order_ref=order_ref(order_id),
            )
        except (PolicyError, InputError) as ex:
            self._fail_order(order_id, AcmeProblem("badCSR", ex.message))
            raise AcmeProblem("badCSR", ex.message) from ex
        except CeremonyError as ex:
            self._fail_order(order_id, AcmeProblem("serverInternal", client_message(ex)))
            raise
        with self.db.write() as session:
            session.execute(
                update(ORDERS)
                .where(ORDERS.c.id == order_id)
                .values(status="valid", certificate_serial=issued.serial)
            )
            o.update(status="valid", certificate_serial=issued.serial)
            ids = self._refresh_order(session, o, now)
            reply = self._order_body(o, ids)
        REGISTRY.inc("ceremony_online_acme_orders_total", status="valid")
        return Reply(reply, 200, {"Location": self.url(f"order/{order_id}")})

    def _fail_order(self, order_id: str, problem: AcmeProblem) -> None:
        with self.db.write() as session:
            session.execute(
                update(ORDERS)
                .where(ORDERS.c.id == order_id)
                .values(status="invalid", error=json.dumps(problem.document()))
            )
        REGISTRY.inc("ceremony_online_acme_orders_total", status="invalid")

    @staticmethod
    def _check_csr_matches(
        csr: x509.CertificateSigningRequest, idents: list[dict[str, str]], account_key: AccountKey
    ) -> None:
        try:
            dns, ips, cn = csr_names(csr)
            want = {(i["type"], i["value"]) for i in idents}
            got = {("dns", normalize_dns_name(n)) for n in dns} | {("ip", str(ip)) for ip in ips}
        except PolicyError as ex:
            raise AcmeProblem("badCSR", ex.message) from ex
        if cn is not None:
            ip = parse_ip(cn)
            cn_ident = ("ip", str(ip)) if ip is not None else ("dns", cn.lower().rstrip("."))
            if cn_ident not in want:
                raise AcmeProblem("badCSR", f"CSR common name {cn!r} is not in the order")
        if got != want:
            missing = sorted(v for _t, v in want - got)
            extra = sorted(v for _t, v in got - want)
            raise AcmeProblem(
                "badCSR",
                f"CSR names differ from the order (missing {missing}, not ordered {extra})",
            )
        if account_key.same_key(csr.public_key()):
            raise AcmeProblem("badCSR", "the certificate key must not be the account key")

    # --- authorizations and challenges ---------------------------------------------------

    def _authz_body(self, z: Row, chals: list[Row]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": z["status"],
            "expires": rfc3339(z["expires"]),
            "identifier": {"type": z["identifier_type"], "value": z["identifier_value"]},
            "challenges": [self._chall_body(c) for c in chals],
        }
        if z["wildcard"]:
            body["wildcard"] = True
        return body

    def _chall_body(self, c: Row) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": c["type"],
            "url": self.url(f"chall/{c['id']}"),
            "status": c["status"],
            "token": c["token"],
        }
        if c["validated"] is not None:
            body["validated"] = rfc3339(c["validated"])
        if c["error"]:
            body["error"] = json.loads(c["error"])
        return body

    @staticmethod
    def _owned_authz(session: Session, a: Account, authz_id: str) -> dict[str, Any]:
        row = (
            session.execute(select(AUTHZS).where(AUTHZS.c.id == authz_id).with_for_update())
            .mappings()
            .one_or_none()
        )
        if row is None:
            raise AcmeProblem("malformed", "no such authorization", status=404)
        if row["account_id"] != a.id:
            raise AcmeProblem("unauthorized", "this authorization belongs to another account")
        return dict(row)

    @staticmethod
    def _challenges(session: Session, authz_id: str) -> list[Row]:
        return list(
            session.execute(
                select(CHALLENGES)
                .where(CHALLENGES.c.authorization_id == authz_id)
                .order_by(CHALLENGES.c.type)
            ).mappings()
        )

    @staticmethod
    def _set_authz(session: Session, z: dict[str, Any], status: str) -> None:
        session.execute(update(AUTHZS).where(AUTHZS.c.id == z["id"]).values(status=status))
        z["status"] = status

    def _refresh_order_of(self, session: Session, order_id: str, now: datetime) -> None:
        row = (
            session.execute(select(ORDERS).where(ORDERS.c.id == order_id).with_for_update())
            .mappings()
            .one_or_none()
        )
        if row is not None:
            self._refresh_order(session, dict(row), now)

    def authz(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body)
        payload = r.json()
        now = self.s.clock()
        with self._transaction(r) as (session, account):
            z = self._owned_authz(session, self._account_of(account), request.path_params["id"])
            if z["status"] in ("pending", "valid") and now > z["expires"]:
                self._set_authz(session, z, "expired")
            if payload:
                if payload.get("status") != "deactivated":
                    raise AcmeProblem("malformed", "authorization status may only be deactivated")
                if z["status"] not in ("pending", "valid"):
                    raise AcmeProblem("malformed", f"authorization is {z['status']}")
                self._set_authz(session, z, "deactivated")
                self._refresh_order_of(session, z["order_id"], now)
            reply = self._authz_body(z, self._challenges(session, z["id"]))
        return Reply(reply)

    def challenge(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body)
        start = not r.post_as_get
        if start:
            r.json()
        chall_id = request.path_params["id"]
        submit = False
        with self._transaction(r) as (session, account):
            a = self._account_of(account)
            row = (
                session.execute(
                    select(CHALLENGES).where(CHALLENGES.c.id == chall_id).with_for_update()
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                raise AcmeProblem("malformed", "no such challenge", status=404)
            c = dict(row)
            z = self._owned_authz(session, a, c["authorization_id"])
            if start and c["status"] == "pending":
                if z["status"] != "pending":
                    raise AcmeProblem("malformed", f"authorization is {z['status']}")
                session.execute(
                    update(CHALLENGES)
                    .where(CHALLENGES.c.id == chall_id)
                    .values(status="processing")
                )
                c["status"] = "processing"
                submit = True
            reply = self._chall_body(c)
            authz_url = self.url(f"authz/{z['id']}")
        if submit:
            ident = z["identifier_value"]
            self._va.submit(
                a.id,
                lambda: self._validate(chall_id, c["type"], c["token"], ident, a.thumbprint),
            )
        return Reply(reply, 200, {"Link": f'<{authz_url}>;rel="up"'})

    def _validate(
        self, chall_id: str, ctype: str, token: str, ident: str, account_thumbprint: str
    ) -> None:
        try:
            key_authz = validation.key_authorization(token, account_thumbprint)
            limit = float(self.limits.validation_timeout_seconds)
            if ctype == "http-01":
                problem = validation.check_http01(ident, token, key_authz, self.overrides, limit)
            elif ctype == "dns-01":
                problem = validation.check_dns01(ident, key_authz, self.overrides, limit)
            else:
                problem = validation.check_tlsalpn01(ident, key_authz, self.overrides, limit)
            now = self.s.clock()
            with self.db.write() as session:
                authz_id = session.execute(
                    select(CHALLENGES.c.authorization_id)
                    .where(CHALLENGES.c.id == chall_id)
                    .with_for_update()
                ).scalar_one()
                z = (
                    session.execute(
                        select(AUTHZS.c.id, AUTHZS.c.status, AUTHZS.c.order_id)
                        .where(AUTHZS.c.id == authz_id)
                        .with_for_update()
                    )
                    .mappings()
                    .one()
                )
                if problem is None:
                    chall: dict[str, Any] = {"status": "valid", "validated": now}
                    authz_status = "valid"
                else:
                    chall = {"status": "invalid", "error": json.dumps(problem.document())}
                    authz_status = "invalid"
                session.execute(update(CHALLENGES).where(CHALLENGES.c.id == chall_id).values(chall))
                if z["status"] == "pending":
                    session.execute(
                        update(AUTHZS).where(AUTHZS.c.id == authz_id).values(status=authz_status)
                    )
                self._refresh_order_of(session, z["order_id"], now)
        except CeremonyError as ex:
            log.error("acme validation of %s failed: %s", chall_id, ex.message)
        except Exception:
            log.exception("acme validation of %s crashed", chall_id)

    # --- certificates ---------------------------------------------------------------------

    def certificate(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body)
        with self._transaction(r) as (session, account):
            a = self._account_of(account)
            try:
                serial = normalize_serial(request.path_params["serial"])
            except InputError as ex:
                raise AcmeProblem("malformed", ex.message, status=404) from ex
            owned = session.execute(
                select(ORDERS.c.id).where(
                    ORDERS.c.account_id == a.id, ORDERS.c.certificate_serial == serial
                )
            ).first()
            if owned is None:
                raise AcmeProblem("unauthorized", "this certificate was not issued to your account")
            der = session.execute(
                select(CERTIFICATES.c.der).where(CERTIFICATES.c.serial == serial)
            ).scalar_one_or_none()
        if der is None:
            raise AcmeProblem("malformed", "no such certificate", status=404)
        pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        chain = pem + self.s.issuance.issuer.chain_pem
        return Reply(chain, 200, {}, "application/pem-certificate-chain")

    def revoke_cert(self, request: Request, body: bytes) -> Reply:
        r = self.verify(request, body, "either")
        payload = r.json()
        with self._transaction(r) as (session, account):
            cert_b64 = payload.get("certificate")
            if not isinstance(cert_b64, str):
                raise AcmeProblem("malformed", "revokeCert needs a certificate")
            try:
                cert = x509.load_der_x509_certificate(jose.decode_b64jose(cert_b64))
            except (jose.DeserializationError, ValueError) as ex:
                raise AcmeProblem("malformed", "certificate is not base64url DER") from ex
            code = payload.get("reason", 0)
            if not isinstance(code, int) or isinstance(code, bool):
                raise AcmeProblem("badRevocationReason", "reason must be an integer")
            try:
                reason = reason_from_code(code)
            except InputError as ex:
                raise AcmeProblem("badRevocationReason", ex.message) from ex
            serial = serial_hex(cert.serial_number)
            row = session.execute(
                select(CERTIFICATES.c.der, CERTIFICATES.c.names, CERTIFICATES.c.revoked).where(
                    CERTIFICATES.c.serial == serial
                )
            ).one_or_none()
            if row is None or row.der != cert.public_bytes(serialization.Encoding.DER):
                raise AcmeProblem(
                    "malformed", "this certificate was not issued by this server", status=404
                )
            if account is None:
                if not r.key.same_key(cert.public_key()):
                    raise AcmeProblem("unauthorized", "the jwk is not the certificate's key")
                actor = Actor(f"certificate-key:{serial}", "acme-certificate-key")
            else:
                names = json.loads(row.names)
                if not self._may_revoke(session, account, serial, names, self.s.clock()):
                    raise AcmeProblem("unauthorized", "this account may not revoke the certificate")
                actor = Actor(account.id, "acme-account")
            if row.revoked:
                raise AcmeProblem("alreadyRevoked", "the certificate is revoked already")
        try:
            self.s.issuance.revoke(serial, reason, actor)
        except UnknownCertificate as ex:
            raise AcmeProblem("malformed", ex.message, status=404) from ex
        except InputError as ex:
            if "already revoked" in ex.message:
                raise AcmeProblem("alreadyRevoked", ex.message) from ex
            raise
        return Reply(None, 200)

    @staticmethod
    def _may_revoke(
        session: Session, a: Account, serial: str, names: list[str], now: datetime
    ) -> bool:
        owned = session.execute(
            select(ORDERS.c.id).where(
                ORDERS.c.account_id == a.id, ORDERS.c.certificate_serial == serial
            )
        ).first()
        if owned is not None:
            return True
        valid = set(
            session.execute(
                select(AUTHZS.c.identifier_value).where(
                    AUTHZS.c.account_id == a.id,
                    AUTHZS.c.status == "valid",
                    AUTHZS.c.expires > now,
                )
            ).scalars()
        )
        return bool(names) and all(n.removeprefix("*.") in valid for n in names)

    def renewal_info(self, request: Request) -> Reply:
        aki, serial = ari.parse_cert_id(request.path_params["certid"])
        issuer = self._issuer_by_aki(aki)
        issued = self.s.issuance.get(serial_hex(serial)) if issuer is not None else None
        if issued is None:
            raise AcmeProblem("malformed", "no such certificate", status=404)
        start, end = ari.suggested_window(
            issued.not_before, issued.not_after, issued.revoked, self.s.clock()
        )
        return Reply(
            {"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)}},
            200,
            {"Retry-After": ARI_RETRY_AFTER},
        )
