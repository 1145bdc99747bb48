"""Wrapping keys for the root key backup: trusted by the security officer where the token can.

The backup key exists in the token only as a session object that wraps (or
unwraps) once and is destroyed with its session, so no wrapping key is ever
left on a token, not even after a crash.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pkcs11
import pkcs11.exceptions as px
from pkcs11 import Attribute, KeyType, ObjectClass

from ceremony.errors import HsmError
from ceremony.hsm.capabilities import WrapMechanism, login_pin
from ceremony.hsm.errors import hsm_errors, reason


def _aes_template(key: bytes, label: str, *, trusted: bool) -> dict[Attribute, Any]:
    t: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.VALUE: key,
        Attribute.TOKEN: False,
        Attribute.PRIVATE: not trusted,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.WRAP: True,
        Attribute.UNWRAP: True,
        Attribute.ENCRYPT: True,
        Attribute.DECRYPT: False,
        Attribute.SIGN: False,
        Attribute.LABEL: label,
    }
    if trusted:
        t[Attribute.TRUSTED] = True
    return t


@contextmanager
def trusted_key_holder(
    token: Any, so_pin: Any, key: bytes, *, required: bool = True
) -> Iterator[str | None]:
    """``key`` as a session AES key the security officer marks ``CKA_TRUSTED``; yields its
    label (``None`` when the token refuses and ``required`` is false).

    PKCS#11 lets only the SO set ``CKA_TRUSTED``, and only on a public object (an SO
    session sees no private ones). The key is made in a session opened before the SO
    logs in, so it outlives the SO's logout and the user session that follows can wrap
    with it; it disappears when that session closes (and with the process), so no
    trusted wrapping key is ever left on the token.

    :param token: a python-pkcs11 token; ``so_pin`` its SO PIN (or ``pkcs11.PROTECTED_AUTH``).
    :raises HsmError: the SO login failed, or (``required``) the token refused the key.
    """
    label = f"backup-wrap-{secrets.token_hex(6)}"
    with hsm_errors("backup key: session for the trusted wrapping key"):
        holder = token.open(rw=True)
    try:
        with hsm_errors("backup key: security officer login"):
            so = token.open(rw=True, so_pin=login_pin(token, so_pin))
        made: str | None = label
        try:
            holder.create_object(_aes_template(key, label, trusted=True))
        except px.PKCS11Error as ex:
            if required:
                raise HsmError(
                    f"backup key: the token refuses CKA_TRUSTED set by the security officer:"
                    f" {reason(ex)}"
                ) from ex
            made = None
        finally:
            close_quietly(so)
        yield made
    finally:
        close_quietly(holder)


@contextmanager
def user_wrapping_key(session: Any, key: bytes) -> Iterator[Any]:
    """``key`` as a private session AES key of the user (tokens without ``CKA_TRUSTED``)."""
    with hsm_errors("backup key: import"):
        obj = session.create_object(_aes_template(key, "backup-key (session)", trusted=False))
    try:
        yield obj
    finally:
        with hsm_errors("backup key: destroy"):
            obj.destroy()


def find_wrapping_key(session: Any, label: str) -> Any:
    with hsm_errors("backup key: finding the trusted wrapping key"):
        return session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)


def close_quietly(session: Any) -> None:
    try:
        session.close()
    except pkcs11.exceptions.PKCS11Error:
        pass


def wrap_params(mechanism: WrapMechanism, iv: bytes) -> dict[str, Any]:
    return {
        "mechanism": mechanism.mechanism,
        "mechanism_param": iv if mechanism.needs_iv else None,
    }
