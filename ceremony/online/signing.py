"""A signing key that checks each signature it makes, on the bytes it signed.

``cryptography``'s builders hand the key the exact TBS bytes; verifying there, against the
issuer certificate's public key, proves the certificate, CRL or OCSP response correct
without encoding it again to call ``verify_directly_issued_by`` or ``is_signature_valid``
(for a million-entry CRL that second encoding and verification was a fifth of the work).
"""

from __future__ import annotations

from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ceremony.errors import FaultError

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class BadSignature(FaultError):
    """The signing key (a token, usually) produced a signature that does not verify."""


def _bad(ex: Exception) -> NoReturn:
    raise BadSignature("the issuing key produced a signature that does not verify") from ex


class _Verifying:
    def _refuse(self, what: str) -> NoReturn:
        raise FaultError(f"the issuing key: {what} is not offered")

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Any:
        return self

    def private_bytes(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("export")

    def private_numbers(self) -> NoReturn:
        self._refuse("export")


class VerifyingEcKey(_Verifying, ec.EllipticCurvePrivateKey):
    def __init__(self, key: ec.EllipticCurvePrivateKey, public: ec.EllipticCurvePublicKey) -> None:
        self._key: ec.EllipticCurvePrivateKey = key
        self._public = public

    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        signature = self._key.sign(data, signature_algorithm)
        try:
            self._public.verify(signature, data, signature_algorithm)
        except InvalidSignature as ex:
            _bad(ex)
        return signature

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        self._refuse("key agreement")


class VerifyingRsaKey(_Verifying, rsa.RSAPrivateKey):
    def __init__(self, key: rsa.RSAPrivateKey, public: rsa.RSAPublicKey) -> None:
        self._key: rsa.RSAPrivateKey = key
        self._public = public

    def sign(
        self,
        data: Any,
        padding: AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | Prehashed | Any,
    ) -> bytes:
        signature = self._key.sign(data, padding, algorithm)
        try:
            self._public.verify(signature, data, padding, algorithm)
        except InvalidSignature as ex:
            _bad(ex)
        return signature

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        self._refuse("decryption")


def verifying(key: SigningKey, public: PublicKey) -> SigningKey:
    """``key``, checking every signature against ``public`` (the issuer certificate's key)."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
        public, ec.EllipticCurvePublicKey
    ):
        return VerifyingEcKey(key, public)
    if isinstance(key, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey):
        return VerifyingRsaKey(key, public)
    raise FaultError("the issuing key and its certificate's key are of different types")


_PLACEHOLDER_ECDSA = bytes.fromhex("3006020101020101")  # ECDSA-Sig-Value r=1, s=1


class _PlaceholderEcKey(VerifyingEcKey):
    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        return _PLACEHOLDER_ECDSA


class _PlaceholderRsaKey(VerifyingRsaKey):
    def sign(
        self,
        data: Any,
        padding: AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | Prehashed | Any,
    ) -> bytes:
        return bytes((self._public.key_size + 7) // 8)


def placeholder(key: SigningKey) -> SigningKey:
    """A key of ``key``'s type that signs nothing: its "signature" is a fixed placeholder
    that verifies under no key. A builder signed with it yields the exact TBS the real
    key would sign, for checks that read the TBS alone, at no signing cost."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _PlaceholderEcKey(key, key.public_key())
    return _PlaceholderRsaKey(key, key.public_key())
