"""The pre-issuance lint of each profile (``lint`` in ``[profiles.NAME]``), run on the
certificate signed by a throwaway key before the issuing key signs it.

- ``template`` (the default): the profile was linted with pkilint over the shapes it
  allows (:mod:`ceremony.online.template`) at start and whenever it or the issuer's URLs
  change; each certificate is held against that template field by field in tens of
  microseconds. A field that breaks its rule refuses; a certificate of a shape the
  template does not hold is linted in full by pkilint instead (and counted in
  ``ceremony_online_lint_fallback_total``).
- ``always``: every certificate is linted in full by pkilint, in a pool of processes so
  that linting does not hold the service's interpreter lock.
- ``sampled``: the template check on every certificate, and a full pkilint on a share of
  them (``lint_sample_rate``) that also refuses; a finding there means the template
  missed something: it is counted in ``ceremony_online_lint_findings_total`` (alert on
  it) and recorded as a ``lint.finding`` audit event.
- ``off``: no lint (the policy checks still apply).

Every mode refuses (:class:`~ceremony.errors.PolicyError`) before the issuing key signs.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ceremony.audit.eventlog import Actor
from ceremony.errors import FaultError, PolicyError
from ceremony.online import audit, lint
from ceremony.online.db.engine import Database
from ceremony.online.issuer import IssuingCa
from ceremony.online.metrics import REGISTRY
from ceremony.online.policy import ApprovedRequest
from ceremony.online.profiles import Profile
from ceremony.online.template import OutsideTemplate, Templates
from ceremony.online.urls import IssuerUrls
from ceremony.online.workers import die_with_parent

log = logging.getLogger("ceremony.online.lint")
LINTER = Actor("pre-issuance lint", "service")


def is_wildcard_syntax_finding(finding: str, request: ApprovedRequest) -> bool:
    """pkilint's RFC 5280 linter calls ``*.example`` bad syntax; RFC 6125 / the BRs allow it.

    Only that finding, only for a wildcard name the policy approved, is set aside.
    """
    if not finding.startswith("ERROR pkix.invalid_domain_name_syntax"):
        return False
    return any(n.startswith("*.") and f'"{n}"' in finding for n in request.dns_names)


def _warm() -> None:
    die_with_parent()  # a pool process ends with the service process that started it
    lint.warm()  # import pkilint and build its validators once per pool process


class PreIssuanceLint:
    """The lint gate of one issuing CA's profiles."""

    def __init__(
        self,
        db: Database,
        issuer: IssuingCa,
        clock: Callable[[], datetime],
        processes: int | None = None,
    ) -> None:
        self.db = db
        self.issuer = issuer
        self.processes = processes or os.cpu_count() or 1
        self.templates = Templates(issuer, self.findings_in_process, clock)
        self._sampler = random.SystemRandom()
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # --- pkilint ----------------------------------------------------------------------

    @staticmethod
    def findings_in_process(der: bytes, request: ApprovedRequest) -> list[str]:
        return [f for f in lint.lint_certificate(der) if not is_wildcard_syntax_finding(f, request)]

    def _pool_for_linting(self) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_warm,
                )
            return self._pool

    def full_findings(self, der: bytes, request: ApprovedRequest) -> list[str]:
        """pkilint's findings, computed in the pool."""
        try:
            found = self._pool_for_linting().submit(lint.lint_certificate, der).result()
        except Exception as ex:  # a pool process died: fault, not a refusal
            raise FaultError(f"lint: the pkilint process pool failed: {ex}") from ex
        return [f for f in found if not is_wildcard_syntax_finding(f, request)]

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    # --- the gate -----------------------------------------------------------------------

    def prepare(self, profiles: dict[str, Profile], urls: IssuerUrls) -> None:
        """At start: lint the template of every profile that uses one (a profile pkilint
        finds fault with refuses the start, :class:`~ceremony.errors.ConfigError`), and
        start the pool's processes, pkilint loaded, if a profile lints in full, so that
        the first requests do not wait seconds for them."""
        for profile in profiles.values():
            if profile.lint in ("template", "sampled"):
                self.templates.get(profile, urls)
        if any(p.lint in ("always", "sampled") for p in profiles.values()):
            pool = self._pool_for_linting()
            for started in [pool.submit(_warm) for _ in range(self.processes)]:
                started.result()

    def check(
        self,
        request: ApprovedRequest,
        linted: x509.Certificate,
        urls: IssuerUrls,
        signed_copy: Callable[[], x509.Certificate] | None = None,
    ) -> None:
        """Refuse ``linted`` under its profile's mode. ``linted`` is the throwaway-signed
        certificate, or (with ``signed_copy``) the same TBS with a placeholder signature
        (:meth:`IssuingCa.tbs_copy`): enough for the template check, which reads the TBS
        alone; ``signed_copy`` then gives the throwaway-signed certificate of that TBS
        for pkilint, only when a full lint is due."""
        profile = request.profile
        if profile.lint == "off":
            return

        def der() -> bytes:
            full = linted if signed_copy is None else signed_copy()
            if full.tbs_certificate_bytes != linted.tbs_certificate_bytes:
                raise FaultError("lint: the signed copy's TBS differs from the checked TBS")
            return full.public_bytes(serialization.Encoding.DER)

        if profile.lint == "always":
            self._refuse_on(self.full_findings(der(), request))
            return
        try:
            self.templates.get(profile, urls).check(linted.tbs_certificate_bytes)
        except OutsideTemplate as ex:
            REGISTRY.inc("ceremony_online_lint_fallback_total", profile=profile.name)
            log.warning("lint: %s: %s; linting it in full", profile.name, ex.message)
            self._refuse_on(self.full_findings(der(), request))
            return
        if profile.lint == "sampled" and self._sampler.random() < profile.lint_sample_rate:
            findings = self.full_findings(der(), request)
            if findings:
                self._report(profile, linted, findings)
                self._refuse_on(findings)

    @staticmethod
    def _refuse_on(findings: list[str]) -> None:
        if findings:
            raise PolicyError(f"lint: certificate refused before signing: {findings[0]}")

    def _report(self, profile: Profile, linted: x509.Certificate, findings: list[str]) -> None:
        """A sampled certificate passed the template but not pkilint: alert and record."""
        REGISTRY.inc("ceremony_online_lint_findings_total", profile=profile.name)
        log.error(
            "lint: profile %s passed its template; pkilint found %s", profile.name, findings[0]
        )
        now = datetime.now(linted.not_valid_before_utc.tzinfo)
        try:
            with self.db.write() as session:
                audit.append(
                    session,
                    "lint.finding",
                    LINTER,
                    {
                        "profile": profile.name,
                        "issuer": self.issuer.id,
                        "serial": format(linted.serial_number, "x"),
                        "findings": findings,
                        "refused": True,
                    },
                    now,
                )
        except FaultError as ex:
            log.error("lint: the finding could not be recorded: %s", ex.message)
