"""The PKCS#11 layer on real SoftHSM2 tokens: refusals become one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pkcs11 import Mechanism

from ceremony.errors import HsmError, InputError
from ceremony.hsm import keys
from ceremony.hsm.errors import hsm_errors
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.module import Hsm
from ceremony.hsm.signers import Purpose, token_key
from tests.helpers import assert_refused, run_cli


def test_init_token_sets_random_pins_and_refuses_a_taken_label(hsm: Hsm) -> None:
    pins = hsm.init_token("root-ca")
    assert len(pins.user_secret) == 16 and pins.user_secret != pins.so_secret
    assert "secret" in repr(pins) and pins.user_secret.hex() not in repr(pins)
    with pytest.raises(InputError, match="exists already"):
        hsm.init_token("root-ca")
    info = hsm.info("root-ca")
    assert info.manufacturer == "SoftHSM project" and info.serial
    assert "ECDSA" in info.mechanisms and info.firmware_version


def test_wrong_pin_is_an_hsm_error_with_exit_3(hsm: Hsm) -> None:
    hsm.init_token("t")
    with pytest.raises(HsmError, match="token 't': login: wrong PIN") as err:
        with hsm.session("t", "00" * 16):
            pass
    assert err.value.exit_code == 3


def test_missing_token(hsm: Hsm) -> None:
    with pytest.raises(HsmError, match="token 'nope': token absent"):
        hsm.token("nope")


def test_existing_key_label_is_refused(hsm: Hsm) -> None:
    pins = hsm.init_token("t")
    with hsm.session("t", pins.user_secret.hex()) as s:
        keys.generate_keypair(s, "k", KeyAlgorithm.ECDSA_P256, extractable=False)
        with pytest.raises(InputError, match="key label 'k': an object with that label exists"):
            keys.generate_keypair(s, "k", KeyAlgorithm.ECDSA_P384, extractable=False)
        assert keys.key_labels(s) == ["k"]


def test_mechanism_the_token_lacks_is_named(hsm: Hsm) -> None:
    pins = hsm.init_token("t")
    assert not hsm.has_mechanism("t", Mechanism.ECDSA_SHA384)
    with hsm.session("t", pins.user_secret.hex()) as s:
        ref = keys.generate_keypair(s, "k", KeyAlgorithm.ECDSA_P384, extractable=False)
        priv = keys.private_key_object(s, ref)
        with pytest.raises(HsmError, match="mechanism not supported by the token"):
            with hsm_errors("signing"):
                priv.sign(b"x" * 48, mechanism=Mechanism.ECDSA_SHA384)


@pytest.mark.parametrize("extractable", [True, False])
def test_private_key_attributes_are_read_back(hsm: Hsm, extractable: bool) -> None:
    pins = hsm.init_token("t")
    with hsm.session("t", pins.user_secret.hex()) as s:
        ref = keys.generate_keypair(s, "k", KeyAlgorithm.ECDSA_P256, extractable=extractable)
        keys.check_private_attributes(s, ref, extractable=extractable)
        with pytest.raises(HsmError, match="CKA_EXTRACTABLE reads back"):
            keys.check_private_attributes(s, ref, extractable=not extractable)
        assert len(ref.key_id) == 8
        assert keys.find_key(s, "k") == ref


def test_root_key_signs_only_certificates_and_crls(hsm: Hsm) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from ceremony.errors import PolicyError

    pins = hsm.init_token("t")
    with hsm.session("t", pins.user_secret.hex()) as s:
        ref = keys.generate_keypair(s, "k", KeyAlgorithm.ECDSA_P256, extractable=False)
        with pytest.raises(PolicyError, match="not a certificate or CRL"):
            token_key(s, ref).sign(b"challenge", ec.ECDSA(hashes.SHA256()))
        sig = token_key(s, ref, Purpose.DRILL_CHALLENGE).sign(
            b"challenge", ec.ECDSA(hashes.SHA256())
        )
        token_key(s, ref).public_key().verify(sig, b"challenge", ec.ECDSA(hashes.SHA256()))
        with pytest.raises(HsmError, match="export is impossible"):
            token_key(s, ref).private_numbers()


def test_cli_names_a_missing_module(tmp_path: Path) -> None:
    r = run_cli("tokens", "--pkcs11-module", tmp_path / "nope.so")
    assert_refused(r, 2, "nope.so", "PKCS#11 module not found")


def test_cli_lists_tokens(tmp_path: Path) -> None:
    h = Hsm(softhsm_home=tmp_path / "h")
    h.init_token("listed")
    r = run_cli("tokens", "--softhsm-home", tmp_path / "h")
    assert r.returncode == 0 and "listed: SoftHSM project" in r.stdout


def test_ed25519_root_certificate_signed_in_the_token(hsm: Hsm, tmp_path: Path) -> None:
    """Where the token offers Ed25519, the root certificate and CRL sign and lint clean."""
    import datetime as dt
    import subprocess

    from cryptography import x509

    from ceremony.x509 import build, lint
    from ceremony.x509.profiles import RootProfile, SubjectSpec

    pins = hsm.init_token("t")
    with hsm.session("t", pins.user_secret.hex()) as s:
        ref = keys.generate_keypair(s, "k", KeyAlgorithm.ED25519, extractable=False)
        signer = token_key(s, ref)
        when = dt.datetime.now(dt.UTC).replace(microsecond=0)
        profile = RootProfile(SubjectSpec("Ed Root", "Example", "NL"), 3650)
        signed = build.sign_certificate(
            "root", build.root_builder(profile, signer.public_key(), 42, when), signer, None, {}
        )
        cert = x509.load_der_x509_certificate(signed.der)
        crl = build.sign_crl("crl", build.crl_builder(cert, 1, when, 30, []), signer, cert, {})
    assert lint.blocking(lint.lint_certificate(signed.der)) == []
    assert lint.blocking(lint.lint_crl(crl.der)) == []
    pem = tmp_path / "root.pem"
    pem.write_bytes(build.pem(signed.der))
    ok = subprocess.run(["openssl", "verify", "-CAfile", pem, pem], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
