"""Never-overwrite, all-or-nothing file output.

A temporary file is named ``.NAME.PID.partial`` (:data:`PARTIAL_RE`); one left by a
process that died is found and removed by :meth:`ceremony.bundle.Bundle.leftovers`.

A file is written to a temporary name in the same folder, fsynced, linked to
its final name (which fails if that name exists: O_EXCL semantics), the
folder is fsynced, and the result is read back and compared. Any failure
leaves no file under the final name and no temporary file behind.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ceremony.errors import InputError, MediaError
from ceremony.faults import inject_fault

PARTIAL_RE = re.compile(r"^\..+\.\d+\.partial$")


@dataclass(frozen=True)
class WrittenFile:
    """A file this process wrote and read back."""

    path: Path
    sha256: str
    size: int


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def partial_name(path: Path) -> Path:
    """The temporary name ``path`` is written under before it gets its own."""
    return path.parent / f".{path.name}.{os.getpid()}.partial"


def write_new(path: Path, data: bytes, mode: int = 0o644) -> WrittenFile:
    """Write ``data`` to ``path``, which must not exist yet.

    :raises InputError: the path exists already (nothing is overwritten).
    :raises MediaError: the file system failed (full, read-only, removed).
    """
    path = Path(path)
    if path.exists():
        raise InputError(f"{path}: already exists; outputs are never overwritten")
    folder = path.parent
    tmp = partial_name(path)
    try:
        folder.mkdir(exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        inject_fault(f"write:{path.name}", "partial")
        os.link(tmp, path)
        os.unlink(tmp)
        _fsync_dir(folder)
        back = path.read_bytes()
    except FileExistsError as ex:
        _discard(tmp)
        raise InputError(f"{path}: already exists; outputs are never overwritten") from ex
    except OSError as ex:
        _discard(tmp)
        if path.exists() and not _same(path, data):
            _discard(path)
        raise MediaError(f"{path}: write failed: {_reason(ex)}") from ex
    if back != data:
        _discard(path)
        raise MediaError(f"{path}: read-back after write differs from what was written")
    return WrittenFile(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def append_line(path: Path, line: bytes) -> None:
    """Append one line to ``path`` and fsync it before returning."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as ex:
        raise MediaError(f"{path}: append failed: {_reason(ex)}") from ex


def _same(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _reason(ex: OSError) -> str:
    if ex.errno == errno.ENOSPC:
        return "no space left on the device"
    if ex.errno == errno.EROFS:
        return "the media is read-only"
    if ex.errno in (errno.ENOENT, errno.EIO, errno.ENODEV, errno.ENXIO):
        return "the media was removed or failed"
    if ex.errno == errno.EACCES:
        return "permission denied"
    return ex.strerror or str(ex)


def replace_file(path: Path, data: bytes, mode: int = 0o644) -> WrittenFile:
    """Atomically replace ``path`` (temp + fsync + rename + read-back).

    Only for the few files a bundle regenerates: ``SHA256SUMS``, the newest
    CRL copy and the CPS appendix. Everything else goes through :func:`write_new`.
    """
    path = Path(path)
    tmp = partial_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        inject_fault(f"write:{path.name}", "partial")
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        back = path.read_bytes()
    except OSError as ex:
        _discard(tmp)
        raise MediaError(f"{path}: write failed: {_reason(ex)}") from ex
    if back != data:
        raise MediaError(f"{path}: read-back after write differs from what was written")
    return WrittenFile(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
