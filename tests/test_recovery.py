"""Backup, restore drill and recovery on real SoftHSM2 tokens; bad shares; secrets scan."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from ceremony.backup.shares import combine
from ceremony.config import ceremonyfile
from ceremony.config.ceremonyfile import Participant
from ceremony.flow import scripts
from ceremony.flow.ceremonies import open_context, run_ceremony, start_bundle
from ceremony.flow.documents import CLOSERS
from ceremony.flow.prompts import CollectedShares
from ceremony.hsm.module import Hsm
from tests.helpers import assert_refused, run_cli


def _wipe(bundle: Path, label: str) -> None:
    subprocess.run(
        ["softhsm2-util", "--delete-token", "--token", label],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(bundle / "rehearsal/softhsm2.conf")},
    )


def _shares(bundle: Path) -> list[str]:
    return (bundle / "rehearsal/backup-shares.txt").read_text().splitlines()


def _token_dirs(bundle: Path) -> list[str]:
    return sorted(p.name for p in (bundle / "rehearsal/tokens").iterdir())


def test_wipe_restore_then_sign_a_crl_with_the_restored_key(
    bundle_copy: Path, tmp_path: Path
) -> None:
    shares = tmp_path / "shares.txt"
    shares.write_text("\n".join(_shares(bundle_copy)[2:5]) + "\n")
    _wipe(bundle_copy, "root-ca")

    r = run_cli("restore", bundle_copy, "--shares", shares, "--to-token", "root-ca")
    assert r.returncode == 0, r.stderr
    r = run_cli("crl", bundle_copy)
    assert r.returncode == 0, r.stderr
    ok = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            bundle_copy / "root/root-ca.crl",
            "-CAfile",
            bundle_copy / "root/root-ca.pem",
            "-noout",
        ],
        capture_output=True,
        text=True,
    )
    assert "verify OK" in ok.stdout + ok.stderr
    v = run_cli("verify", bundle_copy)
    assert v.returncode == 0, v.stdout
    events = [
        json.loads(x)
        for x in next((bundle_copy / "transcripts").glob("*-recovery"))
        .joinpath("events.jsonl")
        .read_text()
        .splitlines()
    ]
    proof = next(e for e in events if e["step"] == "recovery.unwrap")["payload"]["proof"]
    assert proof["signature_verified_with_root_certificate"] is True


def _bad(
    bundle: Path,
    tmp_path: Path,
    lines: Sequence[str],
    *words: str,
    passphrase: str | None = None,
    token: str = "restored",
) -> None:
    shares = tmp_path / "shares.txt"
    shares.write_text("\n".join(lines) + "\n")
    before_tokens = _token_dirs(bundle)
    before_files = sorted(p.as_posix() for p in bundle.rglob("*") if "rehearsal" not in p.parts)
    args = ["restore", bundle, "--shares", shares, "--to-token", token]
    if passphrase is not None:
        (tmp_path / "pass").write_text(passphrase)
        args += ["--passphrase-file", tmp_path / "pass"]
    assert_refused(run_cli(*args), 2, *words)
    assert _token_dirs(bundle) == before_tokens, "nothing written to any token"
    after = sorted(p.as_posix() for p in bundle.rglob("*") if "rehearsal" not in p.parts)
    assert after == before_files, "no transcript, no file"


def test_typo_is_named(demo_bundle: Path, tmp_path: Path) -> None:
    s = _shares(demo_bundle)[:3]
    words = s[1].split()
    words[7] = "zzzz" if words[7] != "zzzz" else "aaaa"
    _bad(demo_bundle, tmp_path, [s[0], " ".join(words), s[2]], "share 2", "zzzz")


def test_checksum_typo_is_named(demo_bundle: Path, tmp_path: Path) -> None:
    s = _shares(demo_bundle)[:3]
    words = s[2].split()
    words[10], words[11] = words[11], words[10]
    _bad(demo_bundle, tmp_path, [s[0], s[1], " ".join(words)], "share 3", "checksum")


def test_share_from_another_set_is_named(
    demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    other = tmp_path_factory.mktemp("other") / "bundle"
    assert run_cli("demo", "--out", other).returncode == 0
    s = _shares(demo_bundle)[:2] + _shares(other)[:1]
    _bad(demo_bundle, tmp_path, s, "share 3", "another share set")


def test_duplicate_is_named(demo_bundle: Path, tmp_path: Path) -> None:
    s = _shares(demo_bundle)
    _bad(demo_bundle, tmp_path, [s[0], s[1], s[0]], "share 3", "duplicate of share 1")


def test_too_few_shares(demo_bundle: Path, tmp_path: Path) -> None:
    _bad(demo_bundle, tmp_path, _shares(demo_bundle)[:2], "2 shares given, 3 needed")


def test_wrong_passphrase_is_caught_by_the_check_value(demo_bundle: Path, tmp_path: Path) -> None:
    _bad(
        demo_bundle,
        tmp_path,
        _shares(demo_bundle)[:3],
        "check value",
        "passphrase",
        passphrase="not the passphrase",
    )


def test_missing_shares_file(demo_bundle: Path, tmp_path: Path) -> None:
    r = run_cli("restore", demo_bundle, "--shares", tmp_path / "none.txt", "--to-token", "x")
    assert_refused(r, 2, "none.txt", "not found")


def test_existing_target_token_is_refused(demo_bundle: Path, tmp_path: Path) -> None:
    _bad(
        demo_bundle,
        tmp_path,
        _shares(demo_bundle)[:3],
        "'root-ca'",
        "exists already",
        token="root-ca",
    )


class MemoryPrompter:
    """A real (non-rehearsal) ceremony's answers, held in memory like custodians would."""

    def __init__(self) -> None:
        self.shares: dict[str, list[str]] = {}
        self.cards: list[bytes] = []

    def progress(self, step: str, message: str) -> None:
        pass

    def hand_out_shares(
        self, purpose: str, mnemonics: Sequence[str], custodians: Sequence[Participant]
    ) -> dict[str, str]:
        self.shares[purpose] = list(mnemonics)
        return {c.name: f"BAG-{purpose}-{i}" for i, c in enumerate(custodians, 1)}

    def sign_in(self, participants: Sequence[Participant]) -> list[str]:
        return [p.name for p in participants]

    def collect_shares(
        self, purpose: str, threshold: int, custodians: Sequence[Participant]
    ) -> CollectedShares:
        names = tuple(c.name for c in custodians)[-threshold:]
        return CollectedShares(tuple(self.shares[purpose][-threshold:]), names)

    def orphan(self, what: str, detail: str) -> bool:
        return False

    def confirm(self, step: str, summary: Sequence[str], phrase: str) -> bool:
        return True

    def reshow_share(
        self, custodian: Participant, index: int, mnemonic: str, purpose: str = "recovery"
    ) -> None:
        pass

    def passphrase(self, purpose: str, new: bool) -> str:
        return "correct horse battery staple"

    def print_share_cards(self, pdf: bytes, purpose: str = "recovery") -> None:
        self.cards.append(pdf)

    def prove_share(
        self,
        custodian: Participant,
        index: int,
        positions: Sequence[int],
        purpose: str = "recovery",
    ) -> dict[int, str]:
        words = self.shares[purpose][index - 1].split()
        return {p: words[p - 1] for p in positions}


def test_real_flow_writes_no_secret_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-rehearsal root ceremony: no share words, PIN or key bytes in any file it wrote."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    sys_net = tmp_path / "net"
    (sys_net / "lo").mkdir(parents=True)
    (sys_net / "lo/flags").write_text("0x9\n")
    cf = ceremonyfile.rehearsal_definition()
    import dataclasses

    cf = dataclasses.replace(cf, backup_passphrase=True)
    bundle = start_bundle(tmp_path / "bundle", ceremonyfile.render(cf))
    hsm = Hsm(softhsm_home=tmp_path / "hsm")
    prompter = MemoryPrompter()
    ctx, folder = open_context(bundle, "root", hsm, prompter, rehearsal=False)  # type: ignore[arg-type]
    ctx.state["sys_net"] = sys_net
    run_ceremony(ctx, folder, scripts.ROOT, CLOSERS)
    assert not (tmp_path / "bundle/rehearsal").exists()

    pins = ctx.pins
    assert pins is not None
    backup_key = combine(prompter.shares["recovery"][:3], b"correct horse battery staple")
    needles: list[bytes] = [
        pins.user_secret,
        pins.so_secret,
        backup_key,
        pins.user_secret.hex().encode(),
        pins.so_secret.hex().encode(),
        backup_key.hex().encode(),
        b"correct horse battery staple",
    ]
    for mnemonic in prompter.shares["recovery"] + prompter.shares["activation"]:
        words = mnemonic.split()
        needles += [" ".join(words[i : i + 4]).encode() for i in range(2, len(words) - 4, 4)]
    written = [p for p in [*(tmp_path / "bundle").rglob("*"), *work.rglob("*")] if p.is_file()]
    assert any(p.name == "transcript.pdf" for p in written)
    for path in written:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{path} holds a secret"
    v = run_cli("verify", tmp_path / "bundle")
    assert v.returncode == 0, v.stdout
    assert prompter.cards, "share cards went to the printer"
    shutil.rmtree(tmp_path / "hsm")
