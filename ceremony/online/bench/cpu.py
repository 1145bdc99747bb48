"""What a benchmark row costs the machine: CPU time of the server under test (every
process of its session: master, workers, lint pool), the load average before and after,
and where the load generator runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _session(sid: int) -> Iterator[tuple[int, list[str]]]:
    """(pid, fields from field 3 of proc(5) on) of every live process of session ``sid``."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[3]) == sid:  # field 6, session
            yield int(stat.parent.name), fields


def session_cpu_seconds(sid: int) -> float:
    """User + system CPU seconds of every live process of session ``sid`` (and of the
    children they have waited for): fields 14 to 17 of proc(5)."""
    return sum(sum(int(f) for f in fields[11:15]) for _pid, fields in _session(sid)) / TICKS


def session_pids(sid: int) -> list[int]:
    return [pid for pid, _fields in _session(sid)]


def load1() -> float:
    return os.getloadavg()[0]


@dataclass(frozen=True)
class Placement:
    """Cores of the servers and of the load generator: apart when there are three or
    more, the generator on the last core otherwise (it then shares it with a server)."""

    server: tuple[int, ...]
    load: tuple[int, ...]

    @classmethod
    def of_this_machine(cls) -> Placement:
        cores = tuple(sorted(os.sched_getaffinity(0)))
        if len(cores) >= 3:
            return cls(cores[:-1], cores[-1:])
        return cls(cores, cores[-1:])

    @property
    def apart(self) -> bool:
        return not set(self.server) & set(self.load)

    def server_prefix(self) -> list[str]:
        return ["taskset", "-c", ",".join(map(str, self.server))] if self.apart else []

    def load_prefix(self) -> list[str]:
        return ["taskset", "-c", ",".join(map(str, self.load))]

    def describe(self) -> str:
        where = "apart from" if self.apart else "sharing a core with"
        return f"load generator on core {','.join(map(str, self.load))}, {where} the servers"
