"""Files in from and out to removable media.

Import: :func:`list_candidates` offers the CSRs found on a volume, recognised
by content (a PEM ``CERTIFICATE REQUEST`` block, or DER that parses as a
CSR), never by file name; each is hashed as it is read. Files over the size
limit are offered as refused, with the reason, without being read whole.
:func:`read_candidate` reads one again, re-checking its size and hash.

Export: :func:`export_files` writes a new folder on the media, all or
nothing. Each file goes through :func:`ceremony.media.atomic.write_new`
(temporary name, fsync, link without overwriting, read-back), then
``SHA256SUMS`` (``cd FOLDER && sha256sum -c SHA256SUMS`` passes), then every
file is read back once more from the device. If anything fails (media full,
removed, read-only, read-back mismatch), the files this export already wrote
are deleted together with the folder, and :class:`~ceremony.errors.MediaError`
(exit 3) says what happened. The folder is removed through a descriptor held
on the volume's root, so this also works when the volume was detached while
it stayed open. Only a device that fails outright (pulled while its
descriptor is open) can keep a partial folder; the message then says so.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography import x509

from ceremony.boundedread import read_at_most
from ceremony.errors import CeremonyError, InputError, MediaError
from ceremony.media.atomic import WrittenFile, write_new

MAX_CANDIDATE_SIZE = 1 << 20
"""Default size limit for an imported file."""
MANIFEST = "SHA256SUMS"

_MAX_DEPTH = 3
_MAX_ENTRIES = 10_000
_SNIFF_BYTES = 4096
_REQUEST_SUFFIXES = frozenset({".csr", ".req", ".p10"})
_CSR_SUFFIXES = _REQUEST_SUFFIXES | {".pem", ".der"}
_NOT_A_CSR = "not a CSR: neither a PEM CERTIFICATE REQUEST block nor a DER CSR"
_PEM_CSR = re.compile(rb"-----BEGIN (NEW )?CERTIFICATE REQUEST-----")
_BAD_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


@dataclass(frozen=True)
class Candidate:
    """A file on the media that looks like a CSR."""

    path: Path
    size: int
    encoding: str | None
    """``PEM`` or ``DER``; ``None`` when refused before reading."""
    sha256: str | None
    """SHA-256 (hex) of the bytes read; ``None`` when refused before reading."""
    refused: str | None = None
    """Why the file cannot be imported, or ``None``."""

    @property
    def accepted(self) -> bool:
        return self.refused is None


@dataclass(frozen=True)
class ExportResult:
    """A folder written to the media and verified."""

    folder: Path
    files: tuple[WrittenFile, ...]
    """The exported files in the order given."""
    manifest: WrittenFile
    """``SHA256SUMS`` listing every file of :attr:`files`."""


def list_candidates(volume_root: Path, max_size: int = MAX_CANDIDATE_SIZE) -> list[Candidate]:
    """Return the CSR candidates under ``volume_root`` (three folder levels deep), by path.

    Symbolic links are never followed; a link or an oversize file is listed as
    refused when its name or first bytes suggest a CSR, and skipped otherwise.
    A file named ``*.csr``, ``*.req`` or ``*.p10`` whose content is no CSR is
    listed as refused, so the operator sees why the expected file is not offered.

    :raises MediaError: the volume cannot be listed or read.
    """
    root = Path(volume_root)
    found = []
    for entry in _walk(root):
        path = Path(entry.path)
        looks_like_csr = path.suffix.lower() in _CSR_SUFFIXES
        if entry.is_symlink():
            if looks_like_csr:
                found.append(Candidate(path, 0, None, None, "a symbolic link; not followed"))
            continue
        try:
            size = entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue
        except OSError as ex:
            raise MediaError(f"{path}: cannot be read: {_why(ex)}") from ex
        if size == 0:
            continue
        if size > max_size:
            if looks_like_csr or _head_looks_like_csr(path):
                reason = f"{_size_text(size)}, larger than the {_size_text(max_size)} limit"
                found.append(Candidate(path, size, None, None, reason))
            continue
        try:
            data, digest = read_candidate(path, max_size)
        except InputError:
            continue
        encoding = csr_encoding(data)
        if encoding is not None:
            found.append(Candidate(path, len(data), encoding, digest))
        elif path.suffix.lower() in _REQUEST_SUFFIXES:
            found.append(Candidate(path, len(data), None, digest, _NOT_A_CSR))
    return sorted(found, key=lambda c: str(c.path))


def read_candidate(
    path: Path, max_size: int = MAX_CANDIDATE_SIZE, *, expected_sha256: str | None = None
) -> tuple[bytes, str]:
    """Read ``path`` (a regular file, not a link) and return ``(data, sha256 hex)``.

    The size is checked before reading and the read stops at ``max_size + 1``
    bytes. ``expected_sha256`` is the hash shown when the file was listed.

    :raises InputError: not a regular file, too large, gone, or changed since listed.
    :raises MediaError: the media failed during the read.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as ex:
        raise _read_error(path, ex) from ex
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: not a regular file")
        if st.st_size > max_size:
            raise InputError(
                f"{path}: {_size_text(st.st_size)}, larger than the {_size_text(max_size)} limit"
            )
        read = read_at_most(fd, max_size)
    except OSError as ex:
        raise _read_error(path, ex) from ex
    finally:
        os.close(fd)
    if read is None:
        raise InputError(f"{path}: grew beyond the {_size_text(max_size)} limit while being read")
    data = read
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise InputError(f"{path}: changed since it was listed (SHA-256 differs)")
    return data, digest


def csr_encoding(data: bytes) -> str | None:
    """Return ``PEM`` or ``DER`` if ``data`` looks like a CSR, else ``None``.

    This only decides what to offer; :func:`ceremony.x509.csr.parse_csr` judges the file.
    """
    if _PEM_CSR.search(data):
        return "PEM"
    if data[:1] == b"\x30":
        try:
            x509.load_der_x509_csr(data)
        except (ValueError, x509.InvalidVersion):
            return None
        return "DER"
    return None


def check_export(
    volume_root: Path, folder_name: str, needed: int, *, resuming: bool = False
) -> None:
    """Refuse, before anything is signed, an export that cannot succeed: the media missing,
    not a folder, read-only, without ``needed`` bytes free, or the folder there already
    (unless ``resuming``: the interrupted run may have left it, see :func:`resume_export`).

    :raises InputError: the folder is not usable for an export (exists, not a folder).
    :raises MediaError: the media is missing, read-only or full.
    """
    root = Path(volume_root)
    _check_component(folder_name, "folder name")
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{root}: media folder not found (is the stick mounted?)") from None
    except NotADirectoryError:
        raise InputError(f"{root}: not a folder; --media names the mounted stick") from None
    except OSError as ex:
        raise MediaError(f"{root}: the volume is not available: {_why(ex)}") from ex
    try:
        _check_space(root_fd, root, {}, needed)
        if not os.access(root, os.W_OK):
            raise MediaError(f"{root}: permission denied: this user cannot write to the media")
        try:
            os.stat(folder_name, dir_fd=root_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        except OSError as ex:
            raise MediaError(f"{root / folder_name}: cannot be checked: {_why(ex)}") from ex
        if not resuming:
            raise InputError(f"{root / folder_name}: already exists; exports never overwrite")
    finally:
        os.close(root_fd)


def export_files(volume_root: Path, folder_name: str, files: Mapping[str, bytes]) -> ExportResult:
    """Write ``files`` (relative name -> bytes) into the new folder ``volume_root/folder_name``.

    Adds ``SHA256SUMS`` and reads everything back. All or nothing: on failure
    nothing of this export is left on the media (see the module documentation).

    :raises InputError: a bad folder or file name, or the folder exists already.
    :raises MediaError: the media is missing, read-only, full, removed or fails.
    """
    root = Path(volume_root)
    _check_component(folder_name, "folder name")
    names = _check_names(files)
    dest = root / folder_name
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as ex:
        raise MediaError(f"{root}: the volume is not available: {_why(ex)}") from ex
    try:
        root_id = _ident(os.fstat(root_fd))
        _check_space(root_fd, root, files)
        try:
            os.mkdir(folder_name, mode=0o755, dir_fd=root_fd)
        except FileExistsError as ex:
            raise InputError(f"{dest}: already exists; exports never overwrite") from ex
        except OSError as ex:
            raise MediaError(f"{dest}: cannot create the folder: {_why(ex)}") from ex
        try:
            folder_id = _ident(os.stat(folder_name, dir_fd=root_fd, follow_symlinks=False))
        except OSError as ex:
            raise MediaError(f"{dest}: the new folder vanished: {_why(ex)}") from ex
        try:
            return _write_all(root, dest, root_id, folder_id, names, files, root_fd)
        except BaseException as ex:
            problem = _roll_back(root_fd, folder_name, dest, folder_id, names)
            if isinstance(ex, CeremonyError | OSError):
                raise _after_rollback(ex, dest, problem) from ex
            raise
    finally:
        os.close(root_fd)


def resume_export(
    volume_root: Path, folder_name: str, files: Mapping[str, bytes]
) -> tuple[ExportResult, bool]:
    """:func:`export_files` for an export step run again after an interruption, and whether
    the folder was kept: a folder of that name that holds exactly ``files`` and their
    ``SHA256SUMS`` (read back from the device) is kept; one the interruption cut short is
    removed (only what this export writes, and temporary files) and written anew.

    :raises InputError: the folder holds files this export does not write.
    """
    from ceremony.media.atomic import PARTIAL_RE

    root = Path(volume_root)
    dest = root / folder_name
    if dest.is_symlink() or not dest.is_dir():
        return export_files(root, folder_name, files), False
    names = _check_names(files)
    digests = {n: hashlib.sha256(files[n]).hexdigest() for n in names}
    manifest = "".join(sorted(f"{digests[n]}  {n}\n" for n in names)).encode()
    expected = {**digests, MANIFEST: hashlib.sha256(manifest).hexdigest()}
    try:
        _verify(dest, os.stat(root).st_dev, expected)
        kept = tuple(WrittenFile(dest / n, digests[n], len(files[n])) for n in names)
        listed = WrittenFile(dest / MANIFEST, expected[MANIFEST], len(manifest))
        return ExportResult(dest, kept, listed), True
    except (MediaError, OSError):
        pass
    ours = set(expected)
    for p in sorted(dest.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        rel = str(PurePosixPath(p.relative_to(dest)))
        if p.is_dir() and not p.is_symlink():
            continue
        if rel not in ours and not PARTIAL_RE.match(p.name):
            raise InputError(f"{dest}: holds {rel}, which this export does not write; move it away")
    for p in sorted(dest.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        try:
            p.rmdir() if p.is_dir() and not p.is_symlink() else p.unlink()
        except OSError as ex:
            raise MediaError(f"{p}: cannot be removed: {_why(ex)}") from ex
    try:
        dest.rmdir()
    except OSError as ex:
        raise MediaError(f"{dest}: cannot be removed: {_why(ex)}") from ex
    return export_files(root, folder_name, files), False


def _write_all(
    root: Path,
    dest: Path,
    root_id: tuple[int, int],
    folder_id: tuple[int, int],
    names: list[str],
    files: Mapping[str, bytes],
    root_fd: int,
) -> ExportResult:
    written = []
    for name in names:
        _still_mounted(root, dest, root_id, folder_id)
        written.append(write_new(dest / name, files[name]))
    lines = sorted(f"{w.sha256}  {name}\n" for name, w in zip(names, written, strict=True))
    _still_mounted(root, dest, root_id, folder_id)
    manifest = write_new(dest / MANIFEST, "".join(lines).encode())
    expected = {name: w.sha256 for name, w in zip(names, written, strict=True)}
    expected[MANIFEST] = manifest.sha256
    _verify(dest, root_id[0], expected)
    os.fsync(root_fd)
    return ExportResult(folder=dest, files=tuple(written), manifest=manifest)


def _verify(dest: Path, device: int, expected: dict[str, str]) -> None:
    present = {str(PurePosixPath(p.relative_to(dest))) for p in dest.rglob("*") if not p.is_dir()}
    extra = present - set(expected)
    if extra:
        raise MediaError(f"{dest}: unexpected file {sorted(extra)[0]} in the export folder")
    for name, digest in expected.items():
        path = dest / name
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if os.fstat(fd).st_dev != device:
                raise MediaError(f"{path}: the media was removed during the export")
            # Drop the cached pages so the read below comes from the device.
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            h = hashlib.sha256()
            while chunk := os.read(fd, 1 << 20):
                h.update(chunk)
        finally:
            os.close(fd)
        if h.hexdigest() != digest:
            raise MediaError(f"{path}: reading back from the media gives different bytes")


def _still_mounted(
    root: Path, dest: Path, root_id: tuple[int, int], folder_id: tuple[int, int]
) -> None:
    try:
        same = _ident(os.stat(root)) == root_id and _ident(os.lstat(dest)) == folder_id
    except OSError:
        same = False
    if not same:
        raise MediaError(f"{root}: the media was removed during the export")


def _roll_back(
    root_fd: int, folder_name: str, dest: Path, folder_id: tuple[int, int], names: list[str]
) -> str | None:
    """Delete the export folder; return what could not be removed, or ``None``."""
    try:
        shutil.rmtree(folder_name, dir_fd=root_fd)
    except FileNotFoundError:
        pass
    except OSError as ex:
        return f"the partial folder could not be removed ({_why(ex)})"
    try:
        st = os.lstat(dest)
    except OSError:
        return None
    if _ident(st) == folder_id or not stat.S_ISDIR(st.st_mode):
        return None
    # The media went away and a write re-created the folder on the file
    # system underneath the mount point: remove what this export put there.
    for name in [*names, MANIFEST]:
        try:
            (dest / name).unlink()
        except OSError:
            pass
    folders = {str(p) for n in names for p in PurePosixPath(n).parents if str(p) != "."}
    for name in sorted(folders, key=len, reverse=True):
        try:
            (dest / name).rmdir()
        except OSError:
            pass
    try:
        dest.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        return f"{dest} was re-created under the mount point and is not empty"
    return None


def _after_rollback(ex: CeremonyError | OSError, dest: Path, problem: str | None) -> CeremonyError:
    if isinstance(ex, CeremonyError):
        message = ex.message
        cls: type[CeremonyError] = type(ex)
    else:
        message = f"{dest}: {_why(ex)}"
        cls = MediaError
    if problem is None:
        return cls(f"{message}; the export was rolled back, nothing of it is left on the media")
    return cls(f"{message}; {problem}: delete {dest} before using the media again")


def _check_space(root_fd: int, root: Path, files: Mapping[str, bytes], extra: int = 0) -> None:
    try:
        st = os.fstatvfs(root_fd)
    except OSError as ex:
        raise MediaError(f"{root}: the volume is not available: {_why(ex)}") from ex
    if st.f_flag & os.ST_RDONLY:
        raise MediaError(f"{root}: the media is read-only")
    # A lower bound: file-system overhead can still make a write run out of space.
    needed = sum(len(data) for data in files.values()) + extra
    free = st.f_bavail * st.f_frsize
    if needed > free:
        raise MediaError(
            f"{root}: not enough space on the media: {_size_text(needed)} needed, "
            f"{_size_text(free)} free"
        )


def _check_names(files: Mapping[str, bytes]) -> list[str]:
    if not files:
        raise InputError("export: no files to write")
    names = list(files)
    seen: dict[str, str] = {}
    for name in names:
        if not isinstance(files[name], bytes | bytearray | memoryview):
            raise TypeError(f"export: {name!r}: content must be bytes")
        parts = name.split("/")
        for part in parts:
            _check_component(part, f"file name {name!r}")
        if name == MANIFEST:
            raise InputError(f"export: {MANIFEST} is written by the export itself")
        # FAT file systems, as on most USB sticks, ignore case.
        key = name.casefold()
        if key in seen:
            raise InputError(f"export: {name!r} and {seen[key]!r} collide on FAT media")
        seen[key] = name
    for name in names:
        for parent in PurePosixPath(name).parents:
            if str(parent).casefold() in seen:
                raise InputError(f"export: {name!r} needs {str(parent)!r} to be a folder")
    return names


def _check_component(part: str, what: str) -> None:
    if (
        not part
        or part in (".", "..")
        or part != part.strip()
        or part.endswith(".")
        or _BAD_NAME_CHARS.search(part)
        or len(part.encode("utf-8", "surrogateescape")) > 255
    ):
        raise InputError(f"export: {what}: {part!r} is not a portable file name")


def _walk(root: Path) -> Iterator[os.DirEntry[str]]:
    pending = [(root, 0)]
    seen = 0
    while pending:
        folder, depth = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as ex:
            if folder == root:
                raise MediaError(f"{root}: cannot list the volume: {_why(ex)}") from ex
            continue
        for entry in entries:
            seen += 1
            if seen > _MAX_ENTRIES:
                return
            if entry.is_dir(follow_symlinks=False):
                if depth + 1 < _MAX_DEPTH:
                    pending.append((Path(entry.path), depth + 1))
            elif entry.is_file(follow_symlinks=False) or entry.is_symlink():
                yield entry


def _head_looks_like_csr(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        head = os.read(fd, _SNIFF_BYTES)
    except OSError:
        return False
    finally:
        os.close(fd)
    return bool(_PEM_CSR.search(head))


def _read_error(path: Path, ex: OSError) -> CeremonyError:
    if ex.errno == errno.ELOOP:
        return InputError(f"{path}: a symbolic link; not followed")
    if ex.errno in (errno.ENOENT, errno.ENOTDIR):
        return InputError(f"{path}: no such file")
    if ex.errno in (errno.EISDIR, errno.ENXIO):
        return InputError(f"{path}: not a regular file")
    if ex.errno == errno.EACCES:
        return InputError(f"{path}: permission denied")
    return MediaError(f"{path}: read failed: {_why(ex)}")


def _why(ex: OSError) -> str:
    if ex.errno == errno.ENOSPC:
        return "no space left on the device"
    if ex.errno == errno.EROFS:
        return "the media is read-only"
    if ex.errno in (errno.ENOENT, errno.EIO, errno.ENODEV, errno.ENXIO, errno.ESTALE):
        return "the media was removed or failed"
    if ex.errno == errno.EACCES:
        return "permission denied"
    return ex.strerror or str(ex)


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _size_text(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
