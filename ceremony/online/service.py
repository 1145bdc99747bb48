"""The assembled online CA: data folder, database, issuers, issuance, CRLs, OCSP.

:func:`open_service` is what ``serve`` and the other subcommands call: it
bootstraps an empty data folder (rehearsal), migrates the database and
loads the issuers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from ceremony.audit.eventlog import utc_now
from ceremony.errors import InputError
from ceremony.online.acme_settings import AcmeTestOverrides
from ceremony.online.config import DataFolder, OnlineConfig, load_config
from ceremony.online.crl import CrlPublisher, CrlSettings
from ceremony.online.db.engine import Database, DatabaseUrl
from ceremony.online.hierarchy import (
    LoadedIssuers,
    load_issuers,
    register_issuers,
)
from ceremony.online.issuance import Clock, IssuanceService
from ceremony.online.issuer import Urls
from ceremony.online.ocsp import OcspResponder, OcspSettings
from ceremony.online.rehearsal import bootstrap_rehearsal


@dataclass(frozen=True)
class ServiceOptions:
    """How to open a data folder."""

    data: Path
    """The data folder (bootstrapped with a rehearsal hierarchy when empty)."""
    database: str | None = None
    """``postgresql://...`` or ``sqlite:///...``; default: SQLite in the data folder."""
    public_url: str = "http://127.0.0.1:8443"
    """Base URL written into certificates (CDP, AIA) and ACME resources."""
    bootstrap: bool = True
    """Bootstrap an empty data folder (``serve``); other commands refuse one."""
    acme_test: AcmeTestOverrides = field(default_factory=AcmeTestOverrides)
    db_pool_size: int = 8


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
        self.urls = Urls(options.public_url.rstrip("/"), config.service.revocation_url)
        self.crls = CrlPublisher(
            db,
            loaded.all,
            self.urls,
            clock,
            CrlSettings(
                validity=timedelta(hours=config.service.crl_validity_hours),
                delta_validity=timedelta(hours=config.service.delta_crl_validity_hours),
            ),
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
            on_revoked=[self.ocsp.forget, self.crls.on_revoked],
        )

    def close(self) -> None:
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
    register_issuers(db, loaded.all, loaded.active.id, clock())
    return OnlineService(options, folder, config, db, loaded, clock)
