"""Issuer rollover on one token: the new intermediate's key lives beside the old one, and
both issuers are loaded in one process (the new one issues, the old one still signs its
CRLs and OCSP responses). Each must sign with its own key."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.online.config import DataFolder
from ceremony.online.hierarchy import install_issuer, load_issuers, token_issuing_key
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
