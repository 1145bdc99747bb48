"""Checks a certificate request against a profile: names, key type, lifetime.

Every refusal is a :class:`PolicyError` whose message names the offending
value; the REST API and ACME turn it into their error formats.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ceremony.errors import InputError, PolicyError
from ceremony.online.profiles import IpNetwork, Profile

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

MAX_NAMES = 100
"""Most DNS names and IP addresses one certificate carries."""
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CURVES = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}


@dataclass(frozen=True)
class ApprovedRequest:
    """A request that passed the profile's policy; what the certificate will carry."""

    profile: Profile
    public_key: PublicKey
    key_type: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[IpAddress, ...]
    common_name: str | None
    lifetime: timedelta

    @property
    def names(self) -> tuple[str, ...]:
        return self.dns_names + tuple(str(ip) for ip in self.ip_addresses)


def key_type_of(key: object) -> str:
    """``ecdsa-p256`` ... ``rsa-4096``; other keys are refused."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = _CURVES.get(key.curve.name)
        if name:
            return name
        raise PolicyError(f"key: curve {key.curve.name} is not accepted")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in (2048, 3072, 4096):
            raise PolicyError(f"key: RSA size {key.key_size} is not accepted")
        if key.public_numbers().e != 65537:
            raise PolicyError("key: RSA public exponent must be 65537")
        return f"rsa-{key.key_size}"
    raise PolicyError(f"key: type {type(key).__name__} is not accepted")


def normalize_dns_name(name: str) -> str:
    """Lower-case, strip one trailing dot, check LDH syntax (``*.`` only leftmost)."""
    n = name.strip().lower().rstrip(".")
    if not n or len(n) > 253:
        raise PolicyError(f"name {name!r}: not a valid DNS name (length)")
    labels = n.split(".")
    rest = labels[1:] if labels[0] == "*" else labels
    if not rest or not all(_LABEL.match(label) for label in rest):
        raise PolicyError(f"name {name!r}: not a valid DNS name")
    if len(rest) < 2:
        raise PolicyError(f"name {name!r}: single-label names are not accepted")
    return n


def check_dns_name(profile: Profile, name: str) -> str:
    n = normalize_dns_name(name)
    base = n
    if n.startswith("*."):
        if not profile.allow_wildcards or profile.kind != "tls-server":
            raise PolicyError(f"name {n!r}: wildcards are not allowed by profile {profile.name}")
        base = n[2:]
    for domain in profile.domains:
        if base == domain or (profile.allow_subdomains and base.endswith("." + domain)):
            return n
    raise PolicyError(f"name {n!r}: outside the names allowed by profile {profile.name}")


def check_ip(profile: Profile, ip: IpAddress) -> IpAddress:
    nets: tuple[IpNetwork, ...] = profile.ip_networks
    if any(ip.version == net.version and ip in net for net in nets):
        return ip
    raise PolicyError(f"name {ip}: IP address outside the networks allowed by {profile.name}")


def parse_ip(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def check_names(
    profile: Profile, dns_names: list[str], ips: list[IpAddress]
) -> tuple[tuple[str, ...], tuple[IpAddress, ...]]:
    """The de-duplicated allowed names, in order; refuses the first outside policy."""
    if profile.kind == "code-signing":
        if dns_names or ips:
            raise PolicyError(f"profile {profile.name}: code-signing takes no DNS or IP names")
        return (), ()
    dns = tuple(dict.fromkeys(check_dns_name(profile, n) for n in dns_names))
    addrs = tuple(dict.fromkeys(check_ip(profile, ip) for ip in ips))
    if not dns and not addrs:
        raise PolicyError(f"profile {profile.name}: the request names no DNS name or IP address")
    if len(dns) + len(addrs) > MAX_NAMES:
        raise PolicyError(f"profile {profile.name}: more than {MAX_NAMES} names")
    return dns, addrs


def check_lifetime(profile: Profile, hours: int | None) -> timedelta:
    h = profile.default_ttl_hours if hours is None else hours
    if not profile.min_ttl_hours <= h <= profile.max_ttl_hours:
        raise PolicyError(
            f"ttl_hours {h}: profile {profile.name} allows "
            f"{profile.min_ttl_hours} to {profile.max_ttl_hours}"
        )
    return timedelta(hours=h)


class UnreadableCsr(InputError):
    """Not a CSR, or one whose self-signature fails: a malformed request, not a policy
    refusal."""


def parse_csr(data: bytes) -> x509.CertificateSigningRequest:
    """A CSR from PEM or DER whose self-signature is valid (UnreadableCsr otherwise;
    PolicyError for a key or signature algorithm that is not supported)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
    except ValueError as ex:
        raise UnreadableCsr(f"csr: cannot be parsed: {ex}") from ex
    try:
        valid = csr.is_signature_valid
    except (ValueError, TypeError) as ex:
        raise PolicyError(f"csr: unsupported key or signature: {ex}") from ex
    if not valid:
        raise UnreadableCsr("csr: its signature does not verify")
    return csr


def csr_names(csr: x509.CertificateSigningRequest) -> tuple[list[str], list[IpAddress], str | None]:
    """DNS names, IP addresses and subject CN requested by ``csr``."""
    dns: list[str] = []
    ips: list[IpAddress] = []
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    except ValueError as ex:
        raise PolicyError(f"csr: malformed extensions: {ex}") from ex
    if san is not None:
        for gn in san:
            if isinstance(gn, x509.DNSName):
                dns.append(gn.value)
            elif isinstance(gn, x509.IPAddress) and not isinstance(
                gn.value, ipaddress.IPv4Network | ipaddress.IPv6Network
            ):
                ips.append(gn.value)
            else:
                raise PolicyError(f"csr: subject alternative name type {type(gn).__name__} refused")
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    return dns, ips, cn


def subject_cn(dns_names: tuple[str, ...], addrs: tuple[IpAddress, ...]) -> str | None:
    """The subject CN of a TLS certificate: its first DNS name if that fits the 64
    characters a CN may hold, else its first IP address, else none (the SAN is critical)."""
    if dns_names and len(dns_names[0]) <= 64:
        return dns_names[0]
    if addrs:
        return str(addrs[0])
    return None


def approve(
    profile: Profile, csr: x509.CertificateSigningRequest, ttl_hours: int | None
) -> ApprovedRequest:
    """Check ``csr`` (already signature-checked) against ``profile``."""
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise PolicyError(f"key: type {type(key).__name__} is not accepted")
    key_type = key_type_of(key)
    if key_type not in profile.key_types:
        raise PolicyError(f"key: {key_type} is not accepted by profile {profile.name}")
    dns, ips, cn = csr_names(csr)
    if cn is not None and profile.kind != "code-signing":
        ip = parse_ip(cn)
        if ip is not None:
            if ip not in ips:
                ips.append(ip)
        elif normalize_dns_name(cn) not in [normalize_dns_name(n) for n in dns]:
            dns.append(cn)
    dns_names, addrs = check_names(profile, dns, ips)
    if profile.kind == "code-signing":
        if cn is None or cn not in profile.common_names:
            raise PolicyError(f"subject CN {cn!r}: not allowed by profile {profile.name}")
    else:
        cn = subject_cn(dns_names, addrs)
    return ApprovedRequest(
        profile=profile,
        public_key=key,
        key_type=key_type,
        dns_names=dns_names,
        ip_addresses=addrs,
        common_name=cn,
        lifetime=check_lifetime(profile, ttl_hours),
    )
