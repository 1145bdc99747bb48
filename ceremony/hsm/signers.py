"""cryptography private-key adapters whose ``sign()`` runs inside the token.

``CertificateBuilder.sign`` and ``CertificateRevocationListBuilder.sign``
accept these objects, so every certificate and CRL is built by
cryptography and signed by the HSM. A signer made with
``purpose=Purpose.CERTS_AND_CRLS`` refuses to sign anything that is not a
TBSCertificate or TBSCertList (no stray signatures with a CA key); the
restore drill's challenge signature uses ``Purpose.DRILL_CHALLENGE`` on a
scratch token only.

How each signature is made follows the token's mechanisms
(:mod:`ceremony.hsm.capabilities`): SoftHSM2 has no ``CKM_ECDSA_SHA384``, so
ECDSA hashes on the host, signs the digest with ``CKM_ECDSA`` and DER-encodes
r||s (a token with only the hashing mechanisms hashes itself); openCryptoki's
software token has no ``CKM_SHA256_RSA_PKCS``, so PKCS#1 v1.5 builds the
DigestInfo on the host and signs it with ``CKM_RSA_PKCS``.
"""

from __future__ import annotations

import enum
import threading
from typing import Any, NoReturn

from asn1crypto import crl as asn1crl
from asn1crypto import x509 as asn1x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    NoDigestInfo,
    Prehashed,
    encode_dss_signature,
)
from pkcs11 import MGF, Mechanism

from ceremony.errors import HsmError, PolicyError
from ceremony.hsm import capabilities
from ceremony.hsm.capabilities import SigningMode
from ceremony.hsm.errors import hsm_errors
from ceremony.hsm.keys import KeyAlgorithm, KeyRef, PublicKey, private_key_object, public_key

Buffer = bytes | bytearray | memoryview


class Purpose(enum.Enum):
    CERTS_AND_CRLS = "certificates and CRLs"
    DRILL_CHALLENGE = "restore-drill challenge"
    ANY = "any data (issuing keys, document signing)"


_PSS_HASH = {
    "sha256": (Mechanism.SHA256_RSA_PKCS_PSS, Mechanism.SHA256, MGF.SHA256),
    "sha384": (Mechanism.SHA384_RSA_PKCS_PSS, Mechanism.SHA384, MGF.SHA384),
    "sha512": (Mechanism.SHA512_RSA_PKCS_PSS, Mechanism.SHA512, MGF.SHA512),
}
_ECDSA_HASH = {
    "sha256": Mechanism.ECDSA_SHA256,
    "sha384": Mechanism.ECDSA_SHA384,
    "sha512": Mechanism.ECDSA_SHA512,
}
# DER prefixes of the PKCS#1 v1.5 DigestInfo (RFC 8017 section 9.2, note 1).
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def _digest_info(name: str, digest: bytes) -> bytes:
    return _DIGEST_INFO[name] + digest


_PKCS1_HASH = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}


def _is_tbs(data: bytes) -> bool:
    for spec in (asn1x509.TbsCertificate, asn1crl.TbsCertList):
        try:
            parsed = spec.load(data, strict=True)
            parsed.native  # noqa: B018  (forces a full parse)
            return True
        except (ValueError, TypeError):
            continue
    return False


class _TokenKey:
    """Shared plumbing: the private key object, the guard, and HSM time accounting."""

    _lock = threading.Lock()

    def __init__(self, session: Any, ref: KeyRef, purpose: Purpose) -> None:
        self._session = session
        self._ref = ref
        self._purpose = purpose
        self._private = private_key_object(session, ref)
        self._public = public_key(session, ref)
        self._caps = capabilities.of_session(session)

    @property
    def ref(self) -> KeyRef:
        return self._ref

    def _guard(self, data: bytes) -> None:
        if self._purpose is Purpose.CERTS_AND_CRLS and not _is_tbs(data):
            raise PolicyError(
                f"key {self._ref.label!r}: refused to sign data that is not a certificate or CRL"
            )

    def _raw_sign(self, data: bytes, mechanism: Mechanism, param: Any = None) -> bytes:
        with self._lock, hsm_errors(f"key {self._ref.label!r}: signing"):
            sig = self._private.sign(data, mechanism=mechanism, mechanism_param=param)
        return bytes(sig)

    def _refuse(self, what: str) -> NoReturn:
        raise HsmError(f"key {self._ref.label!r}: {what} is impossible, the key stays in the token")

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Any:
        return self

    def private_bytes(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("export")

    def private_numbers(self) -> NoReturn:
        self._refuse("export")


class TokenEcKey(_TokenKey, ec.EllipticCurvePrivateKey):
    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        data = bytes(data)
        assert isinstance(signature_algorithm, ec.ECDSA)
        alg = signature_algorithm.algorithm
        if isinstance(alg, Prehashed):
            raise PolicyError(f"key {self._ref.label!r}: pre-hashed input is not signed")
        self._guard(data)
        if self._caps.ecdsa_mode() is SigningMode.RAW:
            h = hashes.Hash(alg)
            h.update(data)
            raw = self._raw_sign(h.finalize(), Mechanism.ECDSA)
        else:
            raw = self._raw_sign(data, _ECDSA_HASH[alg.name])
        half = len(raw) // 2
        r = int.from_bytes(raw[:half], "big")
        s = int.from_bytes(raw[half:], "big")
        return encode_dss_signature(r, s)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        assert isinstance(self._public, ec.EllipticCurvePublicKey)
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self.public_key().curve

    @property
    def key_size(self) -> int:
        return self.public_key().key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        self._refuse("key agreement")


class TokenRsaKey(_TokenKey, rsa.RSAPrivateKey):
    def sign(
        self,
        data: Buffer,
        padding: padding.AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | Prehashed | NoDigestInfo,
    ) -> bytes:
        data = bytes(data)
        if not isinstance(algorithm, hashes.HashAlgorithm):
            raise PolicyError(f"key {self._ref.label!r}: pre-hashed input is not signed")
        self._guard(data)
        if isinstance(padding, _PADDING_PSS):
            mech, hash_mech, mgf = _PSS_HASH[algorithm.name]
            salt = algorithm.digest_size
            return self._raw_sign(data, mech, (hash_mech, mgf, salt))
        if isinstance(padding, _PADDING_PKCS1):
            if self._caps.rsa_pkcs1_mode() is SigningMode.RAW:
                h = hashes.Hash(algorithm)
                h.update(data)
                return self._raw_sign(
                    _digest_info(algorithm.name, h.finalize()), Mechanism.RSA_PKCS
                )
            return self._raw_sign(data, _PKCS1_HASH[algorithm.name])
        raise PolicyError(f"key {self._ref.label!r}: padding {padding.name} not supported")

    def public_key(self) -> rsa.RSAPublicKey:
        assert isinstance(self._public, rsa.RSAPublicKey)
        return self._public

    @property
    def key_size(self) -> int:
        return self.public_key().key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        self._refuse("decryption")


_PADDING_PSS = padding.PSS
_PADDING_PKCS1 = padding.PKCS1v15


class TokenEd25519Key(_TokenKey, ed25519.Ed25519PrivateKey):
    def sign(self, data: Buffer) -> bytes:
        data = bytes(data)
        self._guard(data)
        return self._raw_sign(data, Mechanism.EDDSA)

    def public_key(self) -> ed25519.Ed25519PublicKey:
        assert isinstance(self._public, ed25519.Ed25519PublicKey)
        return self._public

    def private_bytes_raw(self) -> NoReturn:
        self._refuse("export")


TokenKey = TokenEcKey | TokenRsaKey | TokenEd25519Key


def token_key(session: Any, ref: KeyRef, purpose: Purpose = Purpose.CERTS_AND_CRLS) -> TokenKey:
    """The adapter for ``ref``'s algorithm."""
    if ref.algorithm.family == "ecdsa":
        return TokenEcKey(session, ref, purpose)
    if ref.algorithm.family == "rsa":
        return TokenRsaKey(session, ref, purpose)
    return TokenEd25519Key(session, ref, purpose)


def spki_der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_public_key(a: PublicKey, b: Any) -> bool:
    try:
        return spki_der(a) == spki_der(b)
    except (AttributeError, TypeError, ValueError):
        return False


__all__ = [
    "KeyAlgorithm",
    "Purpose",
    "TokenEcKey",
    "TokenEd25519Key",
    "TokenKey",
    "TokenRsaKey",
    "same_public_key",
    "spki_der",
    "token_key",
]
