"""What a token can do, read from the token: the one place that decides.

Tokens differ exactly where a ceremony leans on them: PIN length, key
generation and signing mechanisms, key-wrap mechanisms, login through a PIN
pad. :func:`read` reads them from the token (``C_GetTokenInfo``,
``C_GetMechanismList``, ``C_GetMechanismInfo``) into :class:`Capabilities`;
the flow asks it which PIN shape to generate, which key types to offer, which
wrap mechanism to use and how to sign, and it names the token and the missing
mechanism when something cannot be done, before any key exists. Nothing
else in the product branches on a module's name.
"""

from __future__ import annotations

import ctypes
import enum
import math
from dataclasses import dataclass
from typing import Any

import pkcs11
from pkcs11 import Mechanism

from ceremony.errors import HsmError, InputError
from ceremony.hsm.errors import hsm_errors
from ceremony.hsm.keys import KeyAlgorithm

CKF_PROTECTED_AUTHENTICATION_PATH = 0x100
CKF_TOKEN_INITIALIZED = 0x400

HEX_PIN_BYTES = 16
"""A token PIN's secret: 16 bytes from the HSM RNG (128 bits)."""
PIN_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
"""PIN characters where a token's maximum length is too short for the 32 hex digits of a
128-bit secret: letters and digits without the look-alikes 0/O, 1/I/l."""


@dataclass(frozen=True)
class PinFormat:
    """How a PIN secret becomes the PIN text the token receives."""

    length: int
    alphabet: str

    @property
    def entropy_bits(self) -> int:
        """Bits of the HSM-RNG secret the PIN text carries."""
        return min(HEX_PIN_BYTES * 8, math.floor(self.length * math.log2(len(self.alphabet))))

    @property
    def name(self) -> str:
        if self.alphabet == "0123456789abcdef":
            return f"{self.length} hexadecimal digits"
        return f"{self.length} characters of {len(self.alphabet)} (letters and digits)"

    def text(self, secret: bytes) -> str:
        """The PIN for ``secret`` (deterministic: the same shares rebuild the same PIN)."""
        if self.alphabet == "0123456789abcdef" and self.length == 2 * len(secret):
            return secret.hex()
        n = int.from_bytes(secret, "big")
        out = []
        for _ in range(self.length):
            n, r = divmod(n, len(self.alphabet))
            out.append(self.alphabet[r])
        return "".join(out)

    def as_dict(self) -> dict[str, Any]:
        return {"length": self.length, "format": self.name, "entropy_bits": self.entropy_bits}


HEX_PINS = PinFormat(2 * HEX_PIN_BYTES, "0123456789abcdef")


def pin_format(min_len: int, max_len: int, what: str = "token") -> PinFormat:
    """The PIN shape for a token accepting PINs of ``min_len`` to ``max_len`` characters.

    :raises HsmError: the bounds leave no PIN of at least 6 characters.
    """
    if max_len >= HEX_PINS.length and min_len <= HEX_PINS.length:
        return HEX_PINS
    best = PinFormat(min(max_len, 22), PIN_ALPHABET)
    if best.length < max(min_len, 6):
        raise HsmError(
            f"{what}: accepts PINs of {min_len} to {max_len} characters; no PIN of at least 6"
            " characters fits"
        )
    return best


class WrapMechanism(enum.Enum):
    """How the root key is wrapped under the backup key, strongest first."""

    AES_KEY_WRAP_PAD = "CKM_AES_KEY_WRAP_PAD"
    AES_KEY_WRAP = "CKM_AES_KEY_WRAP"
    AES_CBC_PAD = "CKM_AES_CBC_PAD"

    @property
    def mechanism(self) -> Mechanism:
        return {
            WrapMechanism.AES_KEY_WRAP_PAD: Mechanism.AES_KEY_WRAP_PAD,
            WrapMechanism.AES_KEY_WRAP: Mechanism.AES_KEY_WRAP,
            WrapMechanism.AES_CBC_PAD: Mechanism.AES_CBC_PAD,
        }[self]

    @property
    def needs_iv(self) -> bool:
        return self is WrapMechanism.AES_CBC_PAD

    @property
    def description(self) -> str:
        return {
            WrapMechanism.AES_KEY_WRAP_PAD: "CKM_AES_KEY_WRAP_PAD (RFC 5649, AES-256)",
            WrapMechanism.AES_KEY_WRAP: "CKM_AES_KEY_WRAP (RFC 3394, AES-256)",
            WrapMechanism.AES_CBC_PAD: "CKM_AES_CBC_PAD (AES-256-CBC, PKCS#7 padding, random IV)",
        }[self]

    @classmethod
    def parse(cls, text: str) -> WrapMechanism:
        """From ``backup.json``: the name, or a description starting with it."""
        name = text.split()[0] if text.split() else text
        for m in cls:
            if m.value == name:
                return m
        raise InputError(f"wrap mechanism {text!r}: not one of {', '.join(m.value for m in cls)}")


WRAP_PREFERENCE = (
    WrapMechanism.AES_KEY_WRAP_PAD,
    WrapMechanism.AES_KEY_WRAP,
    WrapMechanism.AES_CBC_PAD,
)

_GENERATE = {
    "ecdsa": Mechanism.EC_KEY_PAIR_GEN,
    "rsa": Mechanism.RSA_PKCS_KEY_PAIR_GEN,
    "ed25519": Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
}
_BITS = {
    KeyAlgorithm.ECDSA_P256: 256,
    KeyAlgorithm.ECDSA_P384: 384,
    KeyAlgorithm.RSA_3072: 3072,
    KeyAlgorithm.RSA_4096: 4096,
    KeyAlgorithm.ED25519: 256,  # as modules report Curve25519 key sizes
}
_ECDSA_HASHED = {256: Mechanism.ECDSA_SHA256, 384: Mechanism.ECDSA_SHA384}


class SigningMode(enum.Enum):
    """Where the hash of a signature is computed."""

    RAW = "hash on the host, token signs the digest"
    IN_TOKEN = "token hashes and signs"


class _TokenInfo(ctypes.Structure):
    _fields_ = [
        ("label", ctypes.c_char * 32),
        ("manufacturer", ctypes.c_char * 32),
        ("model", ctypes.c_char * 16),
        ("serial", ctypes.c_char * 16),
        ("flags", ctypes.c_ulong),
        ("max_sessions", ctypes.c_ulong),
        ("sessions", ctypes.c_ulong),
        ("max_rw_sessions", ctypes.c_ulong),
        ("rw_sessions", ctypes.c_ulong),
        ("max_pin", ctypes.c_ulong),
        ("min_pin", ctypes.c_ulong),
        ("total_public", ctypes.c_ulong),
        ("free_public", ctypes.c_ulong),
        ("total_private", ctypes.c_ulong),
        ("free_private", ctypes.c_ulong),
        ("hardware", ctypes.c_ubyte * 2),
        ("firmware", ctypes.c_ubyte * 2),
        ("utc_time", ctypes.c_char * 16),
    ]


def pin_bounds(module_path: str, slot_id: int) -> tuple[int, int]:
    """``ulMinPinLen``/``ulMaxPinLen`` of the token in ``slot_id`` (python-pkcs11 does not
    expose them; the module is already initialized by python-pkcs11 in this process)."""
    lib = ctypes.CDLL(module_path)
    lib.C_GetTokenInfo.argtypes = [ctypes.c_ulong, ctypes.POINTER(_TokenInfo)]
    lib.C_GetTokenInfo.restype = ctypes.c_ulong
    info = _TokenInfo()
    rv = lib.C_GetTokenInfo(slot_id, ctypes.byref(info))
    if rv != 0:
        raise HsmError(f"slot {slot_id}: C_GetTokenInfo failed with CKR 0x{rv:08x}")
    return int(info.min_pin), int(info.max_pin)


@dataclass(frozen=True)
class Capabilities:
    """What one token offers, as it reports it."""

    token: str
    """How messages name the token: its label, model and serial."""
    min_pin: int
    max_pin: int
    protected_authentication_path: bool
    mechanisms: frozenset[int]
    key_bits: tuple[tuple[int, int, int], ...] = ()
    """(mechanism, ulMinKeySize, ulMaxKeySize) of the key generation mechanisms."""

    def has(self, mechanism: Mechanism) -> bool:
        return int(mechanism) in self.mechanisms

    @property
    def pins(self) -> PinFormat:
        return pin_format(self.min_pin, self.max_pin, self.token)

    def _size_ok(self, mechanism: Mechanism, bits: int) -> bool:
        for mech, low, high in self.key_bits:
            if mech == int(mechanism):
                # EC sizes are reported in bits by most modules; 0/0 means unknown.
                return (low == 0 and high == 0) or low <= bits <= high
        return True

    def missing_for(self, algorithm: KeyAlgorithm) -> list[str]:
        """Mechanisms the token lacks to generate and sign with ``algorithm``."""
        gen = _GENERATE[algorithm.family]
        missing = [] if self.has(gen) else [f"CKM_{gen.name}"]
        if not missing and not self._size_ok(gen, _BITS[algorithm]):
            missing.append(f"CKM_{gen.name} for {_BITS[algorithm]}-bit keys")
        if algorithm.family == "ecdsa":
            hashed = _ECDSA_HASHED[_BITS[algorithm]]
            if not self.has(Mechanism.ECDSA) and not self.has(hashed):
                missing.append(f"CKM_ECDSA or CKM_{hashed.name}")
        elif algorithm.family == "rsa":
            if not self.has(Mechanism.SHA256_RSA_PKCS) and not self.has(Mechanism.RSA_PKCS):
                missing.append("CKM_SHA256_RSA_PKCS or CKM_RSA_PKCS")
        elif not self.has(Mechanism.EDDSA):
            missing.append("CKM_EDDSA")
        return missing

    def key_algorithms(self) -> tuple[KeyAlgorithm, ...]:
        """The key types this token can generate and sign with (whether it can wrap them for a
        backup is a separate question: see :mod:`ceremony.hsm.protection`)."""
        return tuple(a for a in KeyAlgorithm if not self.missing_for(a))

    def require_key(self, algorithm: KeyAlgorithm) -> None:
        """:raises HsmError: naming the token and the mechanism it lacks for ``algorithm``."""
        missing = self.missing_for(algorithm)
        if missing:
            offered = ", ".join(a.value for a in self.key_algorithms()) or "none"
            raise HsmError(
                f"{self.token}: cannot make {algorithm.description} keys: lacks"
                f" {', '.join(missing)} (key types it offers: {offered})"
            )

    def ecdsa_mode(self) -> SigningMode:
        return SigningMode.RAW if self.has(Mechanism.ECDSA) else SigningMode.IN_TOKEN

    def rsa_pkcs1_mode(self) -> SigningMode:
        return SigningMode.IN_TOKEN if self.has(Mechanism.SHA256_RSA_PKCS) else SigningMode.RAW

    def signer_algorithm(self) -> KeyAlgorithm:
        """The transcript signer's key type: ECDSA P-384 where the token offers it, else
        RSA 3072 (both validate in pdfsig, pyHanko and Adobe Reader).

        :raises HsmError: the token offers neither.
        """
        for a in (KeyAlgorithm.ECDSA_P384, KeyAlgorithm.RSA_3072):
            if not self.missing_for(a):
                return a
        raise HsmError(
            f"{self.token}: offers neither ECDSA P-384 nor RSA 3072 for the transcript signer"
        )

    @property
    def wrap_mechanism(self) -> WrapMechanism | None:
        """The strongest wrap mechanism of :data:`WRAP_PREFERENCE` the token offers for
        wrapping (AES-256 key generation or import and a check value need ``CKM_AES_ECB``)."""
        if not self.has(Mechanism.AES_ECB):
            return None
        for m in WRAP_PREFERENCE:
            if self.has(m.mechanism):
                return m
        return None

    def require_wrap(self) -> WrapMechanism:
        """:raises HsmError: the token offers none of the wrap mechanisms."""
        chosen = self.wrap_mechanism
        if chosen is None:
            wanted = ", ".join(m.value for m in WRAP_PREFERENCE)
            extra = "" if self.has(Mechanism.AES_ECB) else " (and CKM_AES_ECB for the check value)"
            raise HsmError(
                f"{self.token}: offers none of {wanted}{extra}, needed to wrap the root key for"
                ' the M-of-N backup; use backup method = "hsm-native" with the vendor\'s backup'
            )
        return chosen

    def require_login(self, declared: bool) -> None:
        """The ceremony file (``declared``) and the token agree on where the PIN comes from.

        A token with a protected authentication path (a PIN pad or PED) logs in with no PIN
        from this host, so the activation quorum cannot guard it: the file has to say so.

        :raises HsmError: they disagree, naming the token.
        """
        if self.protected_authentication_path and not declared:
            raise HsmError(
                f"{self.token}: logs in on its own PIN pad or PED"
                " (CKF_PROTECTED_AUTHENTICATION_PATH): no PIN comes from this host, so the"
                " activation quorum would protect nothing; a ceremony file for this token"
                " says so with [token] protected_authentication_path = true"
            )
        if declared and not self.protected_authentication_path:
            raise HsmError(
                f"{self.token}: takes its PIN from this host (no protected authentication"
                " path), but the ceremony file says [token] protected_authentication_path ="
                " true"
            )

    def as_dict(self) -> dict[str, Any]:
        """The facts recorded in the event log and shown by ``ceremony tokens``."""
        try:
            pins: dict[str, Any] = self.pins.as_dict()
        except HsmError as ex:
            pins = {"refused": ex.message}
        wrap = self.wrap_mechanism
        kinds = {a.family for a in self.key_algorithms()}
        out: dict[str, Any] = {
            "pin_length": [self.min_pin, self.max_pin],
            "generated_pins": pins,
            "protected_authentication_path": self.protected_authentication_path,
            "key_types": [a.value for a in self.key_algorithms()],
            "wrap_mechanism": wrap.value if wrap else None,
        }
        if "rsa" in kinds:
            out["rsa_pkcs1_signing"] = self.rsa_pkcs1_mode().value
        if "ecdsa" in kinds:
            out["ecdsa_signing"] = self.ecdsa_mode().value
        return out


def login_pin(token: Any, pin: Any) -> Any:
    """What to log in to python-pkcs11 ``token`` with: ``pkcs11.PROTECTED_AUTH`` where the
    token takes the PIN on its own PIN pad or PED (no PIN from this host), else ``pin``."""
    if token.flags & CKF_PROTECTED_AUTHENTICATION_PATH:
        return pkcs11.PROTECTED_AUTH
    return pin


def of_session(session: Any) -> Capabilities:
    """The mechanisms of a session's token (PIN bounds not read), for the signing adapters
    that must pick a mechanism."""
    token = session.token
    return of_token(None, token, f"token {str(token.label).strip()!r}")


def of_token(module_path: str | None, token: Any, what: str) -> Capabilities:
    """The capabilities of a python-pkcs11 ``token`` (initialized or not)."""
    slot = token.slot
    with hsm_errors(f"{what}: reading mechanisms"):
        mechs = frozenset(int(m) for m in slot.get_mechanisms())
        sizes = []
        for gen in _GENERATE.values():
            if int(gen) in mechs:
                info = slot.get_mechanism_info(gen)
                sizes.append((int(gen), int(info.min_key_length), int(info.max_key_length)))
    low, high = pin_bounds(module_path, slot.slot_id) if module_path else (0, 0)
    return Capabilities(
        token=what,
        min_pin=low,
        max_pin=high,
        protected_authentication_path=bool(token.flags & CKF_PROTECTED_AUTHENTICATION_PATH),
        mechanisms=mechs,
        key_bits=tuple(sizes),
    )
