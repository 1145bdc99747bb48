"""Every share card is proven by its holder before the ceremony closes: recovery and activation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ceremony.backup.shares import ShareSetParams, split_secret
from ceremony.config.ceremonyfile import Participant, Role
from ceremony.errors import InputError, ShareError
from ceremony.flow import shareproof
from ceremony.flow.engine import FAULT_ENV, FAULT_EXIT
from ceremony.flow.scripts import RECOVERY, ROOT
from ceremony.hsm.module import SoftHsmHome
from tests.helpers import run_cli


def _events(bundle: Path, kind: str) -> list[dict[str, Any]]:
    folder = sorted((bundle / "transcripts").glob(f"*-{kind}"))[-1]
    return [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]


def _step(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [e["payload"] for e in events if e["event"] == "step" and e["step"] == name]
    assert len(found) == 1, f"{name} recorded once"
    payload: dict[str, Any] = found[0]
    return payload


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("proof") / "bundle"
    r = run_cli("demo", "--out", out, "--threshold", "2", "--shares", "3")
    assert r.returncode == 0, r.stderr
    return out


def test_activation_cards_are_proven_right_after_the_token_is_made() -> None:
    for script in (ROOT, RECOVERY):
        names = [s.name for s in script]
        assert names.index("activation.proof") == names.index("token.init") + 1


def test_the_root_ceremony_records_each_custodians_activation_proof(demo: Path) -> None:
    events = _events(demo, "root")
    token = _step(events, "token.init")
    holders = token["activation"]["holders"]
    assert holders == ["Custodian 1", "Custodian 2", "Custodian 3"]
    proof = _step(events, "activation.proof")
    assert [c["custodian"] for c in proof["custodians"]] == holders
    assert [c["share"] for c in proof["custodians"]] == [1, 2, 3]
    assert all(len(c["positions"]) == shareproof.PROOF_WORDS for c in proof["custodians"])
    recovery = _step(events, "backup.proof")
    assert [c["custodian"] for c in recovery["custodians"]] == holders


def test_a_recovery_proves_the_new_activation_cards_of_those_present(
    demo: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(demo, bundle)
    SoftHsmHome(bundle / "rehearsal").ensure()
    shares = (bundle / "rehearsal/backup-shares.txt").read_text().splitlines()
    (tmp_path / "two.txt").write_text("\n".join(shares[1:3]) + "\n")
    r = run_cli(
        "restore",
        bundle,
        "--shares",
        tmp_path / "two.txt",
        "--to-token",
        "root-ca-2",
        "--absent",
        "Custodian 1",
    )
    assert r.returncode == 0, r.stderr
    proof = _step(_events(bundle, "recovery"), "activation.proof")
    assert [(c["custodian"], c["share"]) for c in proof["custodians"]] == [
        ("Custodian 2", 1),
        ("Custodian 3", 2),
    ]
    assert run_cli("verify", bundle).returncode == 0


def test_after_a_crash_every_holder_types_their_whole_activation_share(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    crashed = run_cli("demo", "--out", out, env={FAULT_ENV: "token.init:event"})
    assert crashed.returncode == FAULT_EXIT, crashed.stderr
    resumed = run_cli("demo", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    proof = _step(_events(out, "root"), "activation.proof")
    assert {c["method"] for c in proof["custodians"]} == {"full share re-entered"}
    assert sorted(c["share"] for c in proof["custodians"]) == [1, 2, 3, 4, 5]
    assert run_cli("verify", out).returncode == 0


class _Room:
    """Holders who answer from their cards; ``mistakes`` wrong answers come first."""

    def __init__(self, mnemonics: Sequence[str], mistakes: int) -> None:
        self.mnemonics = mnemonics
        self.mistakes = mistakes
        self.said: list[tuple[str, str]] = []
        self.reshown: list[tuple[str, int, str]] = []
        self.wrong: list[int] = []

    def progress(self, step: str, message: str) -> None:
        self.said.append((step, message))

    def prove_share(
        self, holder: Participant, index: int, positions: Sequence[int], purpose: str = "recovery"
    ) -> dict[int, str]:
        words = self.mnemonics[index - 1].split()
        answers = {p: words[p - 1] for p in positions}
        if self.mistakes:
            self.mistakes -= 1
            answers[positions[-1]] = "zzzz"
            self.wrong.append(positions[-1])
        return answers

    def reshow_share(
        self, holder: Participant, index: int, mnemonic: str, purpose: str = "recovery"
    ) -> None:
        self.reshown.append((holder.name, index, purpose))


class _Ctx:
    def __init__(self, prompter: _Room) -> None:
        self.prompter = prompter


HOLDERS = [Participant(f"Custodian {i}", Role.CUSTODIAN) for i in (1, 2)]


def _mnemonics() -> Sequence[str]:
    params = ShareSetParams(threshold=2, count=2, rehearsal=True)
    return split_secret(bytes(range(32)), params, iteration_exponent=0).mnemonics


def test_a_wrong_word_is_named_and_the_card_shown_again() -> None:
    room = _Room(_mnemonics(), mistakes=1)
    proved = shareproof.prove_by_words(
        _Ctx(room),  # type: ignore[arg-type]
        "activation",
        "activation.proof",
        room.mnemonics,
        HOLDERS,
    )
    assert [p["attempts"] for p in proved] == [2, 1]
    assert room.reshown == [("Custodian 1", 1, "activation")]
    step, message = room.said[0]
    assert (step, message) == (
        "activation.proof",
        f"Custodian 1: word number {room.wrong[0]} wrong",
    )


def test_three_wrong_attempts_stop_the_step_naming_the_holder() -> None:
    room = _Room(_mnemonics(), mistakes=shareproof.PROOF_ATTEMPTS)
    with pytest.raises(ShareError, match="Custodian 1: activation share 1 not confirmed"):
        shareproof.prove_by_words(
            _Ctx(room),  # type: ignore[arg-type]
            "activation",
            "activation.proof",
            room.mnemonics,
            HOLDERS,
        )
    assert len(room.reshown) == shareproof.PROOF_ATTEMPTS - 1


@pytest.mark.parametrize(
    "step, purpose", [("token.init", "activation"), ("backup.create", "recovery")]
)
def test_cards_of_an_interrupted_step_are_named_void_and_destroyed_in_the_room(
    step: str, purpose: str, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    crashed = run_cli("demo", "--out", out, env={FAULT_ENV: f"{step}:action"})
    assert crashed.returncode == FAULT_EXIT, crashed.stderr
    old = (
        json.loads((out / "backup/backup.json").read_text())["set_id"]
        if purpose == "recovery"
        else None
    )
    resumed = run_cli("demo", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    events = _events(out, "root")
    holders = [f"Custodian {i}" for i in range(1, 6)]
    void = _step(events, step)["void_cards"]
    assert void == {
        "purpose": purpose,
        "set_id": old,
        "holders": holders,
        "destroyed_in_room": True,
    }
    if old is not None:
        assert _step(events, step)["backup"]["set_id"] != old
    notes = [e["payload"] for e in events if e["event"] == "exception"]
    assert any(
        f"{purpose} share cards" in n["description"]
        and ", ".join(holders) in n["description"]
        and "destroyed their card in the room" in n["remediation"]
        for n in notes
    )
    assert run_cli("verify", out).returncode == 0


class _Refusing(_Room):
    def confirm(self, step: str, summary: Sequence[str], phrase: str) -> bool:
        self.said += [(step, line) for line in summary]
        return False


def test_new_cards_wait_until_the_void_ones_are_confirmed_destroyed() -> None:
    room = _Refusing(_mnemonics(), mistakes=0)
    with pytest.raises(InputError, match="not confirmed destroyed"):
        shareproof.void_cards(
            _Ctx(room),  # type: ignore[arg-type]
            "token.init",
            "activation",
            HOLDERS,
        )
    assert any("Custodian 1, Custodian 2" in line for _, line in room.said)
