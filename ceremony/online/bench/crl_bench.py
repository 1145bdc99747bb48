"""Million-entry CRL timing and peak memory, each in a fresh process.

``python -m ceremony.online.bench.crl_bench fill|full|delta|baseline ...`` prints one JSON
object. ``fill`` bulk-inserts revoked certificates straight into the database (ids from
10,000,000 up, so they never meet the autoincrement sequence of real rows).
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import CRLEntryExtensionOID, NameOID
from sqlalchemy import func, insert, select

from ceremony.online.db.models import Certificate, Revocation
from ceremony.online.service import ServiceOptions, open_service

ID_BASE = 10_000_000
CHUNK = 20_000


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(data: Path, database: str | None, count: int, age: timedelta) -> dict[str, Any]:
    """Insert ``count`` revoked certificates, revoked ``age`` ago."""
    svc = open_service(ServiceOptions(data=data, database=database, bootstrap=False))
    ca = svc.loaded.active
    now = datetime.now(UTC)
    t0 = time.monotonic()
    with svc.db.read() as session:
        start = session.execute(
            select(func.coalesce(func.max(Certificate.id), ID_BASE)).where(
                Certificate.id >= ID_BASE
            )
        ).scalar_one()
    start = max(int(start) + 1, ID_BASE)
    for base in range(0, count, CHUNK):
        n = min(CHUNK, count - base)
        certs: list[dict[str, Any]] = []
        revs: list[dict[str, Any]] = []
        for i in range(n):
            serial = int.from_bytes(secrets.token_bytes(20), "big") >> 1
            cid = start + base + i
            shard = serial % ca.crl_shards
            certs.append(
                {
                    "id": cid,
                    "serial": format(serial, "x"),
                    "issuer_id": ca.id,
                    "profile": "bench",
                    "subject": "",
                    "names": "[]",
                    "not_before": now,
                    "not_after": now + timedelta(days=90),
                    "shard": shard,
                    "der": b"",
                    "spki_sha256": "0" * 64,
                    "requester": "bench",
                    "revoked": True,
                    "created_at": now,
                }
            )
            revs.append(
                {
                    "id": cid,
                    "certificate_id": cid,
                    "issuer_id": ca.id,
                    "serial": format(serial, "x"),
                    "shard": shard,
                    "not_after": now + timedelta(days=90),
                    "reason": "keyCompromise" if i % 2 else "superseded",
                    "revoked_at": now - age,
                    "requester": "bench",
                }
            )
        with svc.db.write() as session:
            session.execute(insert(Certificate), certs)
            session.execute(insert(Revocation), revs)
    svc.close()
    return {"inserted": count, "seconds": time.monotonic() - t0}


def build(data: Path, database: str | None, scope: str) -> dict[str, Any]:
    svc = open_service(ServiceOptions(data=data, database=database, bootstrap=False))
    ca = svc.loaded.active
    before = _maxrss_mib()
    t0 = time.monotonic()
    crl = svc.crls.build(ca.id, scope)
    seconds = time.monotonic() - t0
    svc.close()
    return {
        "scope": scope,
        "entries": crl.entries,
        "bytes": len(crl.der),
        "seconds": seconds,
        "peak_rss_mib": _maxrss_mib(),
        "rss_before_mib": before,
    }


def baseline(count: int) -> dict[str, Any]:
    """A bare cryptography CRLBuilder with the same shape of entries (the ceiling)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.now(UTC)
    before = _maxrss_mib()
    t0 = time.monotonic()
    reasons = [x509.ReasonFlags.key_compromise, x509.ReasonFlags.superseded]
    entries = [
        x509.RevokedCertificateBuilder(
            int.from_bytes(secrets.token_bytes(20), "big") >> 1,
            now,
            [
                x509.Extension(
                    CRLEntryExtensionOID.CRL_REASON, False, x509.CRLReason(reasons[i % 2])
                )
            ],
        ).build()
        for i in range(count)
    ]
    crl = x509.CertificateRevocationListBuilder(
        issuer_name=name,
        last_update=now,
        next_update=now + timedelta(days=4),
        extensions=[x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1))],
        revoked_certificates=entries,
    ).sign(key, hashes.SHA256())
    der = crl.public_bytes(serialization.Encoding.DER)
    return {
        "entries": count,
        "bytes": len(der),
        "seconds": time.monotonic() - t0,
        "peak_rss_mib": _maxrss_mib(),
        "rss_before_mib": before,
    }


def main(argv: list[str]) -> int:
    cmd = argv[0]
    database = os.environ.get("BENCH_DATABASE") or None
    if cmd == "fill":
        out = fill(Path(argv[1]), database, int(argv[2]), timedelta(hours=float(argv[3])))
    elif cmd in ("full", "delta") or cmd.startswith("shard-"):
        out = build(Path(argv[1]), database, cmd)
    else:
        out = baseline(int(argv[1]))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
