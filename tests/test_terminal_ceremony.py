"""``ceremony root`` on a terminal: the same script, answered by people at a keyboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ceremony import cli
from ceremony.config import ceremonyfile
from ceremony.terminal import CLEAR
from tests.helpers import assert_refused, run_cli


class ScriptedTerminal:
    """Custodians at the keyboard: they write down what is shown and type it back later."""

    def __init__(self) -> None:
        self.screen: list[str] = []
        self.shown: dict[str, list[str]] = {"activation": [], "recovery": []}
        self.secret_prompts: list[str] = []
        self.bags: list[str] = []
        """Whose card went into each bag, in the order the bags were numbered."""

    def write(self, text: str) -> None:
        self.screen.append(text)
        m = re.match(r"(ACTIVATION|RECOVERY) SHARE (\d+) of", text)
        if m:
            words = re.findall(r"\d+\. (\S+)", text)
            self.shown[m.group(1).lower()].append(" ".join(words))
        m = re.match(r"(.+): recite words of your (\w+) share (\d+)", text)
        if m:
            self._proving = self.shown[m.group(2)][int(m.group(3)) - 1]

    def ask(self, prompt: str) -> str:
        for word in ("ready", "checked"):
            if f"type '{word}'" in prompt:
                return word
        if prompt.startswith("Names of those absent"):
            return ""
        m = re.match(r"Serial printed on the tamper-evident bag for (.+)'s card:", prompt)
        if m:
            if not self.bags or self.bags[-1] != "(refused)":
                self.bags.append("(refused)")
                return "TE\u200b1"  # a zero-width space: refused, asked again
            self.bags[-1] = m.group(1)
            return f"TE-{len(self.bags):04d}"
        return "no"

    def ask_secret(self, prompt: str) -> str:
        self.secret_prompts.append(prompt)
        m = re.match(r"recovery share (\d+) of", prompt)
        if m:
            return self.shown["recovery"][int(m.group(1)) - 1]
        m = re.match(r"word (\d+):", prompt)
        if m:
            return self._proving.split()[int(m.group(1)) - 1]
        raise AssertionError(f"unexpected secret prompt {prompt!r}")

    _proving = ""


def test_root_ceremony_on_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    term = ScriptedTerminal()
    import ceremony.terminal as terminal

    monkeypatch.setattr(terminal, "ConsoleIO", lambda: term)
    cfile = tmp_path / "ceremony.toml"
    cfile.write_bytes(ceremonyfile.render(ceremonyfile.rehearsal_definition()))
    loc = tmp_path / "locator.toml"
    loc.write_text("rehearsal = true\n")
    out = tmp_path / "bundle"
    assert (
        cli.run(["root", "--ceremony", str(cfile), "--locator", str(loc), "--out", str(out)]) == 0
    )
    assert len(term.shown["activation"]) == 5 and len(term.shown["recovery"]) == 5
    custodians = [f"Custodian {i}" for i in range(1, 6)]
    assert term.bags == custodians * 2
    recorded = [
        json.loads(x)
        for x in next(out.glob("transcripts/*-root/events.jsonl")).read_text().splitlines()
    ]
    serials = {
        e["step"]: e["payload"]["bag_serials"] for e in recorded if "bag_serials" in e["payload"]
    }
    assert serials == {
        "token.init": {c: f"TE-{i:04d}" for i, c in enumerate(custodians, 1)},
        "backup.create": {c: f"TE-{i + 5:04d}" for i, c in enumerate(custodians, 1)},
    }
    assert any("bag serial 'TE\\u200b1'" in t for t in term.screen), "the refusal is said"
    assert any(CLEAR in t for t in term.screen), "the screen is cleared between custodians"
    assert (out / "ceremony.toml").read_bytes() == cfile.read_bytes()
    assert (out / "rehearsal/share-cards.pdf").exists()
    v = run_cli("verify", out)
    assert v.returncode == 0, v.stdout
    printed = capsys.readouterr().out
    assert ceremonyfile.file_digest(cfile.read_bytes())[0] in printed


def test_locator_and_ceremony_file_refusals(tmp_path: Path) -> None:
    cfile = tmp_path / "c.toml"
    cfile.write_bytes(ceremonyfile.render(ceremonyfile.rehearsal_definition()))
    bad = tmp_path / "loc.toml"
    bad.write_text('rehearsal = true\n[hsm]\npin = "1234"\n')
    assert_refused(
        run_cli("root", "--ceremony", cfile, "--locator", bad, "--out", tmp_path / "o"),
        2,
        "unknown key hsm.pin",
    )
    bad.write_text('[hsm]\nmodule = "/nowhere/lib.so"\n')
    assert_refused(
        run_cli("root", "--ceremony", cfile, "--locator", bad, "--out", tmp_path / "o"),
        2,
        "/nowhere/lib.so",
        "not found",
    )
    assert_refused(
        run_cli("root", "--ceremony", tmp_path / "none.toml", "--out", tmp_path / "o"),
        2,
        "none.toml",
        "not found",
    )
    assert not (tmp_path / "o").exists()
