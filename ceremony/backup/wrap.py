"""The HSM side of the root key backup: wrap under a backup key, unwrap into a token.

The backup key is 32 bytes from the HSM RNG. It exists on the host only in
memory, long enough to be split into SLIP-39 shares, and in the token only
as a session object (``CKA_TOKEN=false``) that wraps (or unwraps) once and is
destroyed. The root key leaves the token only as ``CKM_AES_KEY_WRAP_PAD``
(RFC 5649) output. A token without that mechanism cannot make this backup:
:func:`require_wrap_mechanism` says so before anything is generated (such a
token needs a vendor backup scheme, e.g. HSM cloning, documented with it).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.constants import DEFAULT

from ceremony.backup.shares import check_value
from ceremony.errors import HsmError, PolicyError
from ceremony.hsm.errors import hsm_errors
from ceremony.hsm.keys import KeyAlgorithm, KeyRef, PublicKey, private_key_object
from ceremony.hsm.module import Hsm

WRAP_MECHANISM = Mechanism.AES_KEY_WRAP_PAD
WRAP_MECHANISM_NAME = "CKM_AES_KEY_WRAP_PAD (RFC 5649, AES-256)"
BACKUP_KEY_BYTES = 32
_KEY_TYPES = {"ecdsa": KeyType.EC, "rsa": KeyType.RSA, "ed25519": KeyType.EC_EDWARDS}


def require_wrap_mechanism(hsm: Hsm, label: str) -> None:
    for mech in (Mechanism.AES_KEY_WRAP_PAD, Mechanism.AES_ECB):
        if not hsm.has_mechanism(label, mech):
            raise HsmError(
                f"token {label!r}: lacks {mech.name}, needed to wrap the root key for the M-of-N"
                " backup; use the HSM vendor's backup scheme instead"
            )


def probe_wrappable(session: Any, algorithm: KeyAlgorithm) -> None:
    """Refuse before key generation when the token cannot wrap keys of ``algorithm``.

    A throwaway session key pair of the same family (RSA probed at 2048 bits)
    is wrapped under a throwaway session AES key, then both are destroyed.
    SoftHSM2 2.6, for one, cannot wrap EdDSA keys.
    """
    from pkcs11.exceptions import KeyNotWrappable, MechanismInvalid

    family_template: dict[Attribute, Any] = {
        Attribute.TOKEN: False,
        Attribute.EXTRACTABLE: True,
        Attribute.SENSITIVE: True,
    }
    with hsm_errors(f"probe: {algorithm.description} key pair"):
        if algorithm.family == "rsa":
            pub, priv = session.generate_keypair(
                KeyType.RSA, 2048, store=False, private_template=family_template
            )
        else:
            from ceremony.hsm.keys import domain_parameters

            params = domain_parameters(session, algorithm)
            mech = Mechanism.EC_EDWARDS_KEY_PAIR_GEN if algorithm.family == "ed25519" else None
            pub, priv = params.generate_keypair(
                store=False, mechanism=mech, private_template=family_template
            )
    try:
        with session_aes_key(session, new_backup_key(session)) as aes:
            try:
                aes.wrap_key(priv, mechanism=WRAP_MECHANISM)
            except (KeyNotWrappable, MechanismInvalid) as ex:
                raise HsmError(
                    f"token cannot wrap {algorithm.description} keys with {WRAP_MECHANISM.name}:"
                    " the M-of-N backup of such a root key is impossible on it; choose another"
                    " key type or the HSM vendor's backup scheme"
                ) from ex
    finally:
        with hsm_errors("probe: destroy"):
            priv.destroy()
            pub.destroy()


def new_backup_key(session: Any) -> bytes:
    with hsm_errors("backup key: random"):
        return bytes(session.generate_random(BACKUP_KEY_BYTES * 8))


@contextmanager
def session_aes_key(session: Any, key: bytes) -> Iterator[Any]:
    """``key`` as a non-token, sensitive AES key that can only wrap, unwrap and encrypt."""
    with hsm_errors("backup key: import"):
        obj = session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.VALUE: key,
                Attribute.TOKEN: False,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: False,
                Attribute.SIGN: False,
                Attribute.LABEL: "backup-key (session)",
            }
        )
    try:
        yield obj
    finally:
        with hsm_errors("backup key: destroy"):
            obj.destroy()


def token_check_value(aes_key: Any) -> str:
    """The check value as the token computes it: AES-ECB of a zero block, first 8 bytes."""
    with hsm_errors("backup key: check value"):
        return bytes(aes_key.encrypt(bytes(16), mechanism=Mechanism.AES_ECB))[:8].hex()


def wrap_root_key(session: Any, ref: KeyRef, backup_key: bytes) -> tuple[bytes, str]:
    """Wrap the root private key; return the wrapped bytes and the backup key's check value."""
    kcv = check_value(backup_key)
    root = private_key_object(session, ref)
    with session_aes_key(session, backup_key) as aes:
        if not hmac.compare_digest(token_check_value(aes), kcv):
            raise HsmError("backup key: the token's check value differs from the host's")
        with hsm_errors(f"key {ref.label!r}: wrap"):
            wrapped = bytes(aes.wrap_key(root, mechanism=WRAP_MECHANISM))
    return wrapped, kcv


def unwrap_root_key(
    session: Any,
    wrapped: bytes,
    backup_key: bytes,
    label: str,
    key_id: bytes,
    algorithm: KeyAlgorithm,
    public: PublicKey,
) -> KeyRef:
    """Unwrap into the session's token as ``label`` and add the matching public key object."""
    from ceremony.hsm.keys import find_objects

    if find_objects(session, label):
        raise PolicyError(f"key label {label!r}: an object with that label exists on the token")
    template = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: True,
        Attribute.SIGN: True,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
        # not private-key attributes: drop python-pkcs11's generic defaults
        Attribute.VERIFY: DEFAULT,
        Attribute.ENCRYPT: DEFAULT,
        Attribute.WRAP: DEFAULT,
    }
    with session_aes_key(session, backup_key) as aes:
        with hsm_errors(f"key {label!r}: unwrap"):
            aes.unwrap_key(
                ObjectClass.PRIVATE_KEY,
                _KEY_TYPES[algorithm.family],
                wrapped,
                id=key_id,
                label=label,
                mechanism=WRAP_MECHANISM,
                store=True,
                template=template,
            )
    _create_public(session, label, key_id, algorithm, public)
    return KeyRef(label=label, key_id=key_id, algorithm=algorithm)


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
        Attribute.KEY_TYPE: _KEY_TYPES[algorithm.family],
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
