"""The lint-before-sign gate: refusal above INFO, skips with a reason, TBS equality."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from ceremony.errors import PolicyError
from ceremony.hsm import keys
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.module import Hsm
from ceremony.hsm.signers import token_key
from ceremony.x509 import build
from ceremony.x509.profiles import RootProfile, SubjectSpec

CODE = "pkix.authority_key_identifier_extension_absent"


def _builder_without_aki(pub: object) -> x509.CertificateBuilder:
    when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = SubjectSpec("Gate Root", "Example", "NL").name()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pub)  # type: ignore[arg-type]
        .serial_number(7)
        .not_valid_before(when)
        .not_valid_after(when + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(build._ca_key_usage(), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), False)  # type: ignore[arg-type]
    )


def test_finding_above_info_refuses_before_the_token_signs(hsm: Hsm) -> None:
    pins = hsm.init_token("t")
    with hsm.session("t", pins.user_secret.hex()) as s:
        ref = keys.generate_keypair(s, "k", KeyAlgorithm.ECDSA_P256, extractable=False)
        signer = token_key(s, ref)
        calls = []
        original = signer._raw_sign
        signer._raw_sign = lambda *a, **k: calls.append(a) or original(*a, **k)  # type: ignore[method-assign]
        with pytest.raises(PolicyError, match=f"lint refused: ERROR {CODE}"):
            build.sign_certificate(
                "gate", _builder_without_aki(signer.public_key()), signer, None, {}
            )
        assert calls == [], "the HSM was never asked to sign"


def test_a_skip_with_a_reason_lets_it_through_and_is_reported(hsm: Hsm) -> None:
    pins = hsm.init_token("t")
    with hsm.session("t", pins.user_secret.hex()) as s:
        ref = keys.generate_keypair(s, "k", KeyAlgorithm.ECDSA_P256, extractable=False)
        signer = token_key(s, ref)
        signed = build.sign_certificate(
            "gate",
            _builder_without_aki(signer.public_key()),
            signer,
            None,
            {CODE: "legacy profile reviewed by the PKI team"},
        )
    assert [f.code for f in signed.skipped] == [CODE]


def test_token_key_must_be_the_issuer_certificates_key(hsm: Hsm) -> None:
    pins = hsm.init_token("t")
    with hsm.session("t", pins.user_secret.hex()) as s:
        a = token_key(s, keys.generate_keypair(s, "a", KeyAlgorithm.ECDSA_P256, extractable=False))
        b = token_key(s, keys.generate_keypair(s, "b", KeyAlgorithm.ECDSA_P256, extractable=False))
        when = dt.datetime.now(dt.UTC).replace(microsecond=0)
        profile = RootProfile(SubjectSpec("Root A"), 365)
        root_a = x509.load_der_x509_certificate(
            build.sign_certificate(
                "a", build.root_builder(profile, a.public_key(), 1, when), a, None, {}
            ).der
        )
        with pytest.raises(PolicyError, match="not the issuer certificate's key"):
            build.sign_crl("crl", build.crl_builder(root_a, 1, when, 30, []), b, root_a, {})


def test_crl_outside_the_issuer_validity_is_refused(hsm: Hsm) -> None:
    pins = hsm.init_token("t")
    with hsm.session("t", pins.user_secret.hex()) as s:
        a = token_key(s, keys.generate_keypair(s, "a", KeyAlgorithm.ECDSA_P256, extractable=False))
        when = dt.datetime.now(dt.UTC).replace(microsecond=0)
        root = x509.load_der_x509_certificate(
            build.sign_certificate(
                "a",
                build.root_builder(RootProfile(SubjectSpec("R"), 10), a.public_key(), 1, when),
                a,
                None,
                {},
            ).der
        )
        with pytest.raises(PolicyError, match="inside the issuer's validity"):
            build.crl_builder(root, 1, when, 30, [])
