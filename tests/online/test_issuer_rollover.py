"""Issuer rollover on one token: the new intermediate's key lives beside the old one, and
both issuers are loaded in one process (the new one issues, the old one still signs its
CRLs and OCSP responses). Each must sign with its own key."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.online.acme.server import AcmeServer
from ceremony.online.app import Maintenance
from ceremony.online.config import DataFolder
from ceremony.online.hierarchy import install_issuer, load_issuers, token_issuing_key
from ceremony.online.service import ServiceOptions, open_service
from tests.online.helpers import software_ca


def test_two_token_issuers_in_one_process_sign_with_their_own_keys(data_dir: Path) -> None:
    folder = DataFolder(data_dir)
    before = load_issuers(folder, 16)
    made = token_issuing_key(folder, "intermediate-next", "ecdsa-p256")
    assert made is not None, "SoftHSM2 is part of the test setup"
    key, ref, _attrs = made
    public = key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = software_ca("Test Root", ca_key)
    cert = software_ca("Issuing CA next", ca_key, ca, ca_key, public)
    new_id = install_issuer(folder, cert, [ca], ref, 16)

    loaded = load_issuers(folder, 16)
    assert loaded.active.id == new_id and set(loaded.all) == {*before.all, new_id}
    for issuer in loaded.all.values():
        signature = issuer.key.sign(b"tbs", ec.ECDSA(hashes.SHA256()))
        own = issuer.certificate.public_key()
        assert isinstance(own, ec.EllipticCurvePublicKey)
        own.verify(signature, b"tbs", ec.ECDSA(hashes.SHA256()))  # raises if another key signed


def test_a_running_serve_says_once_that_a_newer_issuer_is_active(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """import-intermediate while serve runs: the running process cannot take the new key
    without a restart, and says so in one line (not one a minute)."""
    service = open_service(ServiceOptions(data=data_dir, bootstrap=False))
    acme = AcmeServer(service)
    try:
        assert service.newer_active_issuer() is None
        service.folder.active.write_text("0123456789abcdef\n")  # what an import writes
        assert service.newer_active_issuer() == "0123456789abcdef"
        maintenance = Maintenance(service, acme, interval=0.05, audit_interval=0.02)
        with caplog.at_level(logging.WARNING, logger="ceremony.online"):
            maintenance.start()
            time.sleep(1.0)
            maintenance.stop()
    finally:
        acme.close()
        service.close()
    said = [r.getMessage() for r in caplog.records if "restart this serve" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("issuer 0123456789abcdef is now the active")
