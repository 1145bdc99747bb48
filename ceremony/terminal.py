"""The ceremony on a terminal: a :class:`Prompter` for ``ceremony root``, ``sign-csr``,
``crl`` and ``restore`` run from a ceremony file.

Shares are shown to one custodian at a time on a cleared screen and entered
without echo; nothing a custodian types or sees is logged or written. Outside
a rehearsal, :func:`require_terminal` refuses to start when standard input or
output is not a terminal (``| tee log`` would copy every share into the log).
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from ceremony import text
from ceremony.backup.shares import ShareCollector
from ceremony.config.ceremonyfile import Participant
from ceremony.errors import InputError, MediaError, ShareError
from ceremony.flow.prompts import CollectedShares
from ceremony.media.atomic import replace_file

CLEAR = "\033[2J\033[H"


class TerminalIO(Protocol):
    def write(self, text: str) -> None: ...
    def ask(self, prompt: str) -> str: ...
    def ask_secret(self, prompt: str) -> str: ...


CLOSED_STDIN = (
    "standard input is closed: the ceremony asks the people in the room; run it again on"
    " a terminal and it resumes where it stopped"
)


class ConsoleIO:
    def write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def ask(self, prompt: str) -> str:
        try:
            return input(prompt)
        except EOFError:
            raise InputError(CLOSED_STDIN) from None

    def ask_secret(self, prompt: str) -> str:
        try:
            return getpass.getpass(prompt)
        except EOFError:
            raise InputError(CLOSED_STDIN) from None


def require_terminal(rehearsal: bool) -> None:
    """Outside a rehearsal, shares are shown and typed only on a terminal.

    :raises InputError: standard input or output is a pipe, file or closed.
    """
    if rehearsal:
        return
    for name, stream in (("output", sys.stdout), ("input", sys.stdin)):
        try:
            tty = stream is not None and stream.isatty()
        except ValueError:
            tty = False
        if not tty:
            raise InputError(
                f"standard {name} is not a terminal: a real ceremony shows and asks for shares"
                " only on a terminal (no pipe, no redirection, no | tee); run it on the"
                " ceremony machine's console"
            )


def printer_problem() -> str | None:
    """Why share cards cannot be printed on this machine, or None: checked before anything."""
    if shutil.which("lp") is None:
        return "no printer command (lp) on this machine; install CUPS and a printer"
    lpstat = shutil.which("lpstat")
    if lpstat is None:
        return None
    done = subprocess.run([lpstat, "-d", "-a"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0 or "no system default destination" in done.stdout + done.stderr:
        return "no default printer (lpstat -d); set one up before the ceremony"
    return None


def share_grid(mnemonic: str, columns: int = 4) -> str:
    words = mnemonic.split()
    rows = []
    for start in range(0, len(words), columns):
        rows.append(
            "   ".join(
                f"{i + 1:>2}. {w:<9}" for i, w in enumerate(words[start : start + columns], start)
            )
        )
    return "\n".join(rows)


class TerminalPrompter:
    """``cards_to``: a rehearsal's ``rehearsal/`` folder; share cards go there, not to a printer."""

    def __init__(self, io: TerminalIO | None = None, cards_to: Path | None = None) -> None:
        self.io = io or ConsoleIO()
        self.cards_to = cards_to

    def progress(self, step: str, message: str) -> None:
        self.io.write(f"[{step}] {message}\n")

    def _wait(self, prompt: str, word: str) -> None:
        while self.io.ask(f"{prompt} (type '{word}'): ").strip().lower() != word:
            pass

    def hand_out_shares(
        self, purpose: str, mnemonics: Sequence[str], custodians: Sequence[Participant]
    ) -> Mapping[str, str] | None:
        bags: dict[str, str] = {}
        for index, (mnemonic, custodian) in enumerate(zip(mnemonics, custodians, strict=True), 1):
            self._show(purpose, index, len(mnemonics), mnemonic, custodian)
            bags[custodian.name] = self._bag(custodian.name)
        return bags

    def _show(
        self, purpose: str, index: int, total: int, mnemonic: str, custodian: Participant
    ) -> None:
        self.io.write(CLEAR)
        self._wait(
            f"{custodian.name}: {purpose} share {index} of {total} is next."
            " Only you look at the screen now",
            "ready",
        )
        self.io.write(
            f"{purpose.upper()} SHARE {index} of {total} for "
            f"{custodian.name}\nNever copy it digitally: no photo, no scan, no "
            f"typing into a computer.\n\n{share_grid(mnemonic)}\n\n"
        )
        self._wait("Check every word of your printed card against the screen", "checked")
        self.io.write(CLEAR)

    def _bag(self, name: str) -> str:
        """The serial printed on the tamper-evident bag that takes the card."""
        while True:
            answer = text.typed(
                self.io.ask(f"Serial printed on the tamper-evident bag for {name}'s card:")
            )
            reason = text.problem(answer, 64) if answer else "a bag serial is required"
            if reason is None:
                return answer
            self.io.write(f"bag serial {answer!r}: {reason}; again\n")

    def reshow_share(
        self, custodian: Participant, index: int, mnemonic: str, purpose: str = "recovery"
    ) -> None:
        self._show(purpose, 1, 1, mnemonic, custodian)

    def sign_in(self, participants: Sequence[Participant]) -> list[str]:
        names = [p.name for p in participants]
        self.io.write(
            "Sign-in. Participants in the ceremony file:\n"
            + "".join(f"  {p.name} ({p.role.value})\n" for p in participants)
        )
        while True:
            answer = self.io.ask(
                "Names of those absent, separated by commas (Enter when everyone is here): "
            )
            absent = [a.strip() for a in answer.split(",") if a.strip()]
            unknown = [a for a in absent if a not in names]
            if not unknown:
                return [n for n in names if n not in absent]
            self.io.write(f"not in the ceremony file: {', '.join(unknown)}; again\n")

    def collect_shares(
        self, purpose: str, threshold: int, custodians: Sequence[Participant]
    ) -> CollectedShares:
        collector = ShareCollector()
        shares: list[str] = []
        names: list[str] = []
        for custodian in custodians:
            if len(shares) >= threshold:
                break
            while True:
                n = len(shares) + 1
                entered = self.io.ask_secret(
                    f"{purpose} share {n} of {threshold}, {custodian.name} (words, not shown;"
                    " Enter to pass): "
                )
                if not entered.strip():
                    break
                try:
                    collector.add(entered)
                except ShareError as ex:
                    self.io.write(f"refused: {ex.message}; enter it again\n")
                    continue
                shares.append(entered)
                names.append(custodian.name)
                break
        if len(shares) < threshold:
            raise ShareError(
                f"{purpose} shares: {len(shares)} presented by the custodians present,"
                f" {threshold} needed"
            )
        return CollectedShares(tuple(shares), tuple(names))

    def orphan(self, what: str, detail: str) -> bool:
        answer = self.io.ask(f"{detail}. Destroy this {what} and redo the step? (yes/no): ")
        return answer.strip().lower() == "yes"

    def confirm(self, step: str, summary: Sequence[str], phrase: str) -> bool:
        self.io.write("\n".join(summary) + "\n")
        return self.io.ask("> ").strip() == phrase

    def passphrase(self, purpose: str, new: bool) -> str:
        while True:
            first = self.io.ask_secret(f"{purpose} passphrase: ")
            if not new or self.io.ask_secret("again: ") == first:
                return first
            self.io.write("the two entries differ; again\n")

    def print_share_cards(self, pdf: bytes, purpose: str = "recovery") -> None:
        if self.cards_to is not None:
            name = "share-cards.pdf" if purpose == "recovery" else f"{purpose}-cards.pdf"
            replace_file(self.cards_to / name.replace(":", "-"), pdf, mode=0o600)
            return
        lp = shutil.which("lp")
        if lp is None:
            raise MediaError("share cards: no printer command (lp) on this machine")
        done = subprocess.run([lp, "-"], input=pdf, capture_output=True)
        if done.returncode != 0:
            raise MediaError(f"share cards: the printer refused: {done.stderr.decode().strip()}")

    def prove_share(
        self,
        custodian: Participant,
        index: int,
        positions: Sequence[int],
        purpose: str = "recovery",
    ) -> dict[int, str]:
        self.io.write(f"{custodian.name}: recite words of your {purpose} share {index}\n")
        return {p: self.io.ask_secret(f"word {p}: ") for p in positions}
