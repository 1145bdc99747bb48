"""Profiles and policy: names, wildcards, IPs, key types, lifetimes; strict online.toml."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ceremony.errors import ConfigError, PolicyError
from ceremony.online.config import load_config, render_config
from ceremony.online.hierarchy import rehearsal_config
from ceremony.online.limits import LimitSettings, Rate
from ceremony.online.policy import UnreadableCsr, approve, parse_csr
from ceremony.online.profiles import Profile, default_profiles
from tests.online.helpers import make_csr

SERVER = default_profiles()["tls-server"]


def _approve(names: list[str], profile: Profile = SERVER, **kw: object) -> object:
    pem, _ = make_csr(names, **kw)  # type: ignore[arg-type]
    return approve(profile, parse_csr(pem), None)


@pytest.mark.parametrize(
    "names",
    [["a.test"], ["x.y.internal"], ["*.svc.test"], ["app.localhost"], ["A.TEST."]],
)
def test_allowed_names(names: list[str]) -> None:
    _approve(names)


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        (["example.com"], "outside the names allowed"),
        (["a.example.org"], "outside the names allowed"),
        (["bad_name.test"], "not a valid DNS name"),
        (["a.*.test"], "not a valid DNS name"),
        (["-a.test"], "not a valid DNS name"),
        (["localhost"], "single-label"),
        (["*.test"], "single-label"),
        ([], "names no DNS name"),
    ],
)
def test_refused_names(names: list[str], reason: str) -> None:
    with pytest.raises(PolicyError, match=reason):
        _approve(names)


def test_wildcards_need_permission() -> None:
    client = default_profiles()["tls-client"]
    with pytest.raises(PolicyError, match="wildcards are not allowed"):
        _approve(["*.a.test"], client)


def test_subdomains_can_be_turned_off() -> None:
    exact = Profile(name="exact", domains=("a.test",), allow_subdomains=False)
    _approve(["a.test"], exact)
    with pytest.raises(PolicyError, match="outside"):
        _approve(["b.a.test"], exact)


def test_ip_addresses() -> None:
    req = _approve([], ips=["127.0.0.1", "::1"])
    assert [str(i) for i in req.ip_addresses] == ["127.0.0.1", "::1"]  # type: ignore[attr-defined]
    with pytest.raises(PolicyError, match="IP address outside"):
        _approve([], ips=["10.0.0.1"])


def test_common_name_is_checked_too() -> None:
    with pytest.raises(PolicyError, match="outside"):
        _approve(["a.test"], cn="evil.example.com")


def test_key_types() -> None:
    only_p384 = Profile(name="p", domains=("test",), key_types=("ecdsa-p384",))
    with pytest.raises(PolicyError, match="ecdsa-p256 is not accepted"):
        _approve(["a.test"], only_p384)
    _approve(["a.test"], only_p384, key=ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(PolicyError, match="RSA size 1024"):
        _approve(["a.test"], key=rsa.generate_private_key(65537, 1024))


def test_lifetime_bounds() -> None:
    pem, _ = make_csr(["a.test"])
    csr = parse_csr(pem)
    assert approve(SERVER, csr, None).lifetime == timedelta(hours=SERVER.default_ttl_hours)
    assert approve(SERVER, csr, 2).lifetime == timedelta(hours=2)
    with pytest.raises(PolicyError, match="ttl_hours 100000"):
        approve(SERVER, csr, 100000)


def test_code_signing_needs_allowed_cn() -> None:
    cs = default_profiles()["code-signing"]
    _approve([], cs, cn="Rehearsal Code Signing")
    with pytest.raises(PolicyError, match="subject CN"):
        _approve([], cs, cn="Someone Else")
    with pytest.raises(PolicyError, match="takes no DNS"):
        _approve(["a.test"], cs, cn="Rehearsal Code Signing")


def test_bad_csr() -> None:
    """An unreadable CSR is a malformed request (REST 400), not a policy refusal (403)."""
    with pytest.raises(UnreadableCsr, match="cannot be parsed"):
        parse_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    pem, _ = make_csr(["a.test"])
    csr = x509.load_pem_x509_csr(pem)
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF
    with pytest.raises(UnreadableCsr):
        parse_csr(bytes(der))
    assert not issubclass(UnreadableCsr, PolicyError)


def test_config_round_trip_and_strictness(tmp_path: Path) -> None:
    cfg = rehearsal_config()
    p = tmp_path / "online.toml"
    p.write_text(render_config(cfg))
    assert load_config(p).profiles == cfg.profiles
    assert "[limits]\nnew_accounts_per_ip = { count = 10, minutes = 180 }" in p.read_text()
    tighter = replace(
        cfg, limits=LimitSettings(new_accounts_per_ip=Rate(3, 60), max_names_per_order=5)
    )
    p.write_text(render_config(tighter))
    assert load_config(p).limits == tighter.limits  # the operator sees and edits every limit
    p.write_text(render_config(cfg) + '\n[profiles.x]\nkind = "tls-server"\ncolour = 1\n')
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        load_config(p)
    p.write_text("[service]\ncrl_shards = 0\n[profiles.a]\n")
    with pytest.raises(ConfigError, match="crl_shards must be an integer from 1"):
        load_config(p)
    p.write_text('[profiles.a]\nkind = "tls-server"\nlint = "sometimes"\n')
    with pytest.raises(ConfigError, match="lint: must be one of"):
        load_config(p)
    p.write_text("not toml [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    p.write_text('[service]\nrevocation_url = "http://pki.a.test:8080/"\n[profiles.a]\n')
    assert load_config(p).service.revocation_url == "http://pki.a.test:8080"
    p.write_text(render_config(load_config(p)))
    assert load_config(p).service.revocation_url == "http://pki.a.test:8080"
    for bad in ('"ftp://pki.a.test"', '"pki.a.test"', '"http://"', '"http://a.test/?x=1"', "8080"):
        p.write_text(f"[service]\nrevocation_url = {bad}\n[profiles.a]\n")
        with pytest.raises(ConfigError, match="revocation_url"):
            load_config(p)
