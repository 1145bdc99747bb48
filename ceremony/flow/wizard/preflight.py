"""What the preflight page shows: network interfaces, software hash, the HSM and its tokens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ceremony import pgpwords, software
from ceremony.flow import preflight

SYS_NET = Path("/sys/class/net")
"""Where the network interfaces are read; tests pass a fake tree."""


@dataclass(frozen=True)
class TokenFacts:
    label: str
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HsmReport:
    module_path: str
    description: str = ""
    tokens: tuple[TokenFacts, ...] = ()
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class PreflightReport:
    """What the preflight page shows before the preflight step records it."""

    interfaces: tuple[preflight.Interface, ...]
    network_up: tuple[str, ...]
    rehearsal: bool
    software_version: str
    software_hash: str
    software_words: str
    hsm: HsmReport

    @property
    def network_refusal(self) -> str | None:
        """The reason a real ceremony may not go on, or None."""
        if self.network_up and not self.rehearsal:
            return (
                f"network interface {', '.join(self.network_up)} is up: a real ceremony runs "
                "air-gapped. Unplug the cable or bring the interface down, then check again."
            )
        return None

    @property
    def network_warning(self) -> str | None:
        if self.network_up and self.rehearsal:
            return (
                f"network interface {', '.join(self.network_up)} is up. Accepted for a "
                "rehearsal and recorded in the log; a real ceremony refuses."
            )
        return None

    @property
    def ready(self) -> bool:
        return self.network_refusal is None and self.hsm.ok


def software_words() -> tuple[str, str]:
    digest = software.package_hash()
    return digest, pgpwords.words(bytes.fromhex(digest))
