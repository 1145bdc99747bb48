"""Environment checks before a ceremony: network interfaces and clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SYS_NET = Path("/sys/class/net")
IFF_UP = 0x1
IFF_LOOPBACK = 0x8


@dataclass(frozen=True)
class Interface:
    name: str
    up: bool
    loopback: bool


def interfaces(sys_net: Path = SYS_NET) -> list[Interface]:
    out: list[Interface] = []
    if not sys_net.is_dir():
        return out
    for d in sorted(sys_net.iterdir()):
        try:
            flags = int((d / "flags").read_text().strip(), 16)
        except (OSError, ValueError):
            continue
        out.append(Interface(d.name, bool(flags & IFF_UP), bool(flags & IFF_LOOPBACK)))
    return out


def network_up(sys_net: Path = SYS_NET) -> list[str]:
    """Names of non-loopback interfaces that are up (a real ceremony refuses them)."""
    return [i.name for i in interfaces(sys_net) if i.up and not i.loopback]


def clock_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
