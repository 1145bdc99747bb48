"""Issuance profiles: what goes into a certificate and who may ask for which names.

Three kinds are built in (``tls-server``, ``tls-client``, ``code-signing``).
A data folder's ``online.toml`` may define profiles under ``[profiles.NAME]``
(strict: unknown keys are refused)::

    [profiles.web]
    kind = "tls-server"
    domains = ["internal.test"]        # the domain itself ...
    allow_subdomains = true            # ... and names below it
    allow_wildcards = false
    ip_networks = ["127.0.0.0/8"]
    key_types = ["ecdsa-p256", "ecdsa-p384", "rsa-2048"]
    default_ttl_hours = 720
    max_ttl_hours = 2160
    min_ttl_hours = 1
    lint = "template"                  # template | always | sampled | off
    lint_sample_rate = 0.05
    ocsp = true                        # write the OCSP URL into certificates
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ceremony.errors import ConfigError

KINDS = ("tls-server", "tls-client", "code-signing")
KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072", "rsa-4096")
LINT_MODES = ("template", "always", "sampled", "off")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

EKU_BY_KIND: dict[str, tuple[x509.ObjectIdentifier, ...]] = {
    "tls-server": (ExtendedKeyUsageOID.SERVER_AUTH,),
    "tls-client": (ExtendedKeyUsageOID.CLIENT_AUTH,),
    "code-signing": (ExtendedKeyUsageOID.CODE_SIGNING,),
}


@dataclass(frozen=True)
class Profile:
    """One issuance profile (certificate contents plus name and key policy)."""

    name: str
    """Profile name used in the API, the ACME directory and the database."""
    kind: str = "tls-server"
    """``tls-server``, ``tls-client`` or ``code-signing``: fixes KU and EKU."""
    domains: tuple[str, ...] = ()
    """DNS names allowed (exactly, or with subdomains if ``allow_subdomains``)."""
    allow_subdomains: bool = True
    """Names below an allowed domain are allowed too."""
    allow_wildcards: bool = False
    """``*.domain`` names are allowed (only for tls-server)."""
    ip_networks: tuple[IpNetwork, ...] = ()
    """IP address SANs allowed inside these networks."""
    common_names: tuple[str, ...] = ()
    """code-signing: subject CNs allowed (exact strings)."""
    key_types: tuple[str, ...] = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")
    """Subject key types accepted."""
    default_ttl_hours: int = 24 * 30
    min_ttl_hours: int = 1
    max_ttl_hours: int = 24 * 90
    lint: str = "template"
    """Pre-issuance lint (:mod:`ceremony.online.prelint`): ``template``, ``always``,
    ``sampled`` or ``off``."""
    lint_sample_rate: float = 0.05
    """Fraction also linted in full by pkilint when ``lint`` is ``sampled``."""
    ocsp: bool = True
    """Write the OCSP responder URL (AIA) into certificates of this profile."""
    acme: bool = False
    """This profile is offered through ACME (the first such profile is the default)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key_usage(self) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )

    @property
    def extended_key_usage(self) -> x509.ExtendedKeyUsage:
        return x509.ExtendedKeyUsage(list(EKU_BY_KIND[self.kind]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "domains": list(self.domains),
            "allow_subdomains": self.allow_subdomains,
            "allow_wildcards": self.allow_wildcards,
            "ip_networks": [str(n) for n in self.ip_networks],
            "common_names": list(self.common_names),
            "key_types": list(self.key_types),
            "default_ttl_hours": self.default_ttl_hours,
            "min_ttl_hours": self.min_ttl_hours,
            "max_ttl_hours": self.max_ttl_hours,
            "lint": self.lint,
            "lint_sample_rate": self.lint_sample_rate,
            "ocsp": self.ocsp,
            "acme": self.acme,
        }


REHEARSAL_DOMAINS = ("localhost", "test", "internal")


def default_profiles() -> dict[str, Profile]:
    """The profiles a freshly bootstrapped rehearsal data folder starts with."""
    loopback = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    return {
        "tls-server": Profile(
            name="tls-server",
            kind="tls-server",
            domains=REHEARSAL_DOMAINS,
            allow_wildcards=True,
            ip_networks=loopback,
            acme=True,
        ),
        "tls-client": Profile(
            name="tls-client", kind="tls-client", domains=REHEARSAL_DOMAINS, ip_networks=loopback
        ),
        "code-signing": Profile(
            name="code-signing",
            kind="code-signing",
            common_names=("Rehearsal Code Signing",),
            default_ttl_hours=24 * 365,
            max_ttl_hours=24 * 365,
            ocsp=False,
        ),
    }


_FIELDS = {
    "kind",
    "domains",
    "allow_subdomains",
    "allow_wildcards",
    "ip_networks",
    "common_names",
    "key_types",
    "default_ttl_hours",
    "min_ttl_hours",
    "max_ttl_hours",
    "lint",
    "lint_sample_rate",
    "ocsp",
    "acme",
}


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: must be a list of strings")
    return tuple(value)


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: must be true or false")
    return value


def _int(where: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}: must be a non-negative integer")
    return value


def parse_profile(name: str, table: Any, source: str) -> Profile:
    """Build a profile from one TOML table; every key is checked."""
    where = f"{source}: [profiles.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}")
    p = Profile(name=name)
    kw: dict[str, Any] = {}
    for key, value in table.items():
        at = f"{where} {key}"
        if key == "kind":
            if value not in KINDS:
                raise ConfigError(f"{at}: must be one of {', '.join(KINDS)}")
            kw[key] = value
        elif key == "domains":
            kw[key] = tuple(v.lower().rstrip(".") for v in _strings(at, value))
        elif key == "common_names":
            kw[key] = _strings(at, value)
        elif key == "key_types":
            types = _strings(at, value)
            bad = [t for t in types if t not in KEY_TYPES]
            if bad:
                raise ConfigError(f"{at}: unknown key type {bad[0]!r}")
            kw[key] = types
        elif key == "ip_networks":
            try:
                kw[key] = tuple(ipaddress.ip_network(v) for v in _strings(at, value))
            except ValueError as ex:
                raise ConfigError(f"{at}: {ex}") from ex
        elif key in ("allow_subdomains", "allow_wildcards", "ocsp", "acme"):
            kw[key] = _bool(at, value)
        elif key in ("default_ttl_hours", "min_ttl_hours", "max_ttl_hours"):
            kw[key] = _int(at, value)
        elif key == "lint":
            if value not in LINT_MODES:
                raise ConfigError(f"{at}: must be one of {', '.join(LINT_MODES)}")
            kw[key] = value
        elif key == "lint_sample_rate":
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigError(f"{at}: must be a number from 0 to 1")
            kw[key] = float(value)
    p = replace(p, **kw)
    if not p.min_ttl_hours <= p.default_ttl_hours <= p.max_ttl_hours:
        raise ConfigError(f"{where}: need min_ttl_hours <= default_ttl_hours <= max_ttl_hours")
    if p.max_ttl_hours < 1:
        raise ConfigError(f"{where}: max_ttl_hours must be at least 1")
    return p
