"""REST API ``/api/v1``: sign a CSR against a profile, fetch, list, revoke.

Every error is one line of JSON: ``{"error": CODE, "detail": TEXT}`` with
CODE one of ``badRequest``, ``policy``, ``unauthorized``, ``forbidden``,
``notFound``, ``fault``. Handlers run their blocking work (database,
signing) in the thread pool.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ceremony.audit.eventlog import Actor
from ceremony.errors import CeremonyError, FaultError, InputError, PolicyError
from ceremony.online.api.tokens import TokenGrant, TokenVerifier
from ceremony.online.bodies import CLOSE, BodyTooLarge, read_limited
from ceremony.online.certlist import CertificateFilter, list_certificates, parse_int, parse_page
from ceremony.online.db.engine import client_message
from ceremony.online.issuance import UnknownCertificate, normalize_serial
from ceremony.online.reasons import check_reason
from ceremony.online.service import OnlineService
from ceremony.online.urls import NoUrls

MAX_BODY = 64 * 1024
LIST_PARAMETERS = frozenset(
    {"after", "limit", "profile", "name", "serial", "status", "expiring_days"}
)
log = logging.getLogger("ceremony.online.api")


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = " ".join(detail.split())
        self.headers = headers


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": code, "detail": " ".join(detail.split())}, status_code=status, headers=headers
    )


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(fn: Handler) -> Handler:
    async def run(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as ex:
            return error_response(ex.status, ex.code, ex.detail, ex.headers)
        except PolicyError as ex:
            return error_response(403, "policy", ex.message)
        except InputError as ex:
            return error_response(400, "badRequest", ex.message)
        except FaultError as ex:
            return error_response(503, "fault", client_message(ex))
        except CeremonyError as ex:
            return error_response(500, "fault", ex.message)
        except Exception as ex:  # a defect: logged here, one line of JSON to the client
            log.exception("api: %s %s failed", request.method, request.url.path)
            return error_response(500, "fault", f"internal error ({type(ex).__name__})")

    return run


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await read_limited(request, MAX_BODY)
    except BodyTooLarge as ex:
        raise ApiError(413, "badRequest", str(ex), dict(CLOSE)) from ex
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as ex:
        raise ApiError(400, "badRequest", f"body is not JSON: {ex}") from ex
    if not isinstance(obj, dict):
        raise ApiError(400, "badRequest", "body must be a JSON object")
    return obj


class RestApi:
    """The ``/api/v1`` routes bound to one service."""

    def __init__(self, service: OnlineService) -> None:
        self.service = service
        self.tokens = TokenVerifier(service.db, service.clock)

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/profiles", _guarded(self.profiles), methods=["GET"]),
            Route("/api/v1/issuers", _guarded(self.issuers), methods=["GET"]),
            Route("/api/v1/certificates", _guarded(self.sign), methods=["POST"]),
            Route("/api/v1/certificates", _guarded(self.list), methods=["GET"]),
            Route("/api/v1/certificates/{serial}", _guarded(self.fetch), methods=["GET"]),
            Route("/api/v1/certificates/{serial}/revoke", _guarded(self.revoke), methods=["POST"]),
        ]

    async def _grant(self, request: Request) -> TokenGrant:
        authorization = request.headers.get("authorization")
        known, grant = self.tokens.cached(authorization)
        if not known:
            grant = await run_in_threadpool(self.tokens.verify, authorization)
        if grant is None:
            raise ApiError(401, "unauthorized", "a valid bearer token is required")
        return grant

    async def profiles(self, request: Request) -> Response:
        grant = await self._grant(request)
        return JSONResponse(
            {
                "profiles": [
                    p.as_dict()
                    for p in self.service.config.profiles.values()
                    if grant.may_use(p.name)
                ]
            }
        )

    async def issuers(self, request: Request) -> Response:
        s = self.service

        def describe() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for ca in s.loaded.all.values():
                item: dict[str, Any] = {
                    "id": ca.id,
                    "subject": ca.certificate.subject.rfc4514_string(),
                    "certificate": ca.chain_pem.decode(),
                    "crl_shards": ca.crl_shards,
                }
                try:
                    urls = s.urls.current(ca.id)
                except NoUrls:
                    pass
                else:
                    item["crl_full"] = urls.crl_full
                    item["crl_delta"] = urls.crl_delta
                    item["crl_distribution_point"] = urls.crl_shard_template
                    item["url_generation"] = urls.generation
                out.append(item)
            return out

        items = await run_in_threadpool(describe)
        return JSONResponse({"active": s.loaded.active.id, "issuers": items})

    async def sign(self, request: Request) -> Response:
        grant = await self._grant(request)
        body = await _json_body(request)
        profile = body.get("profile")
        csr = body.get("csr")
        ttl = body.get("ttl_hours")
        if not isinstance(profile, str):
            raise ApiError(400, "badRequest", "profile: required string")
        if not isinstance(csr, str):
            raise ApiError(400, "badRequest", "csr: required PEM string")
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool)):
            raise ApiError(400, "badRequest", "ttl_hours: must be an integer")
        unknown = sorted(set(body) - {"profile", "csr", "ttl_hours"})
        if unknown:
            raise ApiError(400, "badRequest", f"{unknown[0]}: unknown field")
        if profile not in self.service.config.profiles:
            raise ApiError(400, "badRequest", f"profile {profile!r}: no such profile")
        if not grant.may_use(profile):
            raise ApiError(403, "forbidden", f"profile {profile!r}: not allowed for this token")
        issued = await run_in_threadpool(
            self.service.issuance.issue_csr,
            csr.encode(),
            profile,
            Actor(grant.name, "api-token"),
            ttl,
        )
        return JSONResponse(
            issued.as_dict(),
            status_code=201,
            headers={"Location": f"/api/v1/certificates/{issued.serial}"},
        )

    async def fetch(self, request: Request) -> Response:
        grant = await self._grant(request)
        serial = normalize_serial(request.path_params["serial"])
        issued = await run_in_threadpool(self.service.issuance.get, serial)
        if issued is None or not grant.may_use(issued.profile):
            raise ApiError(404, "notFound", f"serial {serial}: no such certificate")
        return JSONResponse(issued.as_dict())

    async def list(self, request: Request) -> Response:
        grant = await self._grant(request)
        q = request.query_params
        unknown = sorted(set(q) - LIST_PARAMETERS)
        if unknown:
            raise ApiError(400, "badRequest", f"{unknown[0]}: unknown query parameter")
        page = parse_page(q.get("limit"), q.get("after"))
        days = q.get("expiring_days")
        f = CertificateFilter(
            profile=q.get("profile"),
            name=q.get("name"),
            serial=q.get("serial"),
            status=q.get("status"),
            expiring_within=(
                timedelta(days=parse_int(days, "expiring_days", 1, 36500, 0)) if days else None
            ),
            profiles=None if grant.admin or "*" in grant.profiles else grant.profiles,
        )

        def query() -> list[dict[str, Any]]:
            with self.service.db.read() as session:
                return list_certificates(session, f, page, self.service.clock())

        items = await run_in_threadpool(query)
        out: dict[str, Any] = {"certificates": items}
        if len(items) == page.limit:
            following = dict(q)
            following.update(after=str(items[-1]["id"]), limit=str(page.limit))
            out["next"] = f"/api/v1/certificates?{urlencode(following)}"
        return JSONResponse(out)

    async def revoke(self, request: Request) -> Response:
        grant = await self._grant(request)
        serial = normalize_serial(request.path_params["serial"])
        body = await _json_body(request)
        unknown = sorted(set(body) - {"reason"})
        if unknown:
            raise ApiError(400, "badRequest", f"{unknown[0]}: unknown field")
        reason = body.get("reason", "unspecified")
        if not isinstance(reason, str):
            raise ApiError(400, "badRequest", "reason: must be a string")
        check_reason(reason)
        try:
            revoked = await run_in_threadpool(
                self.service.issuance.revoke,
                serial,
                reason,
                Actor(grant.name, "api-token"),
                lambda row: grant.may_use(row.profile),
            )
        except UnknownCertificate as ex:
            raise ApiError(404, "notFound", ex.message) from ex
        return JSONResponse(revoked.as_dict())
