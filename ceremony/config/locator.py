"""The locator file: where the HSM is, kept apart from the reviewed ceremony file.

::

    rehearsal = false                          # true: SoftHSM2 token inside the bundle
    [hsm]
    module = "/usr/lib/softhsm/libsofthsm2.so" # default: SoftHSM2 or CEREMONY_PKCS11_MODULE
    softhsm_home = "/var/lib/ceremony/softhsm" # SoftHSM2 only: its config and token folder

It holds no secret: PINs exist only as activation shares held by custodians.
"""

from __future__ import annotations

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


def load(path: Path | None) -> Locator:
    if path is None:
        return Locator(softhsm_home=DEFAULT_SOFTHSM_HOME)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: locator file not found") from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise InputError(f"{path}: not a locator file") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as ex:
        raise ConfigError(f"{path}: not valid TOML: {ex}") from None
    top = Table(str(path), "", doc)
    rehearsal = top.get("rehearsal", bool, False)
    hsm = top.table("hsm", required=False)
    module = hsm.optional("module", str)
    home = hsm.optional("softhsm_home", str)
    hsm.done()
    top.done()
    if module is not None and not Path(module).exists():
        raise InputError(f"{path}: hsm.module {module!r} not found")
    return Locator(rehearsal, module, Path(home) if home else None)
