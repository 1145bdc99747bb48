"""The questions a ceremony asks its participants, as an interface.

The flow never prompts by itself: the GUI, the CLI and the tests each
answer :class:`Prompter` their own way. :class:`RehearsalPrompter` answers
unattended and keeps what a rehearsal needs to go on in the bundle's
``rehearsal/`` folder, the only place a secret may be written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ceremony.config.ceremonyfile import Participant
from ceremony.errors import InputError
from ceremony.media.atomic import replace_file


@dataclass(frozen=True)
class CollectedShares:
    """Shares as their holders presented them: ``presented_by[i]`` typed ``mnemonics[i]``."""

    mnemonics: tuple[str, ...]
    presented_by: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.mnemonics) != len(self.presented_by):
            raise ValueError("one custodian name per share")

    def __repr__(self) -> str:
        return f"CollectedShares(<{len(self.mnemonics)} shares>, {self.presented_by!r})"

    def __len__(self) -> int:
        return len(self.mnemonics)


class Prompter(Protocol):
    def progress(self, step: str, message: str) -> None:
        """Tell the room what is happening now."""

    def sign_in(self, participants: Sequence[Participant]) -> list[str]:
        """The names of the participants present in the room."""

    def hand_out_shares(
        self, purpose: str, mnemonics: Sequence[str], custodians: Sequence[Participant]
    ) -> Mapping[str, str] | None:
        """Give share i to custodian i, one custodian at a time.

        Returns the serial of the tamper-evident bag each card was sealed in, by custodian
        name, or ``None`` where this prompter does not ask for them.
        """

    def collect_shares(
        self, purpose: str, threshold: int, custodians: Sequence[Participant]
    ) -> CollectedShares:
        """Ask ``custodians`` (those present) for at least ``threshold`` shares of ``purpose``."""

    def orphan(self, what: str, detail: str) -> bool:
        """Something from an interrupted step was found; True destroys it and redoes the step."""

    def confirm(self, step: str, summary: Sequence[str], phrase: str) -> bool:
        """Show ``summary``; True only if the operator typed ``phrase`` exactly."""

    def reshow_share(
        self, custodian: Participant, index: int, mnemonic: str, purpose: str = "recovery"
    ) -> None:
        """Show custodian ``index`` their ``purpose`` share again after a failed proof."""

    def passphrase(self, purpose: str, new: bool) -> str:
        """The backup passphrase (printable ASCII); ``new`` asks for it twice."""

    def print_share_cards(self, pdf: bytes, purpose: str = "recovery") -> None:
        """Send the custodians' ``purpose`` share cards to the printer (never to a file)."""

    def prove_share(
        self,
        custodian: Participant,
        index: int,
        positions: Sequence[int],
        purpose: str = "recovery",
    ) -> dict[int, str]:
        """Holder ``index`` (1-based) recites the words at ``positions`` of their ``purpose``
        share."""


def rehearsal_bags(purpose: str, custodians: Sequence[Participant]) -> dict[str, str]:
    """The bag serials a rehearsal records: marked as such, one per card."""
    return {c.name: f"REHEARSAL-{purpose.upper()}-{i:02d}" for i, c in enumerate(custodians, 1)}


class RehearsalPrompter:
    """Answers every question from ``rehearsal/`` and records handed-out secrets there."""

    def __init__(self, rehearsal_dir: Path, quiet: bool = True, absent: Sequence[str] = ()) -> None:
        self.dir = Path(rehearsal_dir)
        self.quiet = quiet
        self.absent = tuple(absent)
        """Participants who do not sign in (a rehearsal of M of N present)."""
        self.messages: list[tuple[str, str]] = []

    @property
    def secrets_path(self) -> Path:
        return self.dir / "secrets.json"

    def _secrets(self) -> dict[str, Any]:
        if not self.secrets_path.exists():
            return {}
        data = json.loads(self.secrets_path.read_text())
        assert isinstance(data, dict)
        return data

    def remember(self, key: str, value: Any) -> None:
        data = self._secrets()
        data[key] = value
        replace_file(self.secrets_path, json.dumps(data, indent=2).encode(), mode=0o600)
        self.secrets_path.chmod(0o600)

    def recall(self, key: str) -> Any:
        data = self._secrets()
        if key not in data:
            raise InputError(f"{self.secrets_path}: has no {key!r} (not a rehearsal bundle?)")
        return data[key]

    def progress(self, step: str, message: str) -> None:
        self.messages.append((step, message))
        if not self.quiet:
            print(f"[{step}] {message}", flush=True)

    def sign_in(self, participants: Sequence[Participant]) -> list[str]:
        names = [p.name for p in participants]
        unknown = [a for a in self.absent if a not in names]
        if unknown:
            raise InputError(f"absent: {', '.join(unknown)} not in the ceremony file")
        return [n for n in names if n not in self.absent]

    def hand_out_shares(
        self, purpose: str, mnemonics: Sequence[str], custodians: Sequence[Participant]
    ) -> Mapping[str, str] | None:
        if purpose == "recovery" and len(mnemonics) == len(custodians) > 1:
            text = "".join(f"{m}\n" for m in mnemonics)
            replace_file(self.dir / "backup-shares.txt", text.encode(), mode=0o600)
        self.remember(f"{purpose}_shares", list(mnemonics))
        self.remember(f"{purpose}_holders", [c.name for c in custodians])
        return rehearsal_bags(purpose, custodians)

    def collect_shares(
        self, purpose: str, threshold: int, custodians: Sequence[Participant]
    ) -> CollectedShares:
        """Share i from ``rehearsal/`` for each present custodian i (holders in file order)."""
        from ceremony.backup.shares import ShareCollector

        shares = self.recall(f"{purpose}_shares")
        assert isinstance(shares, list)
        holders = self._secrets().get(f"{purpose}_holders")
        if isinstance(holders, list) and len(holders) == len(shares):
            here = {c.name for c in custodians}
            pairs = [(str(h), s) for h, s in zip(holders, shares, strict=True) if h in here]
        else:  # recorded before holders were: share i is the i-th present custodian's
            pairs = [(c.name, s) for c, s in zip(custodians, shares, strict=False)]
        collector, chosen, names = ShareCollector(), [], []
        for holder, share in pairs:
            chosen.append(str(share))
            names.append(holder)
            complete = collector.add(str(share)).complete
            if complete and len(chosen) >= threshold:
                break
        return CollectedShares(tuple(chosen), tuple(names))

    def orphan(self, what: str, detail: str) -> bool:
        self.progress("resume", f"interrupted step left {what}: {detail}; destroying it")
        return True

    def reshow_share(
        self, custodian: Participant, index: int, mnemonic: str, purpose: str = "recovery"
    ) -> None:
        self.progress("proof", f"{purpose} share {index} shown again to {custodian.name}")

    def passphrase(self, purpose: str, new: bool) -> str:
        key = f"{purpose}_passphrase"
        if new:
            import secrets

            self.remember(key, "rehearsal " + secrets.token_hex(8))
        return str(self.recall(key))

    def print_share_cards(self, pdf: bytes, purpose: str = "recovery") -> None:
        name = "share-cards.pdf" if purpose == "recovery" else f"{purpose}-cards.pdf"
        replace_file(self.dir / name.replace(":", "-"), pdf, mode=0o600)

    def prove_share(
        self,
        custodian: Participant,
        index: int,
        positions: Sequence[int],
        purpose: str = "recovery",
    ) -> dict[int, str]:
        words = str(self.recall(f"{purpose}_shares")[index - 1]).split()
        return {p: words[p - 1] for p in positions}

    def confirm(self, step: str, summary: Sequence[str], phrase: str) -> bool:
        for line in summary:
            self.progress(step, line)
        self.progress(step, f"rehearsal: typed {phrase!r}")
        return True
