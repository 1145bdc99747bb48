"""The public URLs of each issuing CA: data in the database, one place for every rule.

Certificates carry a CRL distribution point (their shard's CRL), an OCSP and a
caIssuers URL; shard CRLs carry an IssuingDistributionPoint that must equal
the CDP of every certificate in them (RFC 5280 6.3.3: otherwise a relying party
reports "different CRL scope"); the full CRL points to the delta CRL. All of
them come from one row of ``issuer_urls``, never from the process that issues
or builds a CRL (its ``--listen``, ``--tls`` or ``--public-url``).

The rows of an issuer are numbered generations. The first is recorded when the
issuer is first registered (``online.toml``'s ``revocation_url``, else the URLs
of the issuer that was active before it, else the public URL of the first
``serve``); ``ceremony-online urls set`` adds the next one. Each certificate
records the generation it was issued under; a new generation applies to new
certificates only, and shard CRLs are published for every generation that
still has unexpired certificates, at that generation's URLs::

    generation 1:  BASE/crl/ISSUER/SHARD.crl
    generation G:  BASE/crl/ISSUER/G/SHARD.crl     (G >= 2: a path of its own, so
                                                    two bases served by one
                                                    service never collide)
    full, delta:   BASE/crl/ISSUER/full.crl, BASE/crl/ISSUER/delta.crl
    OCSP:          BASE/ocsp
    caIssuers:     BASE/ca/ISSUER.der

Running services pick a new generation up within :data:`RELOAD_SECONDS`.
A retired generation stays live until its last certificate expires (that
instant is computed once no process can still issue under it).
"""

from __future__ import annotations

import getpass
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ceremony.audit.eventlog import Actor
from ceremony.errors import CeremonyError, InputError
from ceremony.online import audit
from ceremony.online.db.engine import Database
from ceremony.online.db.models import Certificate, IssuerUrlSet

RELOAD_SECONDS = 10.0
"""How often a process re-reads the current generation of each issuer."""
SETTLE = timedelta(minutes=10)
"""After this long no process issues under a retired generation any more."""


def check_base(text: str, what: str) -> str:
    """An ``http://`` or ``https://`` base URL with a host, no query or fragment."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise InputError(f"{what} {text!r}: must be an http:// or https:// base URL with a host")
    return text.rstrip("/")


def unreachable_for_relying_parties(base: str) -> str | None:
    """Why relying parties may not fetch revocation data under ``base`` (to follow it
    in a sentence), or None.

    openssl's ``-crl_download`` (and the CA/Browser Forum's rules) fetch CRLs,
    OCSP and CA certificates over plain ``http://`` only (they are signed; TLS would
    need them to check itself)."""
    if urlsplit(base).scheme == "https":
        return (
            "is https://, but relying parties such as openssl -crl_download fetch CRLs, "
            "OCSP and CA certificates over plain http:// only"
        )
    return None


@dataclass(frozen=True)
class IssuerUrls:
    """One generation of an issuer's public URLs."""

    issuer_id: str
    generation: int
    base: str
    crl_shard_template: str
    """The CDP of shard N is this with ``{shard}`` replaced by N."""
    crl_full: str
    crl_delta: str
    ocsp: str
    ca_issuers: str
    created_at: datetime
    retired_at: datetime | None = None
    last_not_after: datetime | None = None

    def crl_shard(self, shard: int) -> str:
        return self.crl_shard_template.replace("{shard}", str(shard))

    def live(self, now: datetime, grace: timedelta) -> bool:
        """Its shard CRLs are still published."""
        if self.retired_at is None or self.last_not_after is None:
            return True
        return self.last_not_after + grace >= now


def derive(issuer_id: str, generation: int, base: str, now: datetime) -> IssuerUrls:
    """The URLs of generation ``generation`` under ``base`` (see the module docstring)."""
    base = base.rstrip("/")
    crl = f"{base}/crl/{issuer_id}"
    shards = crl if generation == 1 else f"{crl}/{generation}"
    return IssuerUrls(
        issuer_id=issuer_id,
        generation=generation,
        base=base,
        crl_shard_template=shards + "/{shard}.crl",
        crl_full=f"{crl}/full.crl",
        crl_delta=f"{crl}/delta.crl",
        ocsp=f"{base}/ocsp",
        ca_issuers=f"{base}/ca/{issuer_id}.der",
        created_at=now,
    )


def shard_scope(shard: int, generation: int) -> str:
    """The ``crls.scope`` of a shard CRL of a generation."""
    return f"shard-{shard}" if generation == 1 else f"g{generation}-shard-{shard}"


def parse_shard_scope(scope: str) -> tuple[int, int] | None:
    """``(shard, generation)`` of a shard scope; None for ``full``/``delta``/others."""
    gen = 1
    rest = scope
    if scope.startswith("g") and "-shard-" in scope:
        head, _, rest = scope.partition("-")
        if not head[1:].isdigit():
            return None
        gen = int(head[1:])
        if gen < 2:
            return None
    if not rest.startswith("shard-") or not rest[6:].isdigit():
        return None
    return int(rest[6:]), gen


def served_scope(name: str, generation: str | None) -> str | None:
    """The scope a request for ``/crl/ISSUER[/GENERATION]/NAME.crl`` asks for (None: no such)."""
    if generation is None:
        if name in ("full", "delta"):
            return name
        return f"shard-{int(name)}" if name.isdigit() else None
    if not generation.isdigit() or int(generation) < 2 or not name.isdigit():
        return None
    return shard_scope(int(name), int(generation))


def _from_row(row: IssuerUrlSet) -> IssuerUrls:
    return IssuerUrls(
        issuer_id=row.issuer_id,
        generation=row.generation,
        base=row.base,
        crl_shard_template=row.crl_shard,
        crl_full=row.crl_full,
        crl_delta=row.crl_delta,
        ocsp=row.ocsp,
        ca_issuers=row.ca_issuers,
        created_at=row.created_at,
        retired_at=row.retired_at,
        last_not_after=row.last_not_after,
    )


class NoUrls(InputError):
    """An issuer has no URLs recorded yet."""

    def __init__(self, issuer_id: str) -> None:
        super().__init__(
            f"issuer {issuer_id}: no public URLs recorded; set them with "
            "ceremony-online urls set --base URL (or start serve once)"
        )


class UrlBook:
    """This process's view of ``issuer_urls``: the current generation of each issuer
    (re-read every :data:`RELOAD_SECONDS`) and any generation by number."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._current: dict[str, tuple[float, IssuerUrls]] = {}

    def _load_current(self, issuer_id: str) -> IssuerUrls | None:
        with self.db.read() as session:
            row = session.execute(
                select(IssuerUrlSet)
                .where(IssuerUrlSet.issuer_id == issuer_id)
                .order_by(IssuerUrlSet.generation.desc())
                .limit(1)
            ).scalar_one_or_none()
            return None if row is None else _from_row(row)

    def current(self, issuer_id: str) -> IssuerUrls:
        """The generation new certificates of ``issuer_id`` are issued under."""
        with self._lock:
            hit = self._current.get(issuer_id)
        if hit is not None and hit[0] > monotonic():
            return hit[1]
        try:
            urls = self._load_current(issuer_id)
        except CeremonyError:
            if hit is not None:  # the database is away: keep issuing under what we know
                return hit[1]
            raise
        if urls is None:
            raise NoUrls(issuer_id)
        with self._lock:
            self._current[issuer_id] = (monotonic() + RELOAD_SECONDS, urls)
        return urls

    def generations(self, issuer_id: str) -> list[IssuerUrls]:
        with self.db.read() as session:
            rows = session.execute(
                select(IssuerUrlSet)
                .where(IssuerUrlSet.issuer_id == issuer_id)
                .order_by(IssuerUrlSet.generation)
            ).scalars()
            return [_from_row(r) for r in rows]

    def generation(self, issuer_id: str, generation: int) -> IssuerUrls | None:
        with self.db.read() as session:
            row = session.get(IssuerUrlSet, (issuer_id, generation))
            return None if row is None else _from_row(row)

    def forget(self) -> None:
        with self._lock:
            self._current.clear()

    def settle(self, now: datetime) -> None:
        """Record when the last certificate of each settled retired generation expires."""
        with self.db.read() as session:
            pending = session.execute(
                select(
                    IssuerUrlSet.issuer_id, IssuerUrlSet.generation, IssuerUrlSet.retired_at
                ).where(
                    IssuerUrlSet.retired_at.is_not(None),
                    IssuerUrlSet.last_not_after.is_(None),
                )
            ).all()
        for issuer_id, generation, retired_at in pending:
            if retired_at is None or retired_at + SETTLE > now:
                continue
            with self.db.write() as session:
                last = session.execute(
                    select(func.max(Certificate.not_after)).where(
                        Certificate.issuer_id == issuer_id,
                        Certificate.url_generation == generation,
                    )
                ).scalar_one_or_none()
                row = session.get(IssuerUrlSet, (issuer_id, generation), with_for_update=True)
                if row is not None and row.last_not_after is None:
                    row.last_not_after = _aware(last) if last is not None else retired_at

    def record(
        self, issuer_id: str, base: str, actor: Actor, now: datetime, first_only: bool = False
    ) -> IssuerUrls | None:
        """Add the next generation under ``base`` (audited); with ``first_only``, only when
        the issuer has none yet (returns None when it had). InputError when ``base`` is
        the current one already."""
        for _attempt in range(3):
            try:
                with self.db.write() as session:
                    latest = session.execute(
                        select(IssuerUrlSet)
                        .where(IssuerUrlSet.issuer_id == issuer_id)
                        .order_by(IssuerUrlSet.generation.desc())
                        .limit(1)
                        .with_for_update()
                    ).scalar_one_or_none()
                    if latest is not None and first_only:
                        return None
                    if latest is not None and latest.base == base.rstrip("/"):
                        raise InputError(
                            f"--base {base}: already the current URLs of issuer {issuer_id} "
                            f"(generation {latest.generation})"
                        )
                    generation = 1 if latest is None else latest.generation + 1
                    urls = derive(issuer_id, generation, base, now)
                    if latest is not None:
                        latest.retired_at = now
                    session.add(
                        IssuerUrlSet(
                            issuer_id=issuer_id,
                            generation=generation,
                            base=urls.base,
                            crl_shard=urls.crl_shard_template,
                            crl_full=urls.crl_full,
                            crl_delta=urls.crl_delta,
                            ocsp=urls.ocsp,
                            ca_issuers=urls.ca_issuers,
                            created_at=now,
                        )
                    )
                    audit.append(
                        session,
                        "issuer.urls",
                        actor,
                        {
                            "issuer": issuer_id,
                            "generation": generation,
                            "base": urls.base,
                            "crl_distribution_point": urls.crl_shard_template,
                            "ocsp": urls.ocsp,
                            "ca_issuers": urls.ca_issuers,
                        },
                        now,
                    )
            except IntegrityError:
                continue  # another process recorded a generation at the same moment
            self.forget()
            return urls
        raise InputError(f"issuer {issuer_id}: URLs changed concurrently; try again")


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def operator() -> Actor:
    """The person at an administrative command: the login name of the account running it."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment, uid without an entry
        name = f"uid {os.getuid()}"
    return Actor(name, "operator")


def record_missing(
    book: UrlBook,
    issuer_ids: list[str],
    configured: str | None,
    fallback: str | None,
    now: datetime,
) -> list[IssuerUrls]:
    """Record generation 1 for each issuer of ``issuer_ids`` (oldest first) that has none:
    ``configured`` (``online.toml``'s ``revocation_url``) if given, else the base of the
    newest issuer that has URLs, else ``fallback`` (the first ``serve``'s public URL;
    None: leave it without). Return what was recorded."""
    known = {i: gens[-1] for i in issuer_ids if (gens := book.generations(i))}
    recorded: list[IssuerUrls] = []
    for issuer_id in issuer_ids:
        if issuer_id in known:
            continue
        bases = [known[i].base for i in issuer_ids if i in known]
        base = configured or (bases[-1] if bases else fallback)
        if base is None:
            continue
        urls = book.record(issuer_id, base, Actor("service", "service"), now, first_only=True)
        if urls is None:  # another process recorded it meanwhile
            urls = book.current(issuer_id)
        else:
            recorded.append(urls)
        known[issuer_id] = urls
    return recorded
