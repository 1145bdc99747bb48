"""The last good signed copy of each CRL, for when the database cannot be reached.

Every CRL this process builds or serves is kept in memory and written to
``DATA/crl-copies/<issuer>/<scope>.crl`` (atomically, once per CRL number).
When the database is down, ``/crl/...`` answers with that copy while it has not
passed its nextUpdate; the outage is logged in one line per CRL and minute,
without a traceback.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from time import monotonic

from cryptography import x509

from ceremony.errors import CeremonyError
from ceremony.media.atomic import replace_file

log = logging.getLogger("ceremony.online.crl")
LOG_EVERY_SECONDS = 60.0


class CrlCopies:
    """Last good copies of CRLs: ``(number, this_update, next_update, der)`` by scope."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._written: dict[tuple[str, str], int] = {}
        self._logged: dict[tuple[str, str], float] = {}

    def _path(self, issuer_id: str, scope: str) -> Path | None:
        return None if self.folder is None else self.folder / issuer_id / f"{scope}.crl"

    def keep(self, issuer_id: str, scope: str, number: int, der: bytes) -> None:
        """Write the copy if this number is not on disk yet (errors only logged)."""
        path = self._path(issuer_id, scope)
        if path is None:
            return
        with self._lock:
            if self._written.get((issuer_id, scope)) == number:
                return
            try:
                replace_file(path, der)
            except CeremonyError as ex:
                log.warning("crl copy %s: %s", path, ex.message)
                return
            self._written[(issuer_id, scope)] = number

    def load(
        self, issuer_id: str, scope: str, now: datetime
    ) -> x509.CertificateRevocationList | None:
        """The copy on disk, unless missing, unreadable or past its nextUpdate."""
        path = self._path(issuer_id, scope)
        if path is None:
            return None
        try:
            crl = x509.load_der_x509_crl(path.read_bytes())
        except (OSError, ValueError):
            return None
        if crl.next_update_utc is None or crl.next_update_utc <= now:
            return None
        return crl

    def outage(self, issuer_id: str, scope: str, reason: str, number: int | None) -> None:
        """One log line per CRL and minute while the database is down."""
        key = (issuer_id, scope)
        with self._lock:
            last = self._logged.get(key)
            if last is not None and monotonic() - last < LOG_EVERY_SECONDS:
                return
            self._logged[key] = monotonic()
        served = f"serving the last good copy, number {number}" if number else "no copy to serve"
        log.warning("crl %s/%s: %s; %s", issuer_id, scope, reason, served)
