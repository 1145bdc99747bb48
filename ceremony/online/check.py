"""``ceremony-online check``: does every live certificate's CDP lead to a CRL that covers it?

For each unexpired certificate the CRL distribution point in its DER is
compared with the URL its database record says it was issued under; then each
distinct CDP is fetched over HTTP(S) as a relying party would, and the CRL
found there must be signed by the certificate's issuer, be current, carry an
IssuingDistributionPoint equal to that CDP (else a relying party reports
"different CRL scope") and list every revoked certificate that points there.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from sqlalchemy import select

from ceremony.online.db.models import Certificate
from ceremony.online.service import OnlineService
from ceremony.online.urls import IssuerUrls, unreachable_for_relying_parties

Fetch = Callable[[str], bytes]
FETCH_TIMEOUT = 15.0
MAX_CRL_BYTES = 64 * 1024 * 1024


@dataclass
class _Point:
    issuer_id: str
    certificates: int = 0
    revoked: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CheckReport:
    certificates: int
    urls: int
    problems: list[str]


def https_fetcher(cafile: str) -> Fetch:
    """GET a URL (the data folder's root is trusted for https:// as well as the system's)."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=cafile)

    def fetch(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT, context=context) as r:
            data: bytes = r.read(MAX_CRL_BYTES + 1)
        if len(data) > MAX_CRL_BYTES:
            raise ValueError(f"larger than {MAX_CRL_BYTES} bytes")
        return data

    return fetch


def _cdps(der: bytes) -> list[str]:
    cert = x509.load_der_x509_certificate(der)
    try:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [str(n.value) for p in ext for n in (p.full_name or [])]


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def check_crl_urls(service: OnlineService, fetch: Fetch, now: datetime) -> CheckReport:
    problems: list[str] = []
    points: dict[str, _Point] = {}
    count = 0
    generations: dict[tuple[str, int], IssuerUrls | None] = {}
    with service.db.read() as session:
        rows = session.execute(
            select(
                Certificate.serial,
                Certificate.issuer_id,
                Certificate.url_generation,
                Certificate.shard,
                Certificate.revoked,
                Certificate.der,
            )
            .where(Certificate.not_after > now)
            .order_by(Certificate.id)
            .execution_options(yield_per=5000)
        )
        for serial, issuer_id, generation, shard, revoked, der in rows:
            count += 1
            cdps = _cdps(der)
            key = (issuer_id, generation)
            if key not in generations:
                generations[key] = service.urls.generation(issuer_id, generation)
            urls = generations[key]
            expected = urls.crl_shard(shard) if urls is not None else None
            if expected is None:
                problems.append(
                    f"certificate {serial}: issuer {issuer_id} has no URL generation {generation}"
                )
            elif cdps != [expected]:
                problems.append(
                    f"certificate {serial}: CRL distribution point {', '.join(cdps) or '(none)'} "
                    f"is not {expected}, the URL of its generation {generation}"
                )
            for url in cdps:
                point = points.setdefault(url, _Point(issuer_id))
                point.certificates += 1
                if revoked:
                    point.revoked.append(int(serial, 16))
    for url, point in sorted(points.items()):
        reason = unreachable_for_relying_parties(url)
        if reason is not None:
            problems.append(f"CRL {url} ({point.certificates} live certificate(s)) {reason}")
        problems += _check_point(service, url, point, fetch, now)
    return CheckReport(count, len(points), problems)


def _check_point(
    service: OnlineService, url: str, point: _Point, fetch: Fetch, now: datetime
) -> list[str]:
    who = f"CRL {url} ({point.certificates} live certificate(s))"
    try:
        crl = _load_crl(fetch(url))
    except (OSError, urllib.error.URLError) as ex:
        return [f"{who}: cannot be fetched: {getattr(ex, 'reason', None) or ex}"]
    except ValueError as ex:
        return [f"{who}: not a CRL: {ex}"]
    issuer = service.loaded.all.get(point.issuer_id)
    if issuer is None:
        return [f"{who}: issuer {point.issuer_id} is not loaded"]
    problems: list[str] = []
    if crl.issuer != issuer.certificate.subject or not crl.is_signature_valid(issuer.public_key):
        problems.append(f"{who}: not signed by issuer {point.issuer_id}")
    if crl.next_update_utc is None or crl.next_update_utc < now:
        problems.append(f"{who}: expired (nextUpdate {crl.next_update_utc})")
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
        names = [str(n.value) for n in idp.full_name or []]
    except x509.ExtensionNotFound:
        names = []
    if names != [url]:
        problems.append(
            f"{who}: its IssuingDistributionPoint is {', '.join(names) or '(none)'}, "
            "not this URL (relying parties report a different CRL scope)"
        )
    listed = {entry.serial_number for entry in crl}
    missing = [s for s in point.revoked if s not in listed]
    if missing:
        problems.append(
            f"{who}: does not list {len(missing)} revoked certificate(s), e.g. {missing[0]:x}"
        )
    return problems
