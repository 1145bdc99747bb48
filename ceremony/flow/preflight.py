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


def module_identity(path: str) -> dict[str, object]:
    """The PKCS#11 library as loaded: its path, resolved path and SHA-256."""
    import hashlib

    p = Path(path)
    out: dict[str, object] = {"path": path, "resolved": None, "sha256": None}
    try:
        resolved = p.resolve(strict=True)
        h = hashlib.sha256()
        with resolved.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return out  # a bare name the dynamic loader resolves: recorded as given
    out.update(resolved=str(resolved), sha256=h.hexdigest())
    return out
