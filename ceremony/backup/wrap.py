"""The HSM side of the root key backup: wrap under a backup key, unwrap into a token.

The backup key is 32 bytes from the HSM RNG. It exists on the host only in
memory, long enough to be split into SLIP-39 shares, and in the token only
as a session object (``CKA_TOKEN=false``) that wraps (or unwraps) once and is
destroyed with its session. Where the token enforces trusted-only wrapping,
the security officer marks it ``CKA_TRUSTED``: the root key carries
``CKA_WRAP_WITH_TRUSTED``, so no other key can wrap it. The wrap mechanism is
the strongest the token offers (:mod:`ceremony.hsm.capabilities`); it is
recorded in ``backup.json`` with its IV, and restore uses the same.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pkcs11 import Attribute, Mechanism, ObjectClass

from ceremony.backup.shares import check_value
from ceremony.errors import HsmError, PolicyError
from ceremony.hsm.attributes import Value
from ceremony.hsm.capabilities import WrapMechanism
from ceremony.hsm.errors import hsm_errors
from ceremony.hsm.keys import KeyAlgorithm, KeyRef, PublicKey, find_objects, private_key_object
from ceremony.hsm.module import Hsm
from ceremony.hsm.probe import KEY_TYPES
from ceremony.hsm.protection import Protection, unwrap_template
from ceremony.hsm.sealing import seal
from ceremony.hsm.wrapping import (
    find_wrapping_key,
    trusted_key_holder,
    user_wrapping_key,
    wrap_params,
)

BACKUP_KEY_BYTES = 32
IV_BYTES = 16


@dataclass(frozen=True)
class Wrapped:
    """The root key wrapped for the backup, and how."""

    data: bytes
    check_value: str
    mechanism: WrapMechanism
    iv: bytes
    trusted: bool
    """Wrapped under a key the security officer marked CKA_TRUSTED."""

    def __repr__(self) -> str:
        return f"Wrapped({len(self.data)} bytes, {self.mechanism.value}, trusted={self.trusted})"


def new_backup_key(session: Any) -> bytes:
    with hsm_errors("backup key: random"):
        return bytes(session.generate_random(BACKUP_KEY_BYTES * 8))


def new_iv(session: Any, mechanism: WrapMechanism) -> bytes:
    if not mechanism.needs_iv:
        return b""
    with hsm_errors("backup key: random IV"):
        return bytes(session.generate_random(IV_BYTES * 8))


def token_check_value(aes_key: Any) -> str:
    """The check value as the token computes it: AES-ECB of a zero block, first 8 bytes."""
    with hsm_errors("backup key: check value"):
        return bytes(aes_key.encrypt(bytes(16), mechanism=Mechanism.AES_ECB))[:8].hex()


@contextmanager
def _wrapping_key(
    hsm: Hsm, label: str, pins: tuple[Any, Any], key: bytes, trusted: bool
) -> Iterator[Any]:
    """A user session on ``label`` and ``key`` as a wrapping key usable in it."""
    so_pin, user_pin = pins
    if trusted:
        with trusted_key_holder(hsm.token(label), so_pin, key) as tlabel:
            assert tlabel is not None
            with hsm.session(label, user_pin) as session:
                yield session, find_wrapping_key(session, tlabel)
    else:
        with hsm.session(label, user_pin) as session, user_wrapping_key(session, key) as aes:
            yield session, aes


def wrap_root_key(
    hsm: Hsm,
    label: str,
    pins: tuple[Any, Any],
    ref: KeyRef,
    backup_key: bytes,
    mechanism: WrapMechanism,
    protection: Protection,
) -> Wrapped:
    """Wrap the root private key under ``backup_key``.

    :param pins: (SO PIN, user PIN) of the token; the SO marks the wrapping key trusted
        where the token enforces trusted-only wrapping.
    """
    kcv = check_value(backup_key)
    trusted = protection.trusted_wrapping
    with _wrapping_key(hsm, label, pins, backup_key, trusted) as (session, aes):
        iv = new_iv(session, mechanism)
        root = private_key_object(session, ref)
        if not hmac.compare_digest(token_check_value(aes), kcv):
            raise HsmError("backup key: the token's check value differs from the host's")
        with hsm_errors(f"key {ref.label!r}: wrap ({mechanism.value})"):
            data = bytes(aes.wrap_key(root, **wrap_params(mechanism, iv)))
    return Wrapped(data, kcv, mechanism, iv, trusted)


def unwrap_root_key(
    session: Any,
    wrapped: Wrapped,
    backup_key: bytes,
    ref: KeyRef,
    public: PublicKey,
    protection: Protection,
    token: str,
) -> dict[str, Value]:
    """Unwrap into the session's token as ``ref`` in the end state (non-extractable, read-only
    where the token allows), add the matching public key object; return the private key's
    attributes read back.

    :raises HsmError: the restored key does not reach its end state.
    """
    if find_objects(session, ref.label):
        raise PolicyError(f"key label {ref.label!r}: an object with that label exists on the token")
    with user_wrapping_key(session, backup_key) as aes:
        if not hmac.compare_digest(token_check_value(aes), wrapped.check_value):
            raise HsmError("backup key: the token's check value differs from the recorded one")
        with hsm_errors(f"key {ref.label!r}: unwrap ({wrapped.mechanism.value})"):
            aes.unwrap_key(
                ObjectClass.PRIVATE_KEY,
                KEY_TYPES[ref.algorithm.family],
                wrapped.data,
                id=ref.key_id,
                label=ref.label,
                store=True,
                template=unwrap_template(protection),
                **wrap_params(wrapped.mechanism, wrapped.iv),
            )
    attrs = seal(session, ref, protection, f"key {ref.label!r} on {token}", stage="restored")
    _create_public(session, ref.label, ref.key_id, ref.algorithm, public)
    return attrs


def _create_public(
    session: Any, label: str, key_id: bytes, algorithm: KeyAlgorithm, public: PublicKey
) -> None:
    from asn1crypto import core as asn1core
    from asn1crypto import keys as asn1keys
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    attrs: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.VERIFY: True,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        Attribute.KEY_TYPE: KEY_TYPES[algorithm.family],
    }
    if isinstance(public, rsa.RSAPublicKey):
        n = public.public_numbers()
        attrs[Attribute.MODULUS] = n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")
        attrs[Attribute.PUBLIC_EXPONENT] = n.e.to_bytes(3, "big")
    else:
        if isinstance(public, ec.EllipticCurvePublicKey):
            point = public.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            attrs[Attribute.EC_PARAMS] = asn1keys.ECDomainParameters(
                name="named", value=public.curve.name
            ).dump()
        else:
            point = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            attrs[Attribute.EC_PARAMS] = asn1keys.NamedCurve("1.3.101.112").dump()
        attrs[Attribute.EC_POINT] = asn1core.OctetString(point).dump()
    with hsm_errors(f"key {label!r}: public key object"):
        session.create_object(attrs)
