"""Issuing keys: where they live and how they are loaded as ``cryptography`` keys.

A key reference (``key.ref`` beside the issuer certificate) is one line:

- ``file:key.pem`` - a PEM private key file relative to the issuer folder
  (rehearsal/software; mode 0600);
- ``pkcs11:token=LABEL;object=LABEL[;softhsm=DIR][;pin-file=PATH]`` - a key
  in a PKCS#11 token, loaded through :mod:`ceremony.hsm` as a key object
  whose ``sign()`` runs inside the token. ``softhsm`` names the embedded
  SoftHSM2 home inside the data folder (else ``CEREMONY_PKCS11_MODULE``);
  the PIN comes from ``pin-file`` (rehearsal; relative to the data folder)
  or ``CEREMONY_ONLINE_PKCS11_PIN``.

Either way the result is an ``EllipticCurvePrivateKey`` or ``RSAPrivateKey``
that :class:`ceremony.online.issuer.IssuingCa` uses unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ceremony.errors import ConfigError, HsmError, InputError
from ceremony.media.atomic import write_new
from ceremony.online.issuer import SigningKey

PIN_ENV = "CEREMONY_ONLINE_PKCS11_PIN"


@dataclass(frozen=True)
class KeyRef:
    """A parsed key reference."""

    scheme: str
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str, where: str) -> KeyRef:
        t = text.strip()
        if t.startswith("file:") and len(t) > 5:
            return cls("file", {"path": t[5:]})
        if t.startswith("pkcs11:"):
            params: dict[str, str] = {}
            for part in t[7:].split(";"):
                k, sep, v = part.partition("=")
                if not sep or not k:
                    raise ConfigError(f"{where}: malformed pkcs11 key reference {t!r}")
                params[k] = v
            if "token" not in params or "object" not in params:
                raise ConfigError(f"{where}: pkcs11 key reference needs token= and object=")
            return cls("pkcs11", params)
        raise ConfigError(f"{where}: key reference must start with file: or pkcs11:")

    def render(self) -> str:
        if self.scheme == "file":
            return f"file:{self.params['path']}"
        return "pkcs11:" + ";".join(f"{k}={v}" for k, v in self.params.items())


def generate_software_key(key_type: str) -> SigningKey:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa-") and key_type[4:] in ("2048", "3072", "4096"):
        return rsa.generate_private_key(65537, int(key_type[4:]))
    raise InputError(f"--key {key_type!r}: must be ecdsa-p256, ecdsa-p384 or rsa-2048/3072/4096")


def write_software_key(path: Path, key: SigningKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_new(path, pem, mode=0o600)


def load_key(ref: KeyRef, folder: Path, where: str, data_root: Path | None = None) -> SigningKey:
    """The signing key ``ref`` names; ``folder`` resolves relative file paths,
    ``data_root`` (default ``folder``) the SoftHSM2 home and PIN file of a token key."""
    return KeyLoader().load(ref, folder, where, data_root)


class KeyLoader:
    """Loads several signing keys that stay usable together.

    Token keys share one load of the PKCS#11 module and one session per token: a second
    load initializes the module again, which closes the first key's session, and its
    object handle may then name another key of the token (an old issuer would sign
    with the new issuer's key)."""

    def __init__(self) -> None:
        self._hsm: dict[str, Any] = {}
        self._sessions: dict[tuple[str, str], Any] = {}

    def load(
        self, ref: KeyRef, folder: Path, where: str, data_root: Path | None = None
    ) -> SigningKey:
        if ref.scheme == "file":
            path = folder / ref.params["path"]
            try:
                data = path.read_bytes()
            except OSError as ex:
                raise InputError(f"{path}: cannot read the issuing key: {ex.strerror}") from ex
            try:
                key = serialization.load_pem_private_key(data, password=None)
            except (ValueError, TypeError) as ex:
                raise InputError(f"{path}: not an unencrypted PEM private key") from ex
            if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise InputError(f"{path}: issuing key must be EC or RSA")
            return key
        return self._load_pkcs11(ref, data_root or folder, where)

    def _load_pkcs11(self, ref: KeyRef, data_root: Path, where: str) -> SigningKey:
        """A key object from :mod:`ceremony.hsm` whose ``sign()`` runs in the token.

        ``softhsm=DIR`` (relative to the data folder) selects the embedded SoftHSM2
        home; otherwise the module is ``CEREMONY_PKCS11_MODULE``. The session stays
        open for the life of the process (the key object holds it).
        """
        from ceremony.hsm.errors import hsm_errors
        from ceremony.hsm.keys import find_key
        from ceremony.hsm.module import Hsm
        from ceremony.hsm.signers import Purpose, token_key

        home = ref.params.get("softhsm")
        home_path = data_root / home if home else None
        module = str(home_path) if home_path else ""
        label = ref.params["token"]
        session = self._sessions.get((module, label))
        if session is None:
            hsm = self._hsm.get(module)
            if hsm is None:
                if self._hsm:
                    raise HsmError(
                        f"{where}: the key is behind another PKCS#11 module or SoftHSM2 home "
                        "than the keys loaded before it (one process loads one)"
                    )
                hsm = self._hsm[module] = Hsm(softhsm_home=home_path)
            pin = _pin(ref, data_root, where)
            token = hsm.token(label)
            with hsm_errors(f"token {label!r}: login"):
                session = token.open(rw=False, user_pin=pin)
            self._sessions[(module, label)] = session
        key = token_key(session, find_key(session, ref.params["object"]), Purpose.ANY)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise HsmError(f"{where}: the token key is neither EC nor RSA")
        return key


def _pin(ref: KeyRef, data_root: Path, where: str) -> str:
    pin_file = ref.params.get("pin-file")
    if pin_file:
        path = data_root / pin_file
        try:
            return path.read_text().strip()
        except OSError as ex:
            raise InputError(f"{path}: cannot read the token PIN: {ex.strerror}") from ex
    pin = os.environ.get(PIN_ENV, "")
    if not pin:
        raise InputError(f"{where}: no PIN for token {ref.params['token']!r} (set {PIN_ENV})")
    return pin
