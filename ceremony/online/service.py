"""The assembled online CA: data folder, database, issuers, issuance, CRLs, OCSP.

:func:`open_service` is what ``serve`` and the other subcommands call: it
bootstraps an empty data folder (rehearsal), migrates the database and
loads the issuers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from ceremony.audit.eventlog import utc_now
from ceremony.errors import ConfigError, InputError
from ceremony.online.acme_settings import AcmeTestOverrides
from ceremony.online.config import DataFolder, OnlineConfig, load_config
from ceremony.online.crl import CrlPublisher, CrlSettings
from ceremony.online.crl_copies import CrlCopies
from ceremony.online.db.engine import Database, DatabaseUrl
from ceremony.online.db.models import Issuer
from ceremony.online.hierarchy import (
    LoadedIssuers,
    load_issuers,
    register_issuers,
)
from ceremony.online.issuance import Clock, IssuanceService
from ceremony.online.ocsp import OcspResponder, OcspSettings
from ceremony.online.rehearsal import bootstrap_rehearsal
from ceremony.online.urls import UrlBook, record_missing


@dataclass(frozen=True)
class ServiceOptions:
    """How to open a data folder."""

    data: Path
    """The data folder (bootstrapped with a rehearsal hierarchy when empty)."""
    database: str | None = None
    """``postgresql://...`` or ``sqlite:///...``; default: SQLite in the data folder."""
    public_url: str = "http://127.0.0.1:8443"
    """Base URL of this process's ACME resources and API links. Certificates and CRLs
    point to the issuer's recorded URLs instead (:mod:`ceremony.online.urls`)."""
    record_urls: bool = True
    """Record the public URL as the URLs of an issuer that has none yet (``serve``: the
    data folder's first start); admin commands leave such an issuer without."""
    bootstrap: bool = True
    """Bootstrap an empty data folder (``serve``); other commands refuse one."""
    acme_test: AcmeTestOverrides = field(default_factory=AcmeTestOverrides)
    db_pool_size: int = 8
    tls_self_names: tuple[str, ...] = ()
    """``serve --tls self``: the names of its certificate, which the running service
    renews (:class:`ceremony.online.tls.LiveRenewal`); empty otherwise."""


class OnlineService:
    """Everything a request handler needs."""

    def __init__(
        self,
        options: ServiceOptions,
        folder: DataFolder,
        config: OnlineConfig,
        db: Database,
        loaded: LoadedIssuers,
        clock: Clock = utc_now,
    ) -> None:
        self.options = options
        self.folder = folder
        self.config = config
        self.db = db
        self.loaded = loaded
        self.clock = clock
        self.public_url = options.public_url.rstrip("/")
        self.urls = UrlBook(db)
        self.crls = CrlPublisher(
            db,
            loaded.all,
            self.urls,
            clock,
            CrlSettings(
                validity=timedelta(hours=config.service.crl_validity_hours),
                delta_validity=timedelta(hours=config.service.delta_crl_validity_hours),
            ),
            CrlCopies(folder.crl_copies),
        )
        self.ocsp = OcspResponder(
            db,
            loaded.all,
            clock,
            OcspSettings(cache_seconds=float(config.service.ocsp_cache_seconds)),
        )
        self.issuance = IssuanceService(
            db,
            loaded.active,
            config.profiles,
            self.urls,
            clock,
            on_revoked=[
                lambda event: self.ocsp.on_revoked(event.issuer_id, event.serial),
                self.crls.on_revoked,
            ],
        )

    def newer_active_issuer(self) -> str | None:
        """The issuer ``ca/active`` names when it is not the one this process issues from
        (``import-intermediate`` ran after the start), else None."""
        try:
            on_disk = self.folder.active.read_text().strip()
        except OSError:
            return None
        return on_disk if on_disk and on_disk != self.loaded.active.id else None

    def close(self) -> None:
        self.issuance.close()
        self.db.dispose()


def database_url(options: ServiceOptions, folder: DataFolder) -> DatabaseUrl:
    if options.database:
        return DatabaseUrl.parse(options.database)
    return DatabaseUrl.sqlite_file(folder.sqlite)


def open_database(options: ServiceOptions, folder: DataFolder) -> Database:
    url = database_url(options, folder)
    db = Database(url, pool_size=options.db_pool_size)
    db.migrate()
    return db


def open_service(options: ServiceOptions, clock: Clock = utc_now) -> OnlineService:
    folder = DataFolder(Path(options.data))
    folder.check_usable()
    database_url(options, folder)  # refuse a bad --database before bootstrapping anything
    if folder.is_empty():
        if not options.bootstrap:
            raise InputError(f"--data {folder.root}: empty; run serve once to bootstrap it")
        bootstrap_rehearsal(folder)
    config = load_config(folder.config)
    loaded = load_issuers(folder, config.service.crl_shards)
    db = open_database(options, folder)
    service: OnlineService | None = None
    try:
        register_issuers(db, loaded.all, loaded.active.id, clock())
        service = OnlineService(options, folder, config, db, loaded, clock)
        _record_urls(service, options, config)
        if options.bootstrap:  # serve: lint every profile's template before serving
            service.issuance.prepare()
    except BaseException:
        if service is not None:
            service.issuance.close()
        db.dispose()
        raise
    return service


def _record_urls(service: OnlineService, options: ServiceOptions, config: OnlineConfig) -> None:
    """URLs for issuers that have none; ``serve`` refuses an ``online.toml``
    ``revocation_url`` that differs from the active issuer's recorded URLs."""
    with service.db.read() as session:
        order = [
            i
            for i in session.execute(select(Issuer.id).order_by(Issuer.created_at)).scalars()
            if i in service.loaded.all
        ]
    configured = config.service.revocation_url
    fallback = service.public_url if options.record_urls else None
    record_missing(service.urls, order, configured, fallback, service.clock())
    if options.record_urls and configured is not None:
        active = service.urls.current(service.loaded.active.id)
        if active.base != configured:
            raise ConfigError(
                f"{service.folder.config}: revocation_url {configured} differs from the URLs "
                f"recorded for issuer {active.issuer_id} ({active.base}, generation "
                f"{active.generation}); change them with ceremony-online urls set --base "
                f"{configured} (new certificates only) or remove revocation_url"
            )
