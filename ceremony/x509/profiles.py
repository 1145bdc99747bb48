"""Declarative certificate and CRL profiles; their rules are checked when built.

Every profile is a frozen dataclass validated in ``__post_init__``: a value
outside the rules raises :class:`PolicyError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ceremony import text
from ceremony.errors import PolicyError
from ceremony.x509.countries import country_problem

CA_SUBJECT_ATTRIBUTES = frozenset(
    {
        "2.5.4.6",  # countryName
        "2.5.4.8",  # stateOrProvinceName
        "2.5.4.7",  # localityName
        "2.5.4.9",  # streetAddress
        "2.5.4.17",  # postalCode
        "2.5.4.10",  # organizationName
        "2.5.4.11",  # organizationalUnitName
        "2.5.4.97",  # organizationIdentifier
        "2.5.4.5",  # serialNumber
        "2.5.4.3",  # commonName
        "0.9.2342.19200300.100.1.25",  # domainComponent
    }
)
"""Subject attribute types a CA certificate's subject may use (by dotted OID); a CSR naming
any other type (a person's attributes, an e-mail address, an unknown OID) is refused."""

ROOT_MAX_DAYS = 9132  # about 25 years, as Boulder allows
INTERMEDIATE_MAX_DAYS = 8 * 365
CRL_MAX_DAYS = 365
DOCUMENT_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # RFC 9336
DOCUMENT_SIGNER_EKUS = (DOCUMENT_SIGNING_EKU, ExtendedKeyUsageOID.EMAIL_PROTECTION)
"""The transcript signer's EKU set. documentSigning (RFC 9336) states the purpose;
emailProtection is what NSS (poppler's pdfsig) and Adobe Reader require of a PDF
signer, which they refuse with documentSigning alone."""
INTERMEDIATE_EKUS = (
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string,
)
"""An intermediate's EKU constraint unless the ceremony file says otherwise: a TLS
issuing CA, so that verifiers that chain EKUs refuse a document signer it mints."""


@dataclass(frozen=True)
class SubjectSpec:
    """A CA subject: common name, organization, country (ISO 3166 two letters)."""

    common_name: str
    organization: str = ""
    country: str = ""

    def __post_init__(self) -> None:
        text.check(self.common_name, "subject common_name", 64, x509=True, error=PolicyError)
        if self.organization:
            text.check(self.organization, "subject organization", 64, x509=True, error=PolicyError)
        reason = country_problem(self.country) if self.country else None
        if reason is not None:
            raise PolicyError(f"subject country {self.country!r}: {reason}")

    def name(self) -> x509.Name:
        attrs = []
        if self.country:
            attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, self.country))
        if self.organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, self.common_name))
        return x509.Name(attrs)


@dataclass(frozen=True)
class RootProfile:
    """Self-signed root: KU keyCertSign+cRLSign critical, CA critical, SKI, no EKU."""

    subject: SubjectSpec
    validity_days: int
    path_length: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.validity_days <= ROOT_MAX_DAYS:
            raise PolicyError(
                f"root validity_days {self.validity_days}: must be 1 to {ROOT_MAX_DAYS}"
            )
        if self.path_length is not None and not 0 <= self.path_length <= 5:
            raise PolicyError(f"root path_length {self.path_length}: must be 0 to 5")


@dataclass(frozen=True)
class DocumentSignerProfile:
    """The transcript-signing certificate: EKU id-kp-documentSigning, KU digitalSignature."""

    subject: SubjectSpec
    validity_days: int

    def __post_init__(self) -> None:
        if not 1 <= self.validity_days <= ROOT_MAX_DAYS:
            raise PolicyError(f"document signer validity_days {self.validity_days}: out of range")


@dataclass(frozen=True)
class IntermediateProfile:
    """Subordinate CA signed from a CSR."""

    validity_days: int
    path_length: int | None = 0
    crl_url: str = ""
    issuer_url: str = ""
    policy_oids: tuple[str, ...] = ()
    ekus: tuple[str, ...] = INTERMEDIATE_EKUS
    """extendedKeyUsage of the intermediate (dotted OIDs); empty: no EKU constraint."""
    permitted_dns: tuple[str, ...] = ()
    excluded_dns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.validity_days <= INTERMEDIATE_MAX_DAYS:
            raise PolicyError(
                f"intermediate validity_days {self.validity_days}: must be 1 to "
                f"{INTERMEDIATE_MAX_DAYS}"
            )
        if self.path_length is not None and not 0 <= self.path_length <= 3:
            raise PolicyError(f"intermediate path_length {self.path_length}: must be 0 to 3")
        for key, url in (("crl_url", self.crl_url), ("issuer_url", self.issuer_url)):
            if url:
                text.check_url(
                    url, f"intermediate.{key}", ("http://", "ldap://"), error=PolicyError
                )
        for key, names in (
            ("permitted_dns", self.permitted_dns),
            ("excluded_dns", self.excluded_dns),
        ):
            for dns in names:
                text.check_dns_name(dns, f"intermediate.{key}", error=PolicyError)
        for oid in (*self.policy_oids, *self.ekus):
            try:
                x509.ObjectIdentifier(oid)
            except ValueError:
                raise PolicyError(f"OID {oid!r}: not a dotted object identifier") from None


@dataclass(frozen=True)
class CrlProfile:
    """Root CRL: CRL number, AKI, nextUpdate inside the issuer's validity, at most 365 days."""

    validity_days: int = 365
    revoked: tuple[tuple[int, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if not 1 <= self.validity_days <= CRL_MAX_DAYS:
            raise PolicyError(
                f"CRL validity_days {self.validity_days}: must be 1 to {CRL_MAX_DAYS}"
            )
