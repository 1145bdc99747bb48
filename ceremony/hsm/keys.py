"""Key pairs inside the token: generation with the safety template, lookup, checks.

The private key template comes from :mod:`ceremony.hsm.protection`:
``CKA_TOKEN``, ``CKA_PRIVATE``, ``CKA_SENSITIVE``, ``CKA_SIGN``,
``CKA_WRAP_WITH_TRUSTED`` and read-only where the token enforces them;
``CKA_EXTRACTABLE`` only when the key is to be wrapped for the M-of-N backup.
``CKA_ID`` is drawn from the HSM RNG; an existing label is refused. After
generation the public key is read back and checked, and so are the private
key's attributes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from asn1crypto import core as asn1core
from asn1crypto import keys as asn1keys
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from ceremony.errors import HsmError, InputError
from ceremony.hsm import attributes
from ceremony.hsm.attributes import Value
from ceremony.hsm.errors import hsm_errors
from ceremony.hsm.protection import FULL, Protection, check, expected, private_template

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class KeyAlgorithm(enum.Enum):
    """Root and issuing key algorithms the product generates."""

    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"

    @property
    def family(self) -> str:
        return self.value.split("-")[0]

    @property
    def description(self) -> str:
        return {
            KeyAlgorithm.ECDSA_P256: "ECDSA P-256",
            KeyAlgorithm.ECDSA_P384: "ECDSA P-384",
            KeyAlgorithm.RSA_3072: "RSA 3072",
            KeyAlgorithm.RSA_4096: "RSA 4096",
            KeyAlgorithm.ED25519: "Ed25519",
        }[self]

    @classmethod
    def parse(cls, text: str) -> KeyAlgorithm:
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(a.value for a in cls)
            raise InputError(f"key type {text!r}: not one of {allowed}") from None


_CURVES: dict[KeyAlgorithm, tuple[str, ec.EllipticCurve]] = {
    KeyAlgorithm.ECDSA_P256: ("secp256r1", ec.SECP256R1()),
    KeyAlgorithm.ECDSA_P384: ("secp384r1", ec.SECP384R1()),
}
_RSA_BITS = {KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}
_ED25519_PARAMS = asn1keys.NamedCurve("1.3.101.112").dump()


@dataclass(frozen=True)
class KeyRef:
    """A key pair in a token, found by label (and checked by ``CKA_ID``)."""

    label: str
    key_id: bytes
    algorithm: KeyAlgorithm


def find_objects(session: Any, label: str) -> list[Any]:
    with hsm_errors(f"key {label!r}: search"):
        return list(session.get_objects({Attribute.LABEL: label}))


def key_labels(session: Any) -> list[str]:
    """Labels of every private key on the token (for orphan detection)."""
    with hsm_errors("listing keys"):
        objs = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
        return sorted(str(o.label) for o in objs)


def generate_keypair(
    session: Any,
    label: str,
    algorithm: KeyAlgorithm,
    *,
    extractable: bool,
    protection: Protection = FULL,
) -> KeyRef:
    """Generate a signing key pair as ``label``; refuse if the label exists.

    :param extractable: allow wrapping of the private key (the root key of a split-wrap
        backup, until it is sealed).
    :param protection: what the token enforces (from the probe); the template and the
        attributes checked after generation follow it.
    :raises InputError: the label is taken.
    :raises HsmError: the token refused or the key read back is not what was asked.
    """
    return generate_protected(session, label, algorithm, protection, extractable=extractable)[0]


def generate_protected(
    session: Any,
    label: str,
    algorithm: KeyAlgorithm,
    protection: Protection,
    *,
    extractable: bool,
) -> tuple[KeyRef, dict[str, Value]]:
    """:func:`generate_keypair`, also returning the private key's attributes read back."""
    if find_objects(session, label):
        raise InputError(f"key label {label!r}: an object with that label exists on the token")
    with hsm_errors(f"key {label!r}: random CKA_ID"):
        key_id = bytes(session.generate_random(64))
    public_template: dict[Attribute, Any] = {
        Attribute.TOKEN: True,
        Attribute.VERIFY: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
    }
    private = private_template(protection, wrappable=extractable)
    private.update({Attribute.LABEL: label, Attribute.ID: key_id})
    for a in (Attribute.ENCRYPT, Attribute.WRAP, Attribute.DERIVE):
        public_template.setdefault(a, False)
    with hsm_errors(f"key {label!r}: generation ({algorithm.description})"):
        if algorithm in _CURVES:
            domain_parameters(session, algorithm).generate_keypair(
                store=True,
                label=label,
                id=key_id,
                public_template=public_template,
                private_template=private,
            )
        elif algorithm in _RSA_BITS:
            public_template[Attribute.PUBLIC_EXPONENT] = b"\x01\x00\x01"
            session.generate_keypair(
                KeyType.RSA,
                _RSA_BITS[algorithm],
                store=True,
                label=label,
                id=key_id,
                public_template=public_template,
                private_template=private,
            )
        else:
            domain_parameters(session, algorithm).generate_keypair(
                store=True,
                label=label,
                id=key_id,
                mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                public_template=public_template,
                private_template=private,
            )
    ref = KeyRef(label=label, key_id=key_id, algorithm=algorithm)
    attrs = private_attributes(session, ref)
    stage = "born-wrappable" if extractable else "born-sealed"
    check(attrs, expected(protection, stage=stage), f"key {label!r}")
    public_key(session, ref)
    return ref, attrs


def domain_parameters(session: Any, algorithm: KeyAlgorithm) -> Any:
    """EC or EdDSA domain parameters of ``algorithm``, local to the session."""
    if algorithm in _CURVES:
        params = encode_named_curve_parameters(_CURVES[algorithm][0])
        return session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: params}, local=True
        )
    return session.create_domain_parameters(
        KeyType.EC_EDWARDS, {Attribute.EC_PARAMS: _ED25519_PARAMS}, local=True
    )


def private_key_object(session: Any, ref: KeyRef) -> Any:
    with hsm_errors(f"key {ref.label!r}: lookup"):
        objs = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: ref.label}
            )
        )
    if len(objs) != 1:
        raise HsmError(f"key {ref.label!r}: expected one private key, found {len(objs)}")
    with hsm_errors(f"key {ref.label!r}: reading CKA_ID"):
        if bytes(objs[0][Attribute.ID]) != ref.key_id:
            raise HsmError(f"key {ref.label!r}: CKA_ID differs from the recorded one")
    return objs[0]


def find_key(session: Any, label: str) -> KeyRef:
    """Look up an existing key pair by label and work out its algorithm."""
    with hsm_errors(f"key {label!r}: lookup"):
        objs = list(
            session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label})
        )
        if len(objs) != 1:
            raise HsmError(f"key {label!r}: expected one public key, found {len(objs)}")
        pub = objs[0]
        key_id = bytes(pub[Attribute.ID])
        key_type = pub[Attribute.KEY_TYPE]
        if key_type == KeyType.RSA:
            bits = int.from_bytes(bytes(pub[Attribute.MODULUS]), "big").bit_length()
            algorithm = {3072: KeyAlgorithm.RSA_3072, 4096: KeyAlgorithm.RSA_4096}.get(bits)
        elif key_type == KeyType.EC:
            oid = asn1keys.ECDomainParameters.load(bytes(pub[Attribute.EC_PARAMS])).chosen.native
            algorithm = {
                "secp256r1": KeyAlgorithm.ECDSA_P256,
                "secp384r1": KeyAlgorithm.ECDSA_P384,
            }.get(oid)
        else:
            algorithm = KeyAlgorithm.ED25519
    if algorithm is None:
        raise HsmError(f"key {label!r}: key type or size not supported")
    return KeyRef(label=label, key_id=key_id, algorithm=algorithm)


def public_key(session: Any, ref: KeyRef) -> PublicKey:
    """Read the public key back and check it is what was generated."""
    with hsm_errors(f"key {ref.label!r}: reading public key"):
        objs = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: ref.label}
            )
        )
        if len(objs) != 1:
            raise HsmError(f"key {ref.label!r}: expected one public key, found {len(objs)}")
        pub = objs[0]
        if bytes(pub[Attribute.ID]) != ref.key_id:
            raise HsmError(f"key {ref.label!r}: public key CKA_ID differs")
        alg = ref.algorithm
        if alg in _RSA_BITS:
            n = int.from_bytes(bytes(pub[Attribute.MODULUS]), "big")
            e = int.from_bytes(bytes(pub[Attribute.PUBLIC_EXPONENT]), "big")
            if e != 65537 or n.bit_length() != _RSA_BITS[alg]:
                raise HsmError(
                    f"key {ref.label!r}: token made RSA {n.bit_length()} bits, exponent {e};"
                    f" expected {_RSA_BITS[alg]} bits, exponent 65537"
                )
            return rsa.RSAPublicNumbers(e, n).public_key()
        point = asn1core.OctetString.load(bytes(pub[Attribute.EC_POINT])).native
        if alg in _CURVES:
            oid = asn1keys.ECDomainParameters.load(bytes(pub[Attribute.EC_PARAMS])).chosen.native
            if oid != _CURVES[alg][0]:
                raise HsmError(f"key {ref.label!r}: token made curve {oid}, expected {alg.value}")
            return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[alg][1], point)
        return ed25519.Ed25519PublicKey.from_public_bytes(point)


def private_attributes(session: Any, ref: KeyRef) -> dict[str, Value]:
    """The private key's protection attributes as the token reports them now."""
    return attributes.read(private_key_object(session, ref), what=f"key {ref.label!r}")


def check_private_attributes(
    session: Any, ref: KeyRef, *, extractable: bool, protection: Protection = FULL
) -> dict[str, Value]:
    """Read the private key's protection attributes back; refuse anything unexpected."""
    attrs = private_attributes(session, ref)
    stage = "born-wrappable" if extractable else "born-sealed"
    check(attrs, expected(protection, stage=stage), f"key {ref.label!r}")
    return attrs


def destroy_key(session: Any, label: str) -> int:
    """Destroy every object labelled ``label``; return how many were destroyed."""
    objs = find_objects(session, label)
    with hsm_errors(f"key {label!r}: destroy"):
        for o in objs:
            o.destroy()
    return len(objs)
