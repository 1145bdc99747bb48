"""The ASGI application (Starlette): every public path of the service.

``/healthz``, ``/metrics``, ``/openapi.json``, ``/api/v1/...`` (REST),
``/acme/...`` (RFC 8555), ``/crl/<issuer>/<shard|full|delta>.crl``,
``/ca/<issuer>.der`` and ``/ca/root.pem`` (AIA caIssuers), ``/ocsp``
(RFC 6960 POST and GET).

A background thread rebuilds CRLs past half their validity and drops
expired ACME nonces.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from time import monotonic
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ceremony.errors import CeremonyError, FaultError, InputError
from ceremony.online import audit
from ceremony.online.acme.server import AcmeServer
from ceremony.online.api.openapi import openapi_document
from ceremony.online.api.rest import RestApi, error_response
from ceremony.online.bodies import CLOSE, BodyTooLarge, read_limited
from ceremony.online.db.engine import client_message
from ceremony.online.limits import forget_old
from ceremony.online.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ceremony.online.metrics import REGISTRY
from ceremony.online.service import OnlineService
from ceremony.online.urls import served_scope

log = logging.getLogger("ceremony.online")
MAX_OCSP_REQUEST = 8192
MAINTENANCE_SECONDS = 60.0


class _Metrics:
    """ASGI middleware counting requests by top-level path and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parts = str(scope.get("path", "/")).split("/")
        area = parts[1] if len(parts) > 1 and parts[1] else "root"
        if area not in ("api", "acme", "crl", "ocsp", "ca", "healthz", "metrics", "openapi.json"):
            area = "other"
        status = {"code": 500}

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            REGISTRY.inc(
                "ceremony_online_http_requests_total", area=area, status=str(status["code"])
            )


class Maintenance:
    """Background work, one thread per process: chain pending audit records every
    ``audit_interval`` seconds; refresh CRLs and OCSP responses and expire ACME nonces
    every ``interval``."""

    def __init__(
        self,
        service: OnlineService,
        acme: AcmeServer,
        interval: float,
        audit_interval: float = 1.0,
        tls_renewal: Callable[[], None] | None = None,
    ) -> None:
        self.service = service
        self.acme = acme
        self.tls_renewal = tls_renewal
        self._newer_said: str | None = None
        self.interval = interval
        self.audit_interval = audit_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ceremony-maintenance", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _say_newer_issuer(self) -> None:
        newer = self.service.newer_active_issuer()
        if newer is not None and newer != self._newer_said:
            log.warning(
                "issuer %s is now the active one in %s: restart this serve to issue from it "
                "(it issues from %s and answers no CRL or OCSP request of %s)",
                newer,
                self.service.folder.active,
                self.service.loaded.active.id,
                newer,
            )
        self._newer_said = newer

    def _run(self) -> None:
        last_error, last_logged = "", 0.0
        next_refresh = monotonic() + self.interval
        while not self._stop.wait(self.audit_interval):
            try:
                audit.sequence(self.service.db)
                if monotonic() >= next_refresh:
                    next_refresh = monotonic() + self.interval
                    self.service.crls.refresh()
                    self.service.ocsp.refresh()
                    self.acme.expire_nonces()
                    with self.service.db.write() as session:
                        forget_old(session, self.service.config.limits, self.service.clock())
                    if self.tls_renewal is not None:
                        self.tls_renewal()
                    self._say_newer_issuer()
            except CeremonyError as ex:  # one line a minute while it lasts (a database outage)
                if ex.message != last_error or monotonic() - last_logged > 60:
                    log.error("maintenance: %s", ex.message)
                    last_error, last_logged = ex.message, monotonic()
            else:
                last_error = ""
        try:
            audit.sequence(self.service.db)
        except CeremonyError as ex:
            if ex.message != last_error:
                log.error("maintenance: %s", ex.message)


def _tls_renewal(service: OnlineService) -> Callable[[], None] | None:
    """``serve --tls self``: renew and serve the certificate while running, one log line
    each time (renewals a start would make: see :mod:`ceremony.online.tls`)."""
    if not service.options.tls_self_names:
        return None
    from ceremony.online.tls import LiveRenewal, parse_names

    live = LiveRenewal(service, parse_names(service.options.tls_self_names))

    def renew() -> None:
        own = live.run(service.clock())
        if own is not None:
            log.warning(
                "TLS certificate %s serial %s now served, valid until %s UTC (%s)",
                own.files.cert,
                own.files.serial,
                f"{own.files.not_after:%Y-%m-%d %H:%M}",
                own.renewed or "renewed by another process",
            )

    return renew


def create_app(
    service: OnlineService, maintenance_interval: float = MAINTENANCE_SECONDS
) -> ASGIApp:
    rest = RestApi(service)
    acme = AcmeServer(service)
    maintenance = Maintenance(
        service, acme, maintenance_interval, tls_renewal=_tls_renewal(service)
    )

    async def healthz(_request: Request) -> Response:
        def check() -> None:
            with service.db.read() as session:
                session.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(check)
        except CeremonyError as ex:
            return JSONResponse({"status": "fault", "detail": client_message(ex)}, status_code=503)
        return JSONResponse({"status": "ok", "issuer": service.loaded.active.id})

    async def metrics(_request: Request) -> Response:
        body = await run_in_threadpool(REGISTRY.render)
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(openapi_document(service.public_url))

    async def crl(request: Request) -> Response:
        issuer_id = request.path_params["issuer"]
        scope = served_scope(request.path_params["name"], request.path_params.get("generation"))
        if issuer_id not in service.loaded.all:
            return error_response(404, "notFound", f"issuer {issuer_id}: unknown")
        if scope is None:
            return error_response(404, "notFound", f"{request.url.path}: no such CRL")
        try:
            stored = await run_in_threadpool(service.crls.current, issuer_id, scope)
        except InputError as ex:
            return error_response(404, "notFound", ex.message)
        except FaultError as ex:  # logged by the publisher, in one line
            return error_response(503, "fault", client_message(ex))
        return Response(
            stored.der,
            media_type="application/pkix-crl",
            headers={
                "Cache-Control": "public, max-age=60",
                "Last-Modified": stored.this_update.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            },
        )

    async def ca_cert(request: Request) -> Response:
        issuer = service.loaded.all.get(request.path_params["issuer"])
        if issuer is None:
            return error_response(404, "notFound", "unknown issuer")
        return Response(
            issuer.certificate.public_bytes(serialization.Encoding.DER),
            media_type="application/pkix-cert",
        )

    async def root_pem(_request: Request) -> Response:
        return Response(
            service.loaded.root.public_bytes(serialization.Encoding.PEM),
            media_type="application/x-pem-file",
        )

    async def ocsp_post(request: Request) -> Response:
        try:
            body = await read_limited(request, MAX_OCSP_REQUEST)
        except BodyTooLarge:
            return Response(status_code=413, headers=CLOSE)
        der = service.ocsp.cached(body) or await run_in_threadpool(service.ocsp.respond, body)
        return Response(der, media_type="application/ocsp-response")

    async def ocsp_get(request: Request) -> Response:
        der = await run_in_threadpool(service.ocsp.respond_get, request.path_params["req"])
        return Response(
            der, media_type="application/ocsp-response", headers={"Cache-Control": "max-age=60"}
        )

    routes: list[Any] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/crl/{issuer}/{name}.crl", crl, methods=["GET"]),
        Route("/crl/{issuer}/{generation}/{name}.crl", crl, methods=["GET"]),
        Route("/ca/root.pem", root_pem, methods=["GET"]),
        Route("/ca/{issuer}.der", ca_cert, methods=["GET"]),
        Route("/ocsp", ocsp_post, methods=["POST"]),
        Route("/ocsp/{req:path}", ocsp_get, methods=["GET"]),
        *rest.routes(),
        *acme.routes(),
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        maintenance.start()
        try:
            yield
        finally:
            maintenance.stop()
            acme.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    return _Metrics(app)
