"""Load a PKCS#11 module, list and initialize tokens, open sessions.

SoftHSM2 is the embedded default: its configuration and token folder live
in a folder the tool owns (:class:`SoftHsmHome`), selected through the
``SOFTHSM2_CONF`` environment variable before the module initializes. Any
other module: ``--pkcs11-module PATH`` or ``CEREMONY_PKCS11_MODULE``.
Tokens are always chosen by label, never by slot number.

python-pkcs11 keeps one loaded module per process; switching SoftHSM2
homes re-initializes it, which closes every open session.
"""

from __future__ import annotations

import ctypes
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Mechanism

from ceremony import text
from ceremony.errors import HsmError, InputError
from ceremony.hsm import capabilities
from ceremony.hsm.capabilities import HEX_PINS, Capabilities, PinFormat, login_pin
from ceremony.hsm.errors import hsm_errors

SOFTHSM_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
MODULE_ENV = "CEREMONY_PKCS11_MODULE"
CKF_TOKEN_INITIALIZED = 0x400
CKR_PIN_INCORRECT = 0xA0
LABEL_MAX = text.TOKEN_LABEL_BYTES

# Mechanisms a root ceremony needs, by purpose; shown in preflight and the CPS appendix.
NEEDED_MECHANISMS: dict[str, tuple[Mechanism, ...]] = {
    "ecdsa": (Mechanism.EC_KEY_PAIR_GEN, Mechanism.ECDSA),
    "rsa": (Mechanism.RSA_PKCS_KEY_PAIR_GEN, Mechanism.SHA256_RSA_PKCS, Mechanism.RSA_PKCS_PSS),
    "eddsa": (Mechanism.EC_EDWARDS_KEY_PAIR_GEN, Mechanism.EDDSA),
    "backup": (Mechanism.AES_KEY_GEN, Mechanism.AES_KEY_WRAP_PAD, Mechanism.AES_ECB),
    "random": (),
}


def default_module_path() -> str:
    """The module named by ``CEREMONY_PKCS11_MODULE``, else the installed SoftHSM2."""
    env = os.environ.get(MODULE_ENV)
    if env:
        return env
    for candidate in SOFTHSM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    raise HsmError("SoftHSM2 not found: install the softhsm2 package or pass --pkcs11-module PATH")


@dataclass(frozen=True)
class SoftHsmHome:
    """A SoftHSM2 configuration and token folder owned by the tool."""

    root: Path

    @property
    def conf_path(self) -> Path:
        return self.root / "softhsm2.conf"

    @property
    def tokens_dir(self) -> Path:
        return self.root / "tokens"

    def ensure(self) -> None:
        """Create the folder and its config; a config left by a moved or copied folder
        (its token folder elsewhere) is rewritten to point here."""
        self.tokens_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.tokens_dir, 0o700)
        text = (
            f"directories.tokendir = {self.tokens_dir.resolve()}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
        if not self.conf_path.exists() or self.conf_path.read_text() != text:
            self.conf_path.write_text(text)

    def activate(self) -> None:
        self.ensure()
        os.environ["SOFTHSM2_CONF"] = str(self.conf_path.resolve())


@dataclass(frozen=True)
class TokenInfo:
    """What an auditor needs to know of a token."""

    label: str
    manufacturer: str
    model: str
    serial: str
    hardware_version: str
    firmware_version: str
    module_description: str
    mechanisms: tuple[str, ...]
    missing_mechanisms: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serial": self.serial,
            "hardware_version": self.hardware_version,
            "firmware_version": self.firmware_version,
            "module": self.module_description,
            "mechanisms": list(self.mechanisms),
            "missing_mechanisms": list(self.missing_mechanisms),
        }


@dataclass(frozen=True)
class TokenPins:
    """PIN secrets of a freshly initialized token (16 bytes each, from the HSM RNG).

    The PIN text is shaped by the token's PIN length bounds (:class:`PinFormat`): the hex
    of the secret where the token takes 32 characters, else as many letters and digits as
    it takes.
    """

    so_secret: bytes
    user_secret: bytes
    pin_format: PinFormat = HEX_PINS
    on_pin_pad: bool = False
    """The token logs in on its own PIN pad or PED: no PIN secret exists on this host."""

    @classmethod
    def pin_pad(cls) -> TokenPins:
        """The PINs of a token with a protected authentication path: none on this host."""
        return cls(b"", b"", on_pin_pad=True)

    @property
    def so_pin(self) -> str:
        return "" if self.on_pin_pad else self.pin_format.text(self.so_secret)

    @property
    def user_pin(self) -> str:
        return "" if self.on_pin_pad else self.pin_format.text(self.user_secret)

    def __repr__(self) -> str:
        return "TokenPins(<secret>)"


def pin_text(secret: bytes) -> str:
    """The PIN of ``secret`` on a token that takes 32-character PINs."""
    return HEX_PINS.text(secret)


def field_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip()
    if isinstance(value, tuple):
        return ".".join(str(v) for v in value)
    return str(value).strip()


_loaded: dict[str, Any] = {}


class Hsm:
    """One PKCS#11 module, loaded once per process."""

    def __init__(self, module_path: str | None = None, softhsm_home: Path | None = None) -> None:
        self.module_path = module_path or default_module_path()
        if softhsm_home is not None:
            self.softhsm_home: SoftHsmHome | None = SoftHsmHome(Path(softhsm_home))
            self.softhsm_home.activate()
        else:
            self.softhsm_home = None
        if not Path(self.module_path).exists():
            raise InputError(f"{self.module_path}: PKCS#11 module not found")
        self._lib = self._load()

    def _load(self) -> Any:
        previous = _loaded.get("path")
        if previous is not None and previous != self.module_path:
            raise HsmError(
                f"{self.module_path}: another PKCS#11 module ({previous}) is loaded in this process"
            )
        with hsm_errors(f"loading {self.module_path}"):
            try:
                lib = pkcs11.lib(self.module_path)
            except RuntimeError as ex:
                raise HsmError(f"{self.module_path}: cannot load PKCS#11 module: {ex}") from ex
            if previous is not None:
                lib.reinitialize()
        _loaded["path"] = self.module_path
        return lib

    @contextmanager
    def softhsm_home_switched(self, home: Path) -> Iterator[None]:
        """Work on the SoftHSM2 home ``home`` inside the block, then on this one's again
        (each switch re-initializes the module, which closes every open session)."""
        original = self.softhsm_home
        if original is None:
            raise HsmError(f"{self.module_path}: not the embedded SoftHSM2; no home to switch")
        SoftHsmHome(home).activate()
        self.reload()
        try:
            yield
        finally:
            original.activate()
            self.reload()

    def reload(self) -> None:
        """Re-read slots and tokens (closes every open session)."""
        with hsm_errors("re-reading slots"):
            self._lib.reinitialize()

    @property
    def description(self) -> str:
        return (
            f"{field_text(self._lib.manufacturer_id)} {field_text(self._lib.library_description)}"
        )

    def _tokens(self) -> list[Any]:
        with hsm_errors("listing tokens"):
            return [s.get_token() for s in self._lib.get_slots(token_present=True)]

    def token(self, label: str) -> Any:
        """The initialized token labelled ``label`` (compared as the token stores labels);
        exactly one must exist."""
        found = [
            t
            for t in self._tokens()
            if t.flags & CKF_TOKEN_INITIALIZED and text.same_label(t.label, label)
        ]
        if not found:
            raise HsmError(f"token {label!r}: token absent (no token with that label)")
        if len(found) > 1:
            raise HsmError(f"token {label!r}: more than one token carries that label")
        return found[0]

    def has_token(self, label: str) -> bool:
        """Whether an initialized token carries ``label`` as the token stores it (32 bytes,
        space-padded: ``"root-ca "`` and ``"root-ca"`` are one label)."""
        return any(text.same_label(other, label) for other in self.labels())

    def has_free_slot(self) -> bool:
        """Whether a token present is not initialized yet (one :meth:`init_token` can take)."""
        with hsm_errors("listing tokens"):
            return any(not t.flags & CKF_TOKEN_INITIALIZED for t in self._tokens())

    def labels(self) -> list[str]:
        return [
            field_text(t.label)
            for t in self._tokens()
            if t.flags & CKF_TOKEN_INITIALIZED and t.label
        ]

    def info(self, label: str) -> TokenInfo:
        token = self.token(label)
        with hsm_errors(f"token {label!r}"):
            present = set(token.slot.get_mechanisms())
        needed = [m for group in NEEDED_MECHANISMS.values() for m in group]
        return TokenInfo(
            label=label,
            manufacturer=field_text(token.manufacturer_id),
            model=field_text(token.model),
            serial=field_text(token.serial),
            hardware_version=field_text(token.hardware_version),
            firmware_version=field_text(token.firmware_version),
            module_description=self.description,
            mechanisms=tuple(m.name for m in needed if m in present),
            missing_mechanisms=tuple(m.name for m in needed if m not in present),
        )

    def describe(self, label: str) -> str:
        """How messages name a token: label, model and serial."""
        token = self.token(label)
        return (
            f"token {label!r} ({field_text(token.manufacturer_id)} {field_text(token.model)},"
            f" serial {field_text(token.serial)})"
        )

    def capabilities(self, label: str) -> Capabilities:
        """What token ``label`` offers, read from it (see :mod:`ceremony.hsm.capabilities`)."""
        return capabilities.of_token(self.module_path, self.token(label), self.describe(label))

    def pin_format(self, label: str) -> PinFormat:
        return self.capabilities(label).pins

    def has_mechanism(self, label: str, mechanism: Mechanism) -> bool:
        with hsm_errors(f"token {label!r}"):
            return mechanism in set(self.token(label).slot.get_mechanisms())

    def tokens_present(self) -> list[tuple[Any, bool]]:
        """Every token present, with whether it is initialized."""
        return [(t, bool(t.flags & CKF_TOKEN_INITIALIZED)) for t in self._tokens()]

    def free_tokens(self) -> list[Any]:
        """Tokens present and not initialized (a new HSM, a free SoftHSM2 slot)."""
        with hsm_errors("finding a free token slot"):
            return [
                s.get_token()
                for s in self._lib.get_slots(token_present=True)
                if not s.get_token().flags & CKF_TOKEN_INITIALIZED
            ]

    def init_token(self, label: str, factory_so_pin: str | None = None) -> TokenPins:
        """Initialize a free token as ``label`` with SO and user PINs from the HSM RNG.

        ``C_InitToken`` has no python-pkcs11 wrapper: it is called through ctypes
        on the already-loaded module. It needs an SO PIN before a session (and so
        the HSM RNG) exists: the SO PIN the token came with (``factory_so_pin``, as
        a new HSM arrives from its vendor), else a one-time host-random PIN; either
        is replaced at once by one drawn from the token. PINs are shaped by the
        token's PIN length bounds.
        """
        text.check_token_label(label)
        if self.has_token(label):
            raise InputError(f"token label {label!r}: a token with that label exists already")
        free = self.free_tokens()
        if not free:
            raise HsmError(f"token {label!r}: no uninitialized token is available")
        slot_id = free[0].slot.slot_id
        if free[0].flags & capabilities.CKF_PROTECTED_AUTHENTICATION_PATH:
            return self._init_on_pin_pad(slot_id, label)
        fmt = capabilities.of_token(self.module_path, free[0], f"free token in slot {slot_id}").pins
        transient = factory_so_pin or fmt.text(secrets.token_bytes(16))
        c = ctypes.CDLL(self.module_path)
        c.C_InitToken.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        c.C_InitToken.restype = ctypes.c_ulong
        so = transient.encode()
        rv = c.C_InitToken(slot_id, so, len(so), text.stored_label(label))
        if rv == CKR_PIN_INCORRECT and factory_so_pin is not None:
            raise InputError(f"token {label!r}: the token refuses the SO PIN it was given")
        if rv != 0:
            raise HsmError(f"token {label!r}: C_InitToken failed with CKR 0x{rv:08x}")
        with hsm_errors("re-reading slots after token initialization"):
            self._lib.reinitialize()
        token = self.token(label)
        with hsm_errors(f"token {label!r}: setting PINs"):
            with token.open(rw=True, so_pin=transient) as session:
                pins = TokenPins(
                    so_secret=bytes(session.generate_random(128)),
                    user_secret=bytes(session.generate_random(128)),
                    pin_format=fmt,
                )
                session.set_pin(transient, pins.so_pin)
                session.init_pin(pins.user_pin)
        return pins

    def _init_on_pin_pad(self, slot_id: int, label: str) -> TokenPins:
        """Initialize a token whose PINs are entered on its own PIN pad or PED: C_InitToken
        and C_InitPIN get no PIN from this host (PKCS#11 2.40 5.6: a NULL PIN), the pad
        asks the security officer for both."""
        c = ctypes.CDLL(self.module_path)
        c.C_InitToken.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        c.C_InitToken.restype = ctypes.c_ulong
        c.C_InitPIN.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong]
        c.C_InitPIN.restype = ctypes.c_ulong
        rv = c.C_InitToken(slot_id, None, 0, text.stored_label(label))
        if rv != 0:
            raise HsmError(
                f"token {label!r}: C_InitToken on the PIN pad failed with CKR 0x{rv:08x}"
            )
        with hsm_errors("re-reading slots after token initialization"):
            self._lib.reinitialize()
        with self.so_session(label, "") as session:
            rv = c.C_InitPIN(session.handle, None, 0)
        if rv != 0:
            raise HsmError(f"token {label!r}: C_InitPIN on the PIN pad failed with CKR 0x{rv:08x}")
        return TokenPins.pin_pad()

    @contextmanager
    def session(self, label: str, user_pin: str) -> Iterator[Any]:
        """A read-write user session on token ``label``."""
        with self._open(label, "login", user_pin=user_pin) as session:
            yield session

    @contextmanager
    def so_session(self, label: str, so_pin: str) -> Iterator[Any]:
        """A read-write security-officer session on token ``label``."""
        with self._open(label, "SO login", so_pin=so_pin) as session:
            yield session

    @contextmanager
    def _open(self, label: str, what: str, **pin: str) -> Iterator[Any]:
        token = self.token(label)
        with hsm_errors(f"token {label!r}: {what}"):
            session = token.open(rw=True, **{k: login_pin(token, v) for k, v in pin.items()})
        try:
            yield session
        finally:
            try:
                session.close()
            except pkcs11.exceptions.PKCS11Error:
                pass
