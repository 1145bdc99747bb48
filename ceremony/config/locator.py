"""The locator file: where the HSM is, kept apart from the reviewed ceremony file.

::

    rehearsal = false                          # true: SoftHSM2 token inside the bundle
    [hsm]
    module = "/usr/lib/softhsm/libsofthsm2.so" # default: SoftHSM2 or CEREMONY_PKCS11_MODULE
    softhsm_home = "/var/lib/ceremony/softhsm" # SoftHSM2 only: its config and token folder

It holds no secret: PINs exist only as activation shares held by custodians.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ceremony.config.strict import Table
from ceremony.errors import ConfigError, InputError

DEFAULT_SOFTHSM_HOME = Path.home() / ".local/share/ceremony/softhsm"


@dataclass(frozen=True)
class Locator:
    rehearsal: bool = False
    module: str | None = None
    softhsm_home: Path | None = None


MAX_FILE_BYTES = 64 * 1024


def load(path: Path | None) -> Locator:
    """The locator in ``path`` (the default SoftHSM2 when None), its module and folder checked.

    :raises InputError: the file, its module or its SoftHSM2 folder cannot be used.
    """
    if path is None:
        return Locator(softhsm_home=DEFAULT_SOFTHSM_HOME)
    from ceremony.media.inputs import read_text_input

    content = read_text_input(path, "locator file", MAX_FILE_BYTES)
    try:
        doc = tomllib.loads(content)
    except tomllib.TOMLDecodeError as ex:
        raise ConfigError(f"{path}: not valid TOML: {ex}") from None
    top = Table(str(path), "", doc)
    rehearsal = top.get("rehearsal", bool, False)
    hsm = top.table("hsm", required=False)
    module = hsm.optional("module", str)
    home = hsm.optional("softhsm_home", str)
    hsm.done()
    top.done()
    if module is not None:
        check_module(Path(module), f"{path}: hsm.module")
    if home is not None:
        check_softhsm_home(Path(home), f"{path}: hsm.softhsm_home")
    return Locator(rehearsal, module, Path(home) if home else None)


def check_module(module: Path, what: str) -> None:
    """``module`` is a shared library that exports ``C_GetFunctionList``: a PKCS#11 module."""
    import ctypes
    import stat

    try:
        st = module.stat()
    except FileNotFoundError:
        raise InputError(f"{what} {str(module)!r}: PKCS#11 module not found") from None
    except OSError as ex:
        raise InputError(f"{what} {str(module)!r}: {ex.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {str(module)!r}: not a regular file")
    with module.open("rb") as f:
        magic = f.read(4)
    if magic != b"\x7fELF":
        raise InputError(f"{what} {str(module)!r}: not a PKCS#11 module (not a shared library)")
    try:
        lib = ctypes.CDLL(str(module))
    except OSError as ex:
        reason = str(ex).split(": ")[-1]
        raise InputError(
            f"{what} {str(module)!r}: not a PKCS#11 module (it cannot be loaded: {reason})"
        ) from None
    if not hasattr(lib, "C_GetFunctionList"):
        raise InputError(
            f"{what} {str(module)!r}: not a PKCS#11 module (it exports no C_GetFunctionList)"
        )


def check_softhsm_home(home: Path, what: str) -> None:
    """A SoftHSM2 folder: an existing folder the tool may write, or a new one it can make."""
    if home.exists() and not home.is_dir():
        raise InputError(f"{what} {str(home)!r}: exists and is not a folder")
    probe = home
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{what} {str(home)!r}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{what} {str(home)!r}: {probe} is not writable by this user")
