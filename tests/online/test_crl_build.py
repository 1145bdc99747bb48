"""How a CRL is built: one raw scan in index order, the signature checked as the key makes
it (a key that signs wrongly stores nothing), and the number reservation covering every
revocation committed before it."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, text

from ceremony.audit.eventlog import Actor
from ceremony.errors import FaultError
from ceremony.online.db.models import Crl
from ceremony.online.service import OnlineService
from ceremony.online.signing import BadSignature, verifying
from tests.online.helpers import make_csr

ADMIN = Actor("test", "admin")


def _issue_and_revoke(service: OnlineService, count: int) -> list[str]:
    serials = []
    for i in range(count):
        pem, _ = make_csr([f"crl{i}.a.test"])
        issued = service.issuance.issue_csr(pem, "tls-server", ADMIN)
        service.issuance.revoke(issued.serial, "keyCompromise" if i % 2 else "superseded", ADMIN)
        serials.append(issued.serial)
    return serials


def test_full_crl_lists_every_revocation_with_its_reason(service: OnlineService) -> None:
    serials = _issue_and_revoke(service, 5)
    issuer = service.loaded.active
    stored = service.crls.build(issuer.id, "full")
    crl = x509.load_der_x509_crl(stored.der)
    assert crl.is_signature_valid(issuer.public_key)
    got = {format(e.serial_number, "x"): e for e in crl}
    assert set(got) == set(serials) and stored.entries == 5
    for i, serial in enumerate(serials):
        reason = got[serial].extensions.get_extension_for_class(x509.CRLReason).value.reason
        want = x509.ReasonFlags.key_compromise if i % 2 else x509.ReasonFlags.superseded
        assert reason == want
        assert got[serial].revocation_date_utc.tzinfo is not None


def test_scan_and_max_id_walk_the_issuer_id_index(sqlite_service: OnlineService) -> None:
    with sqlite_service.db.read() as session:
        scan = session.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT serial, revoked_at, reason FROM revocations "
                "WHERE issuer_id = 'x' AND id <= 5 AND not_after >= '2026' ORDER BY id"
            )
        ).all()
        top = session.execute(
            text("EXPLAIN QUERY PLAN SELECT max(id) FROM revocations WHERE issuer_id = 'x'")
        ).all()
    scan_plan = " ".join(str(r[-1]) for r in scan)
    assert "ix_revocations_issuer_id_id" in scan_plan and "TEMP B-TREE" not in scan_plan
    assert "ix_revocations_issuer_id_id" in " ".join(str(r[-1]) for r in top)


def test_a_number_reserved_after_a_stale_read_still_covers_newer_revocations(
    service: OnlineService,
) -> None:
    _issue_and_revoke(service, 2)
    issuer_id = service.loaded.active.id
    real = service.crls._max_revocation_id(issuer_id)
    with service.db.write() as session:
        _number, covered = service.crls._reserve(session, issuer_id, "full", real - 1)
    assert covered == real


class _WrongSigner(ec.EllipticCurvePrivateKey):
    """Signs with another key: what a broken or swapped token would do."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._other = ec.generate_private_key(real.curve)

    def sign(self, data: Any, signature_algorithm: Any) -> bytes:
        return self._other.sign(data, signature_algorithm)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._real.public_key()  # type: ignore[no-any-return]

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._real.curve  # type: ignore[no-any-return]

    @property
    def key_size(self) -> int:
        return self._real.key_size  # type: ignore[no-any-return]

    def exchange(self, *args: Any) -> bytes:
        raise NotImplementedError

    def private_numbers(self) -> Any:
        raise NotImplementedError

    def private_bytes(self, *args: Any) -> bytes:
        raise NotImplementedError

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: Any) -> Any:
        return self


def test_a_key_that_signs_wrongly_stores_no_crl_and_no_certificate(
    service: OnlineService,
) -> None:
    issuer = service.loaded.active
    issuer._signer = verifying(_WrongSigner(issuer.key), issuer.public_key)  # type: ignore[arg-type]
    with service.db.read() as session:
        before = session.execute(select(func.count()).select_from(Crl)).scalar_one()
    with pytest.raises(FaultError, match="does not verify"):
        service.crls.build(issuer.id, "full")
    pem, _ = make_csr(["wrong.a.test"])
    with pytest.raises(FaultError, match="does not verify"):
        service.issuance.issue_csr(pem, "tls-server", ADMIN)
    with service.db.read() as session:
        assert session.execute(select(func.count()).select_from(Crl)).scalar_one() == before


def test_verifying_key_passes_good_signatures_through() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = verifying(key, key.public_key())
    sig = signer.sign(b"tbs", ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(sig, b"tbs", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(BadSignature):
        verifying(_WrongSigner(key), key.public_key()).sign(b"tbs", ec.ECDSA(hashes.SHA256()))
