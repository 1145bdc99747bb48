"""The issuing CA: its certificate, chain, signing key, and the certificate builder.

The signing key is any ``cryptography`` private key object. A PKCS#11 key
from :mod:`ceremony.hsm` is such an object whose ``sign()`` runs in the
token, so the HSM plugs in through :func:`ceremony.online.keystore.load_key`
without touching this module.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from ceremony.errors import InputError, PolicyError
from ceremony.online.policy import ApprovedRequest
from ceremony.online.signing import placeholder, verifying
from ceremony.online.urls import IssuerUrls

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
BACKDATE = timedelta(minutes=5)


def spki_sha256(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def issuer_id_of(cert: x509.Certificate) -> str:
    """A stable short id: first 16 hex digits of the SHA-256 of the issuer's SPKI."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise InputError("issuer certificate: key type not supported (EC or RSA)")
    return spki_sha256(key)[:16]


SignHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512


def hash_for(key: SigningKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> SignHash:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.key_size >= 512:
            return hashes.SHA512()
        if key.curve.key_size >= 384:
            return hashes.SHA384()
    return hashes.SHA256()


def throwaway_key_like(key: SigningKey) -> SigningKey:
    """A fresh software key of the same type, for the pre-issuance lint signature."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(key.curve)
    return rsa.generate_private_key(65537, key.key_size)


class IssuingCa:
    """One issuing CA: certificate, chain up to the root, signing key."""

    def __init__(
        self,
        certificate: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        key: SigningKey,
        crl_shards: int,
    ) -> None:
        self.certificate = certificate
        self.chain = chain
        self.key = key
        self.crl_shards = crl_shards
        self.id = issuer_id_of(certificate)
        self._sign_lock = threading.Lock()
        self._throwaway: SigningKey | None = None
        cert_key = certificate.public_key()
        if not isinstance(cert_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise InputError("issuer certificate: key type not supported (EC or RSA)")
        if spki_sha256(cert_key) != spki_sha256(key.public_key()):
            raise InputError("issuing key: does not match the issuer certificate's public key")
        self._signer = verifying(key, cert_key)
        self._placeholder = placeholder(self._signer)

    @cached_property
    def ski(self) -> x509.SubjectKeyIdentifier:
        try:
            return self.certificate.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            ).value
        except x509.ExtensionNotFound:
            return x509.SubjectKeyIdentifier.from_public_key(self.public_key)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
        k = self.certificate.public_key()
        assert isinstance(k, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
        return k

    @cached_property
    def aki(self) -> x509.AuthorityKeyIdentifier:
        return x509.AuthorityKeyIdentifier(self.ski.digest, None, None)

    @property
    def hash_algorithm(self) -> SignHash:
        return hash_for(self.key)

    @cached_property
    def chain_pem(self) -> bytes:
        """The issuer certificate followed by its chain (without the root)."""
        certs = (self.certificate, *[c for c in self.chain if c.issuer != c.subject])
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    @property
    def throwaway_key(self) -> SigningKey:
        if self._throwaway is None:
            self._throwaway = throwaway_key_like(self.key)
        return self._throwaway

    def shard_of(self, serial: int) -> int:
        return serial % self.crl_shards

    def builder(
        self, request: ApprovedRequest, serial: int, now: datetime, urls: IssuerUrls
    ) -> x509.CertificateBuilder:
        """The unsigned leaf for an approved request, pointing to ``urls``."""
        if urls.issuer_id != self.id:
            raise ValueError(f"URLs of issuer {urls.issuer_id} given to issuer {self.id}")
        not_before = now - BACKDATE
        not_after = now + request.lifetime
        if not_after > self.certificate.not_valid_after_utc:
            end = self.certificate.not_valid_after_utc
            raise PolicyError(f"lifetime: would end after the issuing CA ({end:%Y-%m-%d})")
        profile = request.profile
        subject = (
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, request.common_name)])
            if request.common_name
            else x509.Name([])
        )
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(request.public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(profile.key_usage, critical=True)
            .add_extension(profile.extended_key_usage, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(request.public_key), False)
            .add_extension(self.aki, critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in request.dns_names]
        sans += [x509.IPAddress(ip) for ip in request.ip_addresses]
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=not request.common_name)
        shard_url = urls.crl_shard(self.shard_of(serial))
        b = b.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(shard_url)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
        access = [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(urls.ca_issuers),
            )
        ]
        if profile.ocsp:
            access.insert(
                0,
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
                ),
            )
        return b.add_extension(x509.AuthorityInformationAccess(access), critical=False)

    def tbs_copy(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        """The same TBS with a placeholder signature, no key used: for the template check,
        which reads the TBS alone (a signature would be a wasted 50 us). Never issued:
        its signature verifies under no key."""
        return builder.sign(self._placeholder, self.hash_algorithm)

    def sign_lint_copy(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        """The same TBS signed by a throwaway key: what the linter sees before the CA signs."""
        return builder.sign(self.throwaway_key, self.hash_algorithm)

    def sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        """Sign with the issuing key (serialized: token sessions are not thread-safe); the
        signature is verified against the issuer certificate as it is made
        (:class:`~ceremony.online.signing.BadSignature` if it does not verify)."""
        with self._sign_lock:
            return builder.sign(self._signer, self.hash_algorithm)

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList:
        with self._sign_lock:
            return builder.sign(self._signer, self.hash_algorithm)

    def sign_ocsp(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        with self._sign_lock:
            return builder.sign(self._signer, self.hash_algorithm)
