"""A real ceremony on a real terminal, for tests: ``ceremony`` runs on a pseudo-terminal,
in a network namespace where no interface is up (so a real, not a rehearsal, ceremony's
preflight passes on a networked test machine), with an ``lp`` that keeps what it prints.

:class:`Room` plays the people at the keyboard: it answers the sign-in, writes down every
share shown to a custodian (a card per custodian and purpose), types shares back when asked
(getpass: no echo), recites proof words, types the signing confirmation phrase.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SHOWN = re.compile(r"([A-Z][A-Z0-9:._-]*) SHARE (\d+) of (\d+) for (.+?)\r?\n")
GRID_WORD = re.compile(r"\d+\. (\S+)")


@dataclass
class Room:
    """Everyone at the keyboard. ``cards``: (purpose, custodian) -> the share written down."""

    absent: list[str] = field(default_factory=list)
    passphrase: str = ""
    orphans: str = "yes"
    cards: dict[tuple[str, str], str] = field(default_factory=dict)
    typed: list[str] = field(default_factory=list)
    """Every secret typed (shares, proof words): none may reach a file or the screen."""
    bags: list[str] = field(default_factory=list)
    """Whose card went into each bag, in the order the bags were numbered."""
    withhold: set[str] = field(default_factory=set)
    """Custodians who press Enter instead of typing their share."""
    _reciting: str = ""

    def learn(self, screen: str) -> None:
        """Write down the shares shown on ``screen``."""
        for m in SHOWN.finditer(screen):
            purpose = m.group(1).lower()
            rest = screen[m.end() :]
            words: list[str] = []
            for line in rest.splitlines():
                found = GRID_WORD.findall(line)
                if not found:
                    if words:
                        break
                    continue
                words += found
            self.cards[(purpose, m.group(4).strip())] = " ".join(words)
        m = re.search(r"(.+): recite words of your (\S+) share \d+", screen)
        if m:
            self._reciting = self.cards[(m.group(2), m.group(1).strip().splitlines()[-1])]

    def answer(self, screen: str) -> str | None:
        """What to type at the prompt that ends ``screen``; None if it ends in no prompt."""
        tail = screen.rstrip(" ").splitlines()[-1] if screen.strip() else ""
        if "Enter when everyone is here" in tail:
            return ", ".join(self.absent)
        m = re.search(r"\(type '(\w+)'\):$", tail)
        if m:
            return m.group(1)
        m = re.search(r"^(\S+) share \d+ of \d+, (.+) \(words, not shown; Enter to pass\):$", tail)
        if m:
            purpose, name = m.group(1), m.group(2)
            if name in self.withhold:
                return ""
            card = self.cards.get((purpose, name))
            if card is None:
                card = next(
                    (v for (p, n), v in self.cards.items() if n == name and p.startswith(purpose)),
                    "",
                )
            self.typed.append(card)
            return card
        m = re.search(r"^word (\d+):$", tail)
        if m:
            word = self._reciting.split()[int(m.group(1)) - 1]
            self.typed.append(word)
            return word
        m = re.search(r"Serial printed on the tamper-evident bag for (.+)'s card:$", tail)
        if m:
            self.bags.append(m.group(1))
            return f"BAG-{len(self.bags):04d}"
        if tail.endswith("(yes/no):"):
            return self.orphans
        if tail == ">":
            m = re.findall(r"To sign, type exactly: (.+?)\r?\n", screen)
            return m[-1].strip() if m else "no"
        if tail.endswith("passphrase:") or tail == "again:":
            return self.passphrase
        return None


@dataclass
class TerminalRun:
    returncode: int
    output: str


def fake_printer(folder: Path) -> Path:
    """A ``bin`` folder with an ``lp`` that stores each print job in ``folder/printed``."""
    bin_dir = folder / "bin"
    printed = folder / "printed"
    bin_dir.mkdir(exist_ok=True)
    printed.mkdir(exist_ok=True)
    lp = bin_dir / "lp"
    lp.write_text(f'#!/bin/sh\ncat > "{printed}/job-$$.pdf"\n')
    lp.chmod(0o755)
    lpstat = bin_dir / "lpstat"
    lpstat.write_text("#!/bin/sh\necho 'system default destination: cards'\n")
    lpstat.chmod(0o755)
    return bin_dir


def run_on_terminal(
    args: list[str],
    tmp_path: Path,
    room: Room | None = None,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    printer: bool = True,
) -> TerminalRun:
    """``ceremony ARGS`` on a pseudo-terminal, answered by ``room``, without network;
    ``printer``: with an ``lp`` that keeps what it prints in ``tmp_path/printed``."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a network namespace")
    room = room or Room()
    bin_dir = fake_printer(tmp_path) if printer else tmp_path / "no-printer"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("CEREMONY_FAULT")}
    child_env.pop("SOFTHSM2_CONF", None)
    child_env.update(env or {})
    child_env["PATH"] = f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"
    child_env["TERM"] = "dumb"
    command = [
        "unshare",
        "--net",
        "--mount",
        "sh",
        "-c",
        'mount -t sysfs sysfs /sys && exec "$@"',
        "sh",
        sys.executable,
        "-m",
        "ceremony",
        *args,
    ]
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.execvpe(command[0], command, child_env)
        finally:
            os._exit(127)
    out: list[str] = []
    since = ""
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError("terminal ceremony timed out:\n" + "".join(out)[-3000:])
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536).decode(errors="replace")
                except OSError:
                    break
                if not chunk:
                    break
                out.append(chunk)
                since += chunk
                continue
            if since:
                room.learn(since)
                reply = room.answer(since)
                if reply is not None:
                    os.write(fd, reply.encode() + b"\n")
                    since = ""
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return TerminalRun(code, "".join(out).replace("\r\n", "\n"))
