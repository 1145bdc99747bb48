"""The bundle's files as ``verify`` may touch them: inside the folder, regular, bounded.

One walk with ``lstat`` lists every entry without following anything. A
symbolic link, FIFO, device or socket is never opened: it is reported. A file
is read only if the walk found it regular, through directory handles opened
one component at a time with ``O_NOFOLLOW`` (so a link swapped in later is not
followed either), and never beyond the size cap its caller names. A path taken
from the bundle's own text (the manifest, an event) is used only if it is
relative, normalised and inside the bundle.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ceremony.boundedread import read_at_most

KIB = 1024
MIB = 1024 * KIB

MAX_DEPTH = 16
MAX_ENTRIES = 100_000
MAX_HASHED = 256 * MIB
"""No bundle file is larger: a 256 MiB file is not evidence this tool wrote."""

_SPECIAL = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnsafeFile(Exception):
    """A bundle file verify will not read; ``message`` says why in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def safe_relative(text: str) -> str | None:
    """``text`` if it is a relative, normalised path that stays inside; else None."""
    if not text or "\\" in text or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return None
    if text.startswith("/") or posixpath.normpath(text) != text:
        return None
    if any(part in ("", ".", "..") for part in text.split("/")):
        return None
    return text


@dataclass
class BundleFiles:
    """The entries of one bundle folder, walked once."""

    root: Path
    files: dict[str, int] = field(default_factory=dict)
    """Relative path -> size of every regular file."""
    folders: set[str] = field(default_factory=set)
    special: list[tuple[str, str]] = field(default_factory=list)
    """(relative path, what it is) of every entry that is neither file nor folder."""
    truncated: str = ""
    """Why the walk stopped early, if it did."""

    @classmethod
    def walk(cls, root: Path) -> BundleFiles:
        found = cls(Path(root))
        found._walk("", 0)
        return found

    def _walk(self, rel: str, depth: int) -> None:
        if self.truncated:
            return
        if depth > MAX_DEPTH:
            self.truncated = f"{rel}: folders nested deeper than {MAX_DEPTH} levels"
            return
        try:
            with os.scandir(self.root / rel if rel else self.root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as ex:
            self.truncated = f"{rel or '.'}: cannot be listed: {ex.strerror or ex}"
            return
        for entry in entries:
            if len(self.files) + len(self.folders) + len(self.special) >= MAX_ENTRIES:
                self.truncated = f"more than {MAX_ENTRIES} entries"
                return
            path = f"{rel}/{entry.name}" if rel else entry.name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as ex:
                self.special.append((path, f"not readable ({ex.strerror or ex})"))
                continue
            if stat.S_ISDIR(mode):
                self.folders.add(path)
                self._walk(path, depth + 1)
            elif stat.S_ISREG(mode):
                self.files[path] = entry.stat(follow_symlinks=False).st_size
            else:
                what = next((w for test, w in _SPECIAL if test(mode)), "not a regular file")
                self.special.append((path, what))

    def is_file(self, rel: str) -> bool:
        return rel in self.files

    def under(self, folder: str, suffix: str = "") -> list[str]:
        """Files directly inside ``folder`` whose name ends with ``suffix``, sorted."""
        prefix = folder.rstrip("/") + "/"
        return sorted(
            p
            for p in self.files
            if p.startswith(prefix) and "/" not in p[len(prefix) :] and p.endswith(suffix)
        )

    def read(self, rel: str, cap: int) -> bytes:
        """The bytes of ``rel``, at most ``cap`` of them.

        :raises UnsafeFile: missing, not a regular file, larger than ``cap``,
            or its path leaves the bundle.
        """
        if safe_relative(rel) is None:
            raise UnsafeFile(f"{rel!r}: not a path inside the bundle")
        if rel not in self.files:
            raise UnsafeFile(f"{rel}: missing")
        if self.files[rel] > cap:
            raise UnsafeFile(f"{rel}: {self.files[rel]} bytes, more than the {cap} allowed")
        fd = self._open(rel)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnsafeFile(f"{rel}: not a regular file")
            data = read_at_most(fd, cap)
        except OSError as ex:
            raise UnsafeFile(f"{rel}: cannot be read: {ex.strerror or ex}") from None
        finally:
            os.close(fd)
        if data is None:
            raise UnsafeFile(f"{rel}: grew beyond the {cap} bytes allowed while being read")
        return data

    def sha256(self, rel: str, cap: int = MAX_HASHED) -> str:
        """SHA-256 of ``rel`` read in bounded chunks; raises :class:`UnsafeFile` like read."""
        if safe_relative(rel) is None:
            raise UnsafeFile(f"{rel!r}: not a path inside the bundle")
        if rel not in self.files:
            raise UnsafeFile(f"{rel}: missing")
        if self.files[rel] > cap:
            raise UnsafeFile(f"{rel}: {self.files[rel]} bytes, more than the {cap} allowed")
        h = hashlib.sha256()
        fd = self._open(rel)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnsafeFile(f"{rel}: not a regular file")
            total = 0
            while chunk := os.read(fd, 1 * MIB):
                total += len(chunk)
                if total > cap:
                    raise UnsafeFile(f"{rel}: grew beyond the {cap} bytes allowed")
                h.update(chunk)
        except OSError as ex:
            raise UnsafeFile(f"{rel}: cannot be read: {ex.strerror or ex}") from None
        finally:
            os.close(fd)
        return h.hexdigest()

    def _open(self, rel: str) -> int:
        """A descriptor of ``rel`` opened without following any link on the way."""
        parts = rel.split("/")
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as ex:
            raise UnsafeFile(f"{self.root}: cannot be opened: {ex.strerror or ex}") from None
        try:
            for part in parts[:-1]:
                nxt = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = nxt
            leaf = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
        except OSError as ex:
            raise UnsafeFile(f"{rel}: cannot be opened: {ex.strerror or ex}") from None
        finally:
            os.close(fd)
        return leaf
