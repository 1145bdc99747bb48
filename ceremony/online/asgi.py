"""ASGI factory for worker processes: ``serve --workers N`` passes the options by env.

Each worker process opens the data folder and database itself (the parent
bootstrapped and migrated them before starting the workers).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from starlette.types import ASGIApp

from ceremony.online.acme_settings import AcmeTestOverrides
from ceremony.online.app import create_app
from ceremony.online.service import ServiceOptions, open_service
from ceremony.online.workers import die_with_master

ENV = "CEREMONY_ONLINE_SERVE_OPTIONS"


def options_to_env(options: ServiceOptions) -> str:
    data = asdict(options)
    data["data"] = str(options.data)
    return json.dumps(data)


def options_from_env() -> ServiceOptions:
    data = json.loads(os.environ[ENV])
    overrides = data.pop("acme_test")
    if overrides.get("dns_server") is not None:
        overrides["dns_server"] = tuple(overrides["dns_server"])
    data["tls_self_names"] = tuple(data.get("tls_self_names", ()))
    return ServiceOptions(
        data=Path(data.pop("data")), acme_test=AcmeTestOverrides(**overrides), **data
    )


def app_from_env() -> ASGIApp:
    die_with_master()
    options = options_from_env()
    return create_app(open_service(options))
