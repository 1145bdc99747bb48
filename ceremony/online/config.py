"""Service configuration: the data folder layout and ``online.toml``.

Data folder::

    DIR/online.toml                     service settings and profiles (strict TOML)
    DIR/online.sqlite3                  embedded database (unless --database)
    DIR/ca/root.pem                     trust anchor (the offline root)
    DIR/ca/active                       id of the issuer that signs new certificates
    DIR/ca/issuers/<id>/certificate.pem issuing CA certificate
    DIR/ca/issuers/<id>/chain.pem       certificates above it, root last
    DIR/ca/issuers/<id>/key.ref         where its key is: ``file:key.pem`` or ``pkcs11:...``
    DIR/ca/pending/                     init-intermediate's key awaiting its certificate
    DIR/softhsm/                        the embedded SoftHSM2 token holding the issuing keys
    DIR/tls/server.pem                  serve --tls self: its TLS certificate + issuing chain
    DIR/tls/server.key                  serve --tls self: its TLS key (P-256, 0600; folder 0700)
    DIR/crl-copies/<issuer>/<scope>.crl the last good copy of each CRL (database outages)
    DIR/.metrics/<pid>/                 serve --workers N: the workers' shared metrics
    DIR/rehearsal/                      rehearsal only: the token PIN, and the root ceremony's
                                        evidence bundle (root-ceremony/) made by bootstrap

``online.toml``::

    [service]
    crl_shards = 16              # shards for new issuers
    crl_validity_hours = 96
    delta_crl_validity_hours = 24
    ocsp_cache_seconds = 60
    # revocation_url = "http://pki.example.com:8080"   # base of the CRL, OCSP and CA-certificate
    #     URLs recorded for an issuer at its first start (default: serve's public URL); once
    #     recorded, serve refuses a different value: ceremony-online urls set changes them

    [acme]
    eab_required = true          # init-intermediate writes true, the rehearsal bootstrap false
    default_profile = "tls-server"

    [limits]                     # rate limits, caps, validation (every key written with its
                                 # default): see ceremony.online.limits

    [profiles.NAME]              # see ceremony.online.profiles
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ceremony.errors import ConfigError, InputError
from ceremony.online.limits import LimitSettings, parse_limits, render_limits
from ceremony.online.profiles import Profile, parse_profile

CONFIG_NAME = "online.toml"
SQLITE_NAME = "online.sqlite3"
BOOTSTRAP_DIR = ".bootstrap"
METRICS_DIR = ".metrics"

_SERVICE_KEYS = {
    "crl_shards",
    "crl_validity_hours",
    "delta_crl_validity_hours",
    "ocsp_cache_seconds",
    "revocation_url",
}
_ACME_KEYS = {"eab_required", "default_profile"}


@dataclass(frozen=True)
class ServiceSettings:
    """The ``[service]`` table."""

    crl_shards: int = 16
    crl_validity_hours: int = 96
    delta_crl_validity_hours: int = 24
    ocsp_cache_seconds: int = 60
    revocation_url: str | None = None
    """Base of the CRL, OCSP and caIssuers URLs recorded for an issuer that has none yet
    (plain HTTP for relying parties that fetch revocation data only so); default: the
    first ``serve``'s public URL. See :mod:`ceremony.online.urls`."""


@dataclass(frozen=True)
class AcmeSettings:
    """The ``[acme]`` table."""

    eab_required: bool = False
    """New accounts must carry an external account binding."""
    default_profile: str | None = None
    """Profile for orders that name none; default: the first profile with ``acme = true``."""


@dataclass(frozen=True)
class OnlineConfig:
    """Everything ``online.toml`` says."""

    service: ServiceSettings = ServiceSettings()
    acme: AcmeSettings = AcmeSettings()
    profiles: dict[str, Profile] = field(default_factory=dict)
    limits: LimitSettings = field(default_factory=LimitSettings)

    @property
    def acme_profiles(self) -> list[str]:
        return [p.name for p in self.profiles.values() if p.acme]

    @property
    def acme_default_profile(self) -> str | None:
        if self.acme.default_profile:
            return self.acme.default_profile
        names = self.acme_profiles
        return names[0] if names else None


@dataclass(frozen=True)
class DataFolder:
    """Paths inside a data folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def sqlite(self) -> Path:
        return self.root / SQLITE_NAME

    @property
    def ca(self) -> Path:
        return self.root / "ca"

    @property
    def root_cert(self) -> Path:
        return self.ca / "root.pem"

    @property
    def active(self) -> Path:
        return self.ca / "active"

    @property
    def issuers(self) -> Path:
        return self.ca / "issuers"

    @property
    def pending(self) -> Path:
        return self.ca / "pending"

    @property
    def rehearsal(self) -> Path:
        return self.root / "rehearsal"

    @property
    def tls(self) -> Path:
        """``serve --tls self``: the service's own TLS certificate and key."""
        return self.root / "tls"

    @property
    def tls_cert(self) -> Path:
        return self.tls / "server.pem"

    @property
    def tls_key(self) -> Path:
        return self.tls / "server.key"

    @property
    def crl_copies(self) -> Path:
        """The last good copy of every CRL, served while the database is down."""
        return self.root / "crl-copies"

    @property
    def metrics(self) -> Path:
        """``serve --workers N``: each master's metrics of all its workers."""
        return self.root / METRICS_DIR

    def issuer_dir(self, issuer_id: str) -> Path:
        return self.issuers / issuer_id

    def is_empty(self) -> bool:
        """Nothing in it but, perhaps, an interrupted bootstrap's work folder (or the
        metrics folder of a ``serve --workers N`` that is bootstrapping it)."""
        return not self.root.exists() or all(
            p.name in (BOOTSTRAP_DIR, METRICS_DIR) for p in self.root.iterdir()
        )

    def create(self) -> None:
        """Make the folder (and its parents) if missing; refuse a path that cannot be one."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as ex:
            raise InputError(f"--data {self.root}: cannot be created: {ex.strerror}") from ex

    def check_usable(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"--data {self.root}: not a folder")
        if not self.is_empty() and not self.config.exists():
            raise InputError(
                f"--data {self.root}: not empty and holds no {CONFIG_NAME} (not a data folder)"
            )


def _table(doc: dict[str, Any], name: str, keys: set[str], source: str) -> dict[str, Any]:
    t = doc.get(name, {})
    if not isinstance(t, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    unknown = sorted(set(t) - keys)
    if unknown:
        raise ConfigError(f"{source}: [{name}] unknown key {unknown[0]!r}")
    return t


def _pos_int(source: str, key: str, value: Any, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{source}: {key} must be an integer from {lo} to {hi}")
    return value


def _base_url(source: str, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {key} must be a string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"{source}: {key} {value!r} must be an http:// or https:// base URL with a host"
        )
    return value.rstrip("/")


def load_config(path: Path) -> OnlineConfig:
    """Parse ``online.toml`` strictly (unknown tables and keys are refused)."""
    source = str(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as ex:
        raise ConfigError(f"{source}: cannot be read: {ex.strerror}") from ex
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as ex:
        raise ConfigError(f"{source}: not valid TOML: {ex}") from ex
    unknown = sorted(set(doc) - {"service", "acme", "profiles", "limits"})
    if unknown:
        raise ConfigError(f"{source}: unknown table [{unknown[0]}]")
    s = _table(doc, "service", _SERVICE_KEYS, source)
    service = ServiceSettings(
        crl_shards=_pos_int(source, "crl_shards", s.get("crl_shards", 16), 1, 4096),
        crl_validity_hours=_pos_int(
            source, "crl_validity_hours", s.get("crl_validity_hours", 96), 1, 240
        ),
        delta_crl_validity_hours=_pos_int(
            source, "delta_crl_validity_hours", s.get("delta_crl_validity_hours", 24), 1, 240
        ),
        ocsp_cache_seconds=_pos_int(
            source, "ocsp_cache_seconds", s.get("ocsp_cache_seconds", 60), 0, 86400
        ),
        revocation_url=_base_url(source, "revocation_url", s.get("revocation_url")),
    )
    a = _table(doc, "acme", _ACME_KEYS, source)
    eab = a.get("eab_required", False)
    if not isinstance(eab, bool):
        raise ConfigError(f"{source}: [acme] eab_required must be true or false")
    default_profile = a.get("default_profile")
    if default_profile is not None and not isinstance(default_profile, str):
        raise ConfigError(f"{source}: [acme] default_profile must be a string")
    p = doc.get("profiles", {})
    if not isinstance(p, dict):
        raise ConfigError(f"{source}: [profiles] must hold tables")
    profiles = {name: parse_profile(name, table, source) for name, table in p.items()}
    if not profiles:
        raise ConfigError(f"{source}: defines no [profiles.NAME]")
    if default_profile is not None and default_profile not in profiles:
        raise ConfigError(f"{source}: [acme] default_profile {default_profile!r} is not a profile")
    return OnlineConfig(
        service=service,
        acme=AcmeSettings(eab_required=eab, default_profile=default_profile),
        profiles=profiles,
        limits=parse_limits(doc.get("limits", {}), source),
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def render_config(config: OnlineConfig) -> str:
    """``online.toml`` text for ``config`` (bootstrap and ``init-intermediate`` write it)."""
    lines = ["# ceremony-online service configuration (strict: unknown keys are refused)", ""]
    lines.append("[service]")
    for key, value in vars(config.service).items():
        if value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    if config.service.revocation_url is None:
        lines += [
            '# revocation_url = "http://pki.example.com"  # base of the CRL, OCSP and CA '
            "certificate URLs",
            "#     recorded at the first serve (default: its public URL); then: urls set",
        ]
    lines += ["", "[acme]", f"eab_required = {_toml_value(config.acme.eab_required)}"]
    if config.acme.default_profile:
        lines.append(f"default_profile = {_toml_value(config.acme.default_profile)}")
    lines += ["", *render_limits(config.limits)]
    for profile in config.profiles.values():
        lines += ["", f"[profiles.{profile.name}]"]
        for key, value in profile.as_dict().items():
            if key != "name":
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
