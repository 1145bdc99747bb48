"""Declarative certificate and CRL profiles; their rules are checked when built.

Every profile is a frozen dataclass validated in ``__post_init__``: a value
outside the rules raises :class:`PolicyError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

from ceremony.errors import PolicyError

ROOT_MAX_DAYS = 9132  # about 25 years, as Boulder allows
INTERMEDIATE_MAX_DAYS = 8 * 365
CRL_MAX_DAYS = 365
DOCUMENT_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # RFC 9336
COUNTRY_LEN = 2


@dataclass(frozen=True)
class SubjectSpec:
    """A CA subject: common name, organization, country (ISO 3166 two letters)."""

    common_name: str
    organization: str = ""
    country: str = ""

    def __post_init__(self) -> None:
        if not self.common_name.strip():
            raise PolicyError("subject common_name: must not be empty")
        if len(self.common_name) > 64:
            raise PolicyError("subject common_name: longer than 64 characters (RFC 5280)")
        if len(self.organization) > 64:
            raise PolicyError("subject organization: longer than 64 characters (RFC 5280)")
        if self.country and (len(self.country) != COUNTRY_LEN or not self.country.isalpha()):
            raise PolicyError(f"subject country {self.country!r}: must be two letters")

    def name(self) -> x509.Name:
        attrs = []
        if self.country:
            attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, self.country.upper()))
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
    ekus: tuple[str, ...] = ()
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
        for url in (self.crl_url, self.issuer_url):
            if url and not url.startswith(("http://", "ldap://")):
                raise PolicyError(f"URL {url!r}: must be http:// (RFC 5280 distribution points)")
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
