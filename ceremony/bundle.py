"""The evidence bundle: its layout (CONTRACT.md), its manifest, its transcripts.

Every path an event records is relative to the bundle root. Files are
written once (:func:`ceremony.media.atomic.write_new`); only ``SHA256SUMS``,
``root/root-ca.crl`` (a copy of the newest numbered CRL) and
``cps/cps-appendix.pdf`` are regenerated.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from ceremony.errors import InputError, MediaError
from ceremony.media.atomic import WrittenFile, replace_file, sha256_file, write_new

MANIFEST = "SHA256SUMS"
CEREMONY_FILE = "ceremony.toml"
ROOT_CERT = "root/root-ca.pem"
ROOT_CRL = "root/root-ca.crl"
BACKUP_WRAPPED = "backup/root-key.wrapped"
BACKUP_FACTS = "backup/backup.json"
SIGNER_CERT = "issued/transcript-signer.pem"
CPS = "cps/cps-appendix.pdf"
REHEARSAL = "rehearsal"
TRANSCRIPT_RE = re.compile(r"^(\d{3})-([a-z-]+)$")


def numbered_crl(number: int) -> str:
    return f"root/root-ca-{number}.crl"


_HELD: dict[tuple[int, int], int] = {}
"""Bundle locks this process holds: (device, inode) of the folder to its descriptor."""


def lock_folder(folder: Path) -> None:
    """Take an exclusive ``flock`` on ``folder``: one ceremony at a time per bundle.

    The lock is on the folder itself, so it adds no file to the bundle; the kernel
    releases it when the process ends, however it ends. Taking it again in the same
    process is a no-op (the wizard and a rehearsal run several ceremonies).

    :raises InputError: another process holds it; the message names its process id,
        host and command.
    """
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise InputError(f"{folder}: not a bundle folder") from None
    except NotADirectoryError:
        raise InputError(f"{folder}: exists and is not a folder") from None
    except OSError as ex:
        raise MediaError(f"{folder}: cannot be opened: {ex.strerror}") from ex
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    if key in _HELD:
        os.close(fd)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as ex:
        os.close(fd)
        if ex.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise InputError(
                f"{folder}: another ceremony is running on this bundle ({_holder(st)});"
                " one ceremony at a time: wait for it to end, then run this again"
            ) from None
        raise MediaError(f"{folder}: cannot be locked: {ex.strerror}") from ex
    _HELD[key] = fd


def unlock_folder(folder: Path) -> None:
    """Release this process's lock on ``folder`` (nothing if it holds none)."""
    try:
        st = os.stat(folder)
    except OSError:
        return
    fd = _HELD.pop((st.st_dev, st.st_ino), None)
    if fd is not None:
        os.close(fd)


def _holder(st: os.stat_result) -> str:
    """Who holds the lock on the folder of ``st``: its process id, host and command."""
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read(1 << 20).splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK" or fields[5] != wanted:
            continue
        pid = fields[4]
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read(4096).split(b"\0")
            command = " ".join(a.decode(errors="replace") for a in argv if a)
        except OSError:
            command = ""
        shown = f": {command[:120]}" if command else ""
        return f"process {pid} on host {socket.gethostname()}{shown}"
    return "a process on another machine or out of sight of this one"


@dataclass(frozen=True)
class Bundle:
    root: Path

    def lock(self) -> None:
        """Take the bundle's exclusive lock (see :func:`lock_folder`)."""
        lock_folder(self.root)

    def unlock(self) -> None:
        unlock_folder(self.root)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def write(self, rel: str, data: bytes, mode: int = 0o644) -> WrittenFile:
        return write_new(self.path(rel), data, mode)

    def replace(self, rel: str, data: bytes) -> WrittenFile:
        return replace_file(self.path(rel), data)

    def read(self, rel: str) -> bytes:
        try:
            return self.path(rel).read_bytes()
        except FileNotFoundError:
            raise InputError(f"{self.path(rel)}: missing from the bundle") from None

    @property
    def is_rehearsal(self) -> bool:
        return self.path(REHEARSAL).is_dir()

    def transcripts(self) -> list[Path]:
        folder = self.path("transcripts")
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_dir() and TRANSCRIPT_RE.match(p.name))

    def open_transcript(self, kind: str) -> Path | None:
        """The newest transcript folder of ``kind`` whose ceremony did not close."""
        from ceremony.audit.eventlog import read_events

        for folder in reversed(self.transcripts()):
            if not folder.name.endswith(f"-{kind}"):
                continue
            if not (folder / "events.jsonl").exists():
                return folder
            else:
                events = list(read_events(folder / "events.jsonl"))
                if not any(e.get("step") == "ceremony.close" for e in events):
                    return folder
        return None

    def next_transcript(self, kind: str) -> Path:
        """The folder :meth:`new_transcript` would make now (not made)."""
        existing = [int(TRANSCRIPT_RE.match(p.name).group(1)) for p in self.transcripts()]  # type: ignore[union-attr]
        return self.path(f"transcripts/{max(existing, default=0) + 1:03d}-{kind}")

    def new_transcript(self, kind: str) -> Path:
        folder = self.next_transcript(kind)
        folder.mkdir(parents=True)
        return folder

    def recorded_outputs(self) -> set[str]:
        """Every bundle path a recorded event of any ceremony names as an output."""
        from ceremony.audit.eventlog import read_events

        out: set[str] = set()
        for folder in self.transcripts():
            log = folder / "events.jsonl"
            if log.is_file():
                for e in read_events(log):
                    out.update(str(o["path"]) for o in e["payload"].get("outputs", []))
        return out

    def leftovers(self) -> list[str]:
        """Temporary files of writes that never finished (``.NAME.PID.partial``), outside
        ``rehearsal/``: only a process that died leaves one, so under the lock they are
        safe to remove."""
        from ceremony.media.atomic import PARTIAL_RE

        out = []
        for p in sorted(self.root.rglob(".*.partial")):
            rel = p.relative_to(self.root).as_posix()
            if rel.split("/")[0] != REHEARSAL and PARTIAL_RE.match(p.name) and p.is_file():
                out.append(rel)
        return out

    def empty_transcripts(self) -> list[Path]:
        """Transcript folders a ceremony made but never wrote an event into."""
        out = []
        for folder in self.transcripts():
            entries = list(folder.iterdir())
            log = folder / "events.jsonl"
            if not entries or (entries == [log] and log.is_file() and log.stat().st_size == 0):
                out.append(folder)
        return out

    def closing_complete(self, folder: Path) -> bool:
        """Whether the closed ceremony of ``folder`` has every closing document: its signed
        transcript, then the CPS appendix and manifest written after it."""
        return (folder / "transcript.pdf").is_file() and self.manifest_current()

    def manifest_entries(self) -> list[tuple[str, str]]:
        """(sha256, relative path) of every file but the manifest and rehearsal/."""
        out = []
        for p in sorted(self.root.rglob("*")):
            rel = p.relative_to(self.root).as_posix()
            if not p.is_file() or rel == MANIFEST or rel.split("/")[0] == REHEARSAL:
                continue
            if p.name.startswith(".") and p.name.endswith(".partial"):
                continue
            out.append((sha256_file(p), rel))
        return out

    def manifest_current(self) -> bool:
        """True when ``SHA256SUMS`` lists exactly the bundle's files as they are now."""
        if not self.exists(MANIFEST):
            return False
        text = "".join(f"{h}  {rel}\n" for h, rel in self.manifest_entries())
        return self.read(MANIFEST).decode(errors="replace") == text

    def latest_transcript(self, kind: str) -> Path | None:
        found = [f for f in self.transcripts() if f.name.endswith(f"-{kind}")]
        return found[-1] if found else None

    def write_manifest(self) -> WrittenFile:
        text = "".join(f"{h}  {rel}\n" for h, rel in self.manifest_entries())
        return self.replace(MANIFEST, text.encode())
