"""Cross-certificates: the root certifies an existing CA certificate's subject and key.

Boulder's rules: the subject is copied byte for byte, and so are the subject
key identifier and the path length; notBefore is not earlier than the
existing certificate's; both belong to the same organization; the result is
checked after signing.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from ceremony.errors import InputError, PolicyError
from ceremony.x509.build import PublicKey, _aki, _ca_key_usage
from ceremony.x509.profiles import IntermediateProfile


def load_certificate(data: bytes, source: str) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            if data.count(b"-----BEGIN") != 1:
                raise InputError(f"{source}: holds more than one PEM block")
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as ex:
        raise InputError(f"{source}: not a certificate: {str(ex).splitlines()[0]}") from ex


def _org(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(attrs[0].value) if attrs else None


def check_existing(existing: x509.Certificate, root: x509.Certificate, source: str) -> None:
    try:
        bc = existing.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise PolicyError(f"{source}: not a CA certificate (no basicConstraints)") from None
    if not bc.ca:
        raise PolicyError(f"{source}: not a CA certificate (CA:FALSE)")
    try:
        existing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        raise PolicyError(f"{source}: has no subjectKeyIdentifier to copy") from None
    if existing.issuer == root.subject:
        raise PolicyError(f"{source}: already issued by this root; nothing to cross-sign")
    if _org(existing.subject) != _org(root.subject):
        raise PolicyError(
            f"{source}: organization {_org(existing.subject)!r} differs from the root's "
            f"{_org(root.subject)!r}; cross-signs stay within one organization"
        )


def cross_builder(
    profile: IntermediateProfile,
    existing: x509.Certificate,
    issuer: x509.Certificate,
    serial: int,
    now: dt.datetime,
) -> x509.CertificateBuilder:
    not_before = max(now, existing.not_valid_before_utc)
    not_after = min(
        now + dt.timedelta(days=profile.validity_days),
        existing.not_valid_after_utc,
        issuer.not_valid_after_utc,
    )
    if existing.not_valid_after_utc <= now:
        raise PolicyError(
            f"cross-certificate: the existing certificate expired on"
            f" {existing.not_valid_after_utc:%Y-%m-%d}; an expired certificate is not cross-signed"
        )
    if not_after <= not_before:
        raise PolicyError(
            f"cross-certificate: the existing certificate is valid from"
            f" {existing.not_valid_before_utc:%Y-%m-%d} to {existing.not_valid_after_utc:%Y-%m-%d},"
            " which leaves no time inside the root's validity and the profile's"
        )
    key = existing.public_key()
    if not isinstance(key, PublicKey):
        raise PolicyError("cross-certificate: key type not supported")
    bc = existing.extensions.get_extension_for_class(x509.BasicConstraints).value
    ski = existing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    b = (
        x509.CertificateBuilder()
        .subject_name(existing.subject)
        .issuer_name(issuer.subject)
        .public_key(key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=bc.path_length), True)
        .add_extension(_ca_key_usage(), True)
        .add_extension(ski, False)
        .add_extension(_aki(issuer), False)
    )
    try:
        eku = existing.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        b = b.add_extension(eku.value, eku.critical)
    except x509.ExtensionNotFound:
        pass
    if profile.crl_url:
        b = b.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(profile.crl_url)], None, None, None
                    )
                ]
            ),
            False,
        )
    return b


def check_signed(existing: x509.Certificate, signed_der: bytes) -> None:
    """The subject and SKI of the cross-certificate equal the existing certificate's bytes."""
    cross = x509.load_der_x509_certificate(signed_der)
    enc = serialization.Encoding.DER
    if cross.subject.public_bytes() != existing.subject.public_bytes():
        raise PolicyError("cross-certificate: subject is not byte-identical to the existing one")
    ours = cross.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    theirs = existing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    if ours.digest != theirs.digest:
        raise PolicyError("cross-certificate: subject key identifier differs from the existing one")
    if cross.public_key().public_bytes(enc, serialization.PublicFormat.SubjectPublicKeyInfo) != (
        existing.public_key().public_bytes(enc, serialization.PublicFormat.SubjectPublicKeyInfo)
    ):
        raise PolicyError("cross-certificate: public key differs from the existing one")
