"""Tokens that log in on their own PIN pad or PED (CKF_PROTECTED_AUTHENTICATION_PATH): no PIN
comes from the host, so the activation quorum protects nothing and the ceremony file must say
so. Neither SoftHSM2 nor openCryptoki has such a login: the tests take a real token's
capabilities and set that one flag, and show every disagreement refused before anything is
written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ceremony.config import ceremonyfile
from ceremony.errors import HsmError
from ceremony.flow.keyprotection import check_token_offers, key_protection_lines
from ceremony.hsm.capabilities import login_pin
from ceremony.hsm.module import Hsm
from tests.helpers import assert_refused, run_cli


def _declared() -> ceremonyfile.CeremonyFile:
    return dataclasses.replace(
        ceremonyfile.rehearsal_definition(), protected_authentication_path=True
    )


def test_the_ceremony_file_declares_a_pin_pad_login() -> None:
    plain = ceremonyfile.rehearsal_definition()
    assert plain.protected_authentication_path is False
    assert b"protected_authentication_path" not in ceremonyfile.render(plain)
    data = ceremonyfile.render(_declared())
    assert b'[token]\nlabel = "root-ca"\nprotected_authentication_path = true\n' in data
    assert ceremonyfile.parse(data, "c.toml").protected_authentication_path is True


def test_login_and_ceremony_file_must_agree(hsm: Hsm) -> None:
    hsm.init_token("t")
    host = hsm.capabilities("t")
    assert host.protected_authentication_path is False
    assert login_pin(hsm.token("t"), "1234") == "1234"
    host.require_login(False)
    with pytest.raises(HsmError, match="takes its PIN from this host") as err:
        host.require_login(True)
    assert "token 't'" in err.value.message
    pad = dataclasses.replace(host, protected_authentication_path=True)
    pad.require_login(True)
    with pytest.raises(HsmError) as err:
        pad.require_login(False)
    assert "PIN pad" in err.value.message and "protected_authentication_path = true" in (
        err.value.message
    )
    assert "activation quorum would protect nothing" in err.value.message


def test_a_declared_pin_pad_is_refused_on_a_host_pin_token(hsm: Hsm) -> None:
    """The real-mode check (validate.root_ceremony) on the free token it would initialize."""
    hsm.labels()
    with pytest.raises(HsmError, match="takes its PIN from this host"):
        check_token_offers(hsm, _declared())
    assert hsm.labels() == []


def test_a_declared_pin_pad_rehearsal_is_refused_before_the_bundle(tmp_path: Path) -> None:
    cfile = tmp_path / "c.toml"
    cfile.write_bytes(ceremonyfile.render(_declared()))
    locator = tmp_path / "locator.toml"
    locator.write_text("rehearsal = true\n")
    out = tmp_path / "bundle"
    r = run_cli("root", "--ceremony", cfile, "--locator", locator, "--out", out)
    assert_refused(r, 3, "SoftHSM2 takes its PIN from this host")
    assert not out.exists()


def test_the_cps_says_no_activation_quorum_applies() -> None:
    events = [{"step": "token.init", "payload": {"pins": {"protected_authentication_path": True}}}]
    lines = key_protection_lines(events)
    assert any("PIN pad or PED" in line and "no activation quorum" in line for line in lines)
    assert not any("activation shares" in line for line in lines)
