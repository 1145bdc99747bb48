"""Builders for root, document-signer and intermediate certificates and CRLs,
and the lint-before-sign path of the safety rules.

:func:`sign_certificate` and :func:`sign_crl`:

1. sign the TBS with a throwaway software key of the same type (the lint
   certificate, same issuer name), lint it with pkilint and refuse on any
   finding above INFO that the ceremony file does not skip;
2. check the token key is the issuer certificate's key, then let the
   token sign;
3. verify the signature, check the TBS is byte-identical to the lint
   certificate's, lint again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ceremony.errors import PolicyError
from ceremony.x509 import lint
from ceremony.x509.profiles import (
    DOCUMENT_SIGNER_EKUS,
    DocumentSignerProfile,
    IntermediateProfile,
    RootProfile,
)

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def serial_from_random(random16: bytes) -> int:
    """A positive serial with 128 random bits from the HSM RNG (0x01 prefix, as Boulder)."""
    if len(random16) < 8:
        raise ValueError("serial needs at least 64 random bits")
    return int.from_bytes(b"\x01" + random16, "big")


def hash_for(key: PublicKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return (
        hashes.SHA256()
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 4096
        else (hashes.SHA384())
    )


def throwaway_key(like: PublicKey) -> PrivateKey:
    """A software key of the same type, size or curve, used only for lint certificates."""
    if isinstance(like, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(like.curve)
    if isinstance(like, rsa.RSAPublicKey):
        return rsa.generate_private_key(65537, like.key_size)
    return ed25519.Ed25519PrivateKey.generate()


def _ski(key: PublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def root_builder(
    profile: RootProfile, key: PublicKey, serial: int, not_before: dt.datetime
) -> x509.CertificateBuilder:
    name = profile.subject.name()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=profile.validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=profile.path_length), True)
        .add_extension(_ca_key_usage(), True)
        .add_extension(_ski(key), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(key)), False
        )
    )


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def document_signer_builder(
    profile: DocumentSignerProfile,
    key: PublicKey,
    issuer: x509.Certificate,
    serial: int,
    not_before: dt.datetime,
) -> x509.CertificateBuilder:
    not_after = min(
        not_before + dt.timedelta(days=profile.validity_days), issuer.not_valid_after_utc
    )
    return (
        x509.CertificateBuilder()
        .subject_name(profile.subject.name())
        .issuer_name(issuer.subject)
        .public_key(key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(DOCUMENT_SIGNER_EKUS)), False)
        .add_extension(_ski(key), False)
        .add_extension(_aki(issuer), False)
    )


def intermediate_builder(
    profile: IntermediateProfile,
    subject: x509.Name,
    key: PublicKey,
    issuer: x509.Certificate,
    serial: int,
    not_before: dt.datetime,
) -> x509.CertificateBuilder:
    """Only what the profile says goes in; nothing is copied from the CSR but subject and key."""
    not_after = not_before + dt.timedelta(days=profile.validity_days)
    if not_after > issuer.not_valid_after_utc:
        raise PolicyError(
            f"intermediate validity: ends {not_after:%Y-%m-%d}, after the root's "
            f"{issuer.not_valid_after_utc:%Y-%m-%d}"
        )
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=profile.path_length), True)
        .add_extension(_ca_key_usage(), True)
        .add_extension(_ski(key), False)
        .add_extension(_aki(issuer), False)
    )
    if profile.ekus:
        b = b.add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in profile.ekus]), False
        )
    if profile.permitted_dns or profile.excluded_dns:
        b = b.add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(d) for d in profile.permitted_dns] or None,
                excluded_subtrees=[x509.DNSName(d) for d in profile.excluded_dns] or None,
            ),
            True,
        )
    if profile.crl_url:
        b = b.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(profile.crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            False,
        )
    if profile.issuer_url:
        b = b.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(profile.issuer_url),
                    )
                ]
            ),
            False,
        )
    if profile.policy_oids:
        b = b.add_extension(
            x509.CertificatePolicies(
                [
                    x509.PolicyInformation(x509.ObjectIdentifier(o), None)
                    for o in profile.policy_oids
                ]
            ),
            False,
        )
    return b


def crl_builder(
    issuer: x509.Certificate,
    number: int,
    this_update: dt.datetime,
    validity_days: int,
    revoked: list[x509.RevokedCertificate],
) -> x509.CertificateRevocationListBuilder:
    next_update = this_update + dt.timedelta(days=validity_days)
    if this_update < issuer.not_valid_before_utc or next_update > issuer.not_valid_after_utc:
        raise PolicyError(
            f"CRL {number}: thisUpdate/nextUpdate must lie inside the issuer's validity"
        )
    if number < 1:
        raise PolicyError(f"CRL number {number}: must be positive")
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), False)
        .add_extension(_aki(issuer), False)
    )
    for r in revoked:
        b = b.add_revoked_certificate(r)
    return b


@dataclass(frozen=True)
class Signed:
    """A certificate or CRL that passed the gate, with the lint findings skipped on the way."""

    der: bytes
    skipped: tuple[lint.Finding, ...]


def _sign_args(key: PublicKey) -> dict[str, Any]:
    return {"algorithm": hash_for(key)}


def prelint_certificate(
    what: str,
    builder: x509.CertificateBuilder,
    issuer_key: PublicKey,
    skips: Mapping[str, str],
    signer: PrivateKey | None = None,
) -> tuple[x509.Certificate, list[lint.Finding]]:
    """The TBS signed by a throwaway key of ``issuer_key``'s type (or by ``signer``), linted.

    Run before a ceremony writes anything, and again by :func:`sign_certificate` just
    before the token signs.

    :raises PolicyError: a lint finding above INFO that ``skips`` does not skip.
    """
    cert = builder.sign(signer or throwaway_key(issuer_key), **_sign_args(issuer_key))
    skipped = lint.gate(f"{what} (lint certificate)", lint.lint_certificate(_der(cert)), skips)
    return cert, skipped


def prelint_crl(
    what: str,
    builder: x509.CertificateRevocationListBuilder,
    issuer_key: PublicKey,
    skips: Mapping[str, str],
) -> tuple[x509.CertificateRevocationList, list[lint.Finding]]:
    """Like :func:`prelint_certificate`, for a CRL."""
    crl = builder.sign(throwaway_key(issuer_key), **_sign_args(issuer_key))
    skipped = lint.gate(f"{what} (lint CRL)", lint.lint_crl(_der(crl)), skips)
    return crl, skipped


def sign_certificate(
    what: str,
    builder: x509.CertificateBuilder,
    signer: PrivateKey,
    issuer: x509.Certificate | None,
    skips: Mapping[str, str],
) -> Signed:
    """Lint-before-sign, sign in the token, verify, compare TBS, lint again.

    ``issuer`` is None for a self-signed certificate.
    """
    signer_pub: Any = signer.public_key()
    if issuer is not None and issuer.public_key() != signer_pub:
        raise PolicyError(f"{what}: the token key is not the issuer certificate's key")
    args = _sign_args(signer_pub)
    lint_cert, skipped = prelint_certificate(what, builder, signer_pub, skips)
    final = builder.sign(signer, **args)
    try:
        final.verify_directly_issued_by(final if issuer is None else issuer)
    except (InvalidSignature, ValueError, TypeError) as ex:
        raise PolicyError(f"{what}: the token's signature does not verify") from ex
    if final.tbs_certificate_bytes != lint_cert.tbs_certificate_bytes:
        raise PolicyError(f"{what}: signed TBS differs from the linted TBS")
    lint.gate(f"{what} (signed certificate)", lint.lint_certificate(_der(final)), skips)
    return Signed(der=_der(final), skipped=tuple(skipped))


def sign_crl(
    what: str,
    builder: x509.CertificateRevocationListBuilder,
    signer: PrivateKey,
    issuer: x509.Certificate,
    skips: Mapping[str, str],
) -> Signed:
    signer_pub: Any = signer.public_key()
    if issuer.public_key() != signer_pub:
        raise PolicyError(f"{what}: the token key is not the issuer certificate's key")
    args = _sign_args(signer_pub)
    lint_crl, skipped = prelint_crl(what, builder, signer_pub, skips)
    final = builder.sign(signer, **args)
    if not final.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise PolicyError(f"{what}: the token's signature does not verify")
    if final.tbs_certlist_bytes != lint_crl.tbs_certlist_bytes:
        raise PolicyError(f"{what}: signed TBS differs from the linted TBS")
    lint.gate(f"{what} (signed CRL)", lint.lint_crl(_der(final)), skips)
    return Signed(der=_der(final), skipped=tuple(skipped))


def preview_certificate(builder: x509.CertificateBuilder, signer_pub: Any) -> x509.Certificate:
    """The certificate ``builder`` makes, signed by a throwaway key: its TBS is the one
    :func:`sign_certificate` lints and has the token sign."""
    return builder.sign(throwaway_key(signer_pub), **_sign_args(signer_pub))


def preview_crl(
    builder: x509.CertificateRevocationListBuilder, signer_pub: Any
) -> x509.CertificateRevocationList:
    """The CRL ``builder`` makes, signed by a throwaway key (see :func:`preview_certificate`)."""
    return builder.sign(throwaway_key(signer_pub), **_sign_args(signer_pub))


def _der(obj: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    return obj.public_bytes(serialization.Encoding.DER)


def pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
