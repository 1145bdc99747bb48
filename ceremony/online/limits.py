"""ACME resource limits: rate limits, caps and validation concurrency (``[limits]``).

``online.toml``::

    [limits]
    new_accounts_per_ip = { count = 10, minutes = 180 }
    new_orders_per_account = { count = 300, minutes = 180 }
    new_orders_per_domain = { count = 1000, minutes = 10080 }   # per registered domain
    max_names_per_order = 100
    max_pending_orders_per_account = 100
    max_pending_authorizations_per_account = 300
    validation_workers = 8             # validations at once, all accounts together
    validation_per_account = 2         # validations at once of one account
    # (both in each process: serve --workers N runs N times as many)
    validation_timeout_seconds = 10    # one validation, connection to answer, at most

A rate limit counts events in the last ``minutes`` in the database
(``rate_events``), so every worker and every ``serve`` on one PostgreSQL share
it; an event is recorded in the transaction that creates what it counts. Past
a limit the request is refused with the RFC 8555 ``rateLimited`` problem (HTTP
429) and a ``Retry-After`` of the seconds until the oldest counted event leaves
the window. The registered domain of a name is the label below its public
suffix (Mozilla's Public Suffix List, as the ``publicsuffixlist`` package ships
it; a name under a suffix the list does not know, such as ``.internal``, counts
under its last two labels); an IP address counts as itself.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ceremony.errors import ConfigError, InputError
from ceremony.online.db.models import RateEvent


@dataclass(frozen=True)
class Rate:
    """At most ``count`` events per ``minutes``."""

    count: int
    minutes: int

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class LimitSettings:
    """The ``[limits]`` table."""

    new_accounts_per_ip: Rate = field(default_factory=lambda: Rate(10, 180))
    new_orders_per_account: Rate = field(default_factory=lambda: Rate(300, 180))
    new_orders_per_domain: Rate = field(default_factory=lambda: Rate(1000, 7 * 24 * 60))
    max_names_per_order: int = 100
    max_pending_orders_per_account: int = 100
    max_pending_authorizations_per_account: int = 300
    validation_workers: int = 8
    validation_per_account: int = 2
    validation_timeout_seconds: int = 10

    @property
    def longest_window(self) -> timedelta:
        return max(
            r.window
            for r in (
                self.new_accounts_per_ip,
                self.new_orders_per_account,
                self.new_orders_per_domain,
            )
        )


_INT_BOUNDS = {
    "max_names_per_order": (1, 1000),
    "max_pending_orders_per_account": (1, 1_000_000),
    "max_pending_authorizations_per_account": (1, 1_000_000),
    "validation_workers": (1, 256),
    "validation_per_account": (1, 64),
    "validation_timeout_seconds": (1, 120),
}


_COMMENTS = {
    "new_accounts_per_ip": "new ACME accounts from one IP address",
    "new_orders_per_account": "new orders of one account",
    "new_orders_per_domain": "new orders naming one registered domain",
    "max_names_per_order": "identifiers in one order",
    "max_pending_orders_per_account": "orders not yet valid or invalid, per account",
    "max_pending_authorizations_per_account": "authorizations pending, per account",
    "validation_workers": "challenge validations at once in each process, all accounts",
    "validation_per_account": "challenge validations at once of one account, each process",
    "validation_timeout_seconds": "one validation, from connecting to the answer",
}


def render_limits(limits: LimitSettings) -> list[str]:
    """The ``[limits]`` table as ``online.toml`` lines, every key with its value."""
    lines = ["[limits]"]
    for f in fields(LimitSettings):
        value = getattr(limits, f.name)
        text = (
            f"{{ count = {value.count}, minutes = {value.minutes} }}"
            if isinstance(value, Rate)
            else str(value)
        )
        lines.append(f"{f.name} = {text}".ljust(60) + f"# {_COMMENTS[f.name]}")
    return lines


def _int(source: str, key: str, value: Any, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{source}: [limits] {key} must be an integer from {lo} to {hi}")
    return value


def _rate(source: str, key: str, value: Any) -> Rate:
    if not isinstance(value, dict) or set(value) != {"count", "minutes"}:
        raise ConfigError(f"{source}: [limits] {key} must be a table {{ count = N, minutes = M }}")
    return Rate(
        _int(source, f"{key}.count", value["count"], 1, 100_000_000),
        _int(source, f"{key}.minutes", value["minutes"], 1, 366 * 24 * 60),
    )


def parse_limits(table: Any, source: str) -> LimitSettings:
    """The ``[limits]`` table, strictly (unknown keys refused)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [limits] must be a table")
    known = {f.name for f in fields(LimitSettings)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{source}: [limits] unknown key {unknown[0]!r}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _INT_BOUNDS:
            values[key] = _int(source, key, value, *_INT_BOUNDS[key])
        else:
            values[key] = _rate(source, key, value)
    limits = LimitSettings(**values)
    if limits.validation_per_account > limits.validation_workers:
        raise ConfigError(
            f"{source}: [limits] validation_per_account must not exceed validation_workers"
        )
    return limits


@lru_cache(maxsize=1)
def _psl() -> Any:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def registered_domain(identifier: str) -> str:
    """The key a name counts under for ``new_orders_per_domain`` (see the module docstring)."""
    try:
        return str(ipaddress.ip_address(identifier))
    except ValueError:
        pass
    name = identifier.lower().rstrip(".").removeprefix("*.")
    labels = name.split(".")
    if _psl().publicsuffix(name, accept_unknown=False) is None:
        return ".".join(labels[-2:])
    domain = _psl().privatesuffix(name, accept_unknown=False)
    return str(domain) if domain else name


class RateLimited(InputError):
    """Over a rate limit or cap; ``retry_after`` seconds until it lifts (None: a cap, which
    lifts when pending work completes)."""

    def __init__(self, message: str, retry_after: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def check_rate(
    session: Session, scope: str, key: str, rate: Rate, now: datetime, what: str
) -> None:
    """Refuse (RateLimited) when ``rate`` is used up for ``key``; else record one event."""
    since = now - rate.window
    count, oldest = session.execute(
        select(func.count(), func.min(RateEvent.at)).where(
            RateEvent.scope == scope, RateEvent.key == key, RateEvent.at > since
        )
    ).one()
    if count >= rate.count:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
        wait = max(1, math.ceil((oldest + rate.window - now).total_seconds()))
        raise RateLimited(
            f"too many {what}: {rate.count} per {rate.minutes} minutes; retry after {wait} s",
            wait,
        )
    session.add(RateEvent(scope=scope, key=key[:255], at=now))


def forget_old(session: Session, limits: LimitSettings, now: datetime) -> int:
    """Drop events older than every window (maintenance); return how many."""
    result = session.execute(delete(RateEvent).where(RateEvent.at < now - limits.longest_window))
    return int(getattr(result, "rowcount", 0) or 0)
