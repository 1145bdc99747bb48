"""Files a person hands the ceremony: read whole, but only regular files and only so much.

A ceremony file, a locator, a CSR, a shares or passphrase file: each is
opened without blocking (a FIFO does not hang the ceremony), must be a regular
file (not a folder, device, FIFO or socket: ``/dev/zero`` is refused before a
byte is read), and is read with a bound, so no file grows the process's memory
past the limit given for its kind.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ceremony import text
from ceremony.boundedread import read_at_most
from ceremony.errors import InputError, MediaError

KIB = 1024


def read_input(path: Path, what: str, max_size: int) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_size`` bytes.

    :raises InputError: missing, not a regular file, unreadable, or too large; the message
        names the path and ``what`` it should have been.
    :raises MediaError: the read itself failed (media removed, I/O error).
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except NotADirectoryError:
        raise InputError(f"{path}: {what} not found (a part of the path is a file)") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a {what}") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as ex:
        if ex.errno in (errno.ENXIO, errno.ENODEV):
            raise InputError(f"{path}: not a regular file; not a {what}") from None
        raise MediaError(f"{path}: cannot be opened: {ex.strerror}") from ex
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{path}: is a folder, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(st.st_mode)
                else "a socket"
                if stat.S_ISSOCK(st.st_mode)
                else "a device"
            )
            raise InputError(f"{path}: {kind}, not a regular file; not a {what}")
        if st.st_size > max_size:
            raise InputError(
                f"{path}: {st.st_size} bytes, larger than a {what} can be ({max_size} bytes)"
            )
        os.set_blocking(fd, True)
        data = read_at_most(fd, max_size)
    except OSError as ex:
        raise MediaError(f"{path}: read failed: {ex.strerror}") from ex
    finally:
        os.close(fd)
    if data is None:
        raise InputError(f"{path}: grew beyond {max_size} bytes while being read; not a {what}")
    return data


def read_text_input(path: Path, what: str, max_size: int) -> str:
    """:func:`read_input` as UTF-8 text, without a leading byte-order mark."""
    data = read_input(path, what, max_size)
    try:
        return text.without_bom(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; not a {what}") from None
