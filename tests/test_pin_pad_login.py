"""A token that logs in on its own PIN pad, for real: a PKCS#11 module built here
(tests/data/pinpad_proxy.c) forwards every call to SoftHSM2, reports
CKF_PROTECTED_AUTHENTICATION_PATH, and types the PIN itself when the host passes none.
It logs whether each PIN came from the host, so the tests prove none did."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ceremony.config import ceremonyfile
from tests.helpers import run_cli
from tests.terminal import Room, run_on_terminal

SOURCE = Path(__file__).parent / "data" / "pinpad_proxy.c"


@pytest.fixture(scope="session")
def pinpad_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pinpad") / "pinpad.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-Wall",
            "-Werror",
            "-I/usr/include/p11-kit-1",
            "-o",
            str(out),
            str(SOURCE),
            "-ldl",
        ],
        check=True,
    )
    return out


def _pad_env(tmp: Path) -> dict[str, str]:
    tokens = tmp / "tokens"
    tokens.mkdir()
    conf = tmp / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    pin = tmp / "pad-pin"
    pin.write_text("pad-typed-1234\n")
    return {
        "SOFTHSM2_CONF": str(conf),
        "PINPAD_PIN_FILE": str(pin),
        "PINPAD_LOG": str(tmp / "pad.log"),
    }


def test_a_pin_pad_token_is_initialized_and_used_with_no_pin_from_the_host(
    pinpad_module: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in _pad_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    code = (
        "import sys\nfrom ceremony.hsm.module import Hsm\n"
        "h = Hsm(sys.argv[1])\np = h.init_token('pad')\nassert p.on_pin_pad\n"
        "assert h.capabilities('pad').protected_authentication_path\n"
        "with h.session('pad', p.user_pin) as s:\n    assert len(s.generate_random(64)) == 8\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    subprocess.run([sys.executable, "-c", code, str(pinpad_module)], check=True, env=env)
    log = (tmp_path / "pad.log").read_text().split("\n")
    assert "C_InitToken null" in log and "C_InitPIN null" in log and "C_Login null" in log
    assert not any(line.endswith(" pin") for line in log), log


def test_root_ceremony_on_a_pin_pad_token_for_real(pinpad_module: Path, tmp_path: Path) -> None:
    env = _pad_env(tmp_path)
    definition = dataclasses.replace(
        ceremonyfile.rehearsal_definition(), protected_authentication_path=True
    )
    cfile = tmp_path / "ceremony.toml"
    cfile.write_bytes(ceremonyfile.render(definition))
    loc = tmp_path / "locator.toml"
    loc.write_text(f'[hsm]\nmodule = "{pinpad_module}"\n')
    out = tmp_path / "bundle"
    room = Room()
    run = run_on_terminal(
        ["root", "--ceremony", str(cfile), "--locator", str(loc), "--out", str(out)],
        tmp_path,
        room,
        env=env,
    )
    assert run.returncode == 0, run.output[-3000:]
    assert not any(purpose == "activation" for purpose, _ in room.cards), "no activation shares"
    log = (tmp_path / "pad.log").read_text().split("\n")
    assert "C_InitToken null" in log and "C_Login null" in log
    assert not any(line.endswith(" pin") for line in log), log
    r = run_cli("verify", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"pad-typed-1234" not in b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
