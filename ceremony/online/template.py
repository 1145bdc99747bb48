"""The ``template`` lint policy: pkilint judges each profile once, over the shapes it
allows; each certificate is then held against that judgement field by field.

:func:`lint_template` builds sample certificates of a profile through the issuer's own
builder, signed by a throwaway key, one dimension varied at a time around a base shape:
every accepted key type; every name form (DNS name with CN, a DNS name too long for a CN
so the SAN is critical, an IP address, DNS and IP together, a wildcard where allowed); a
name under each of the profile's domains (each subject CN of a code-signing profile);
1, 2 and :data:`~ceremony.online.policy.MAX_NAMES` names; the shortest, default and
longest lifetime; every CRL shard. pkilint must find nothing above INFO in any of them
(the one RFC 5280 wildcard finding RFC 6125 overrules aside), or the profile is refused
(:class:`~ceremony.errors.ConfigError`) before it issues anything. The TBS of every
sample reduces to a *shape* (:func:`tbs_shape`): the fixed fields byte for byte, the
variable ones replaced by the kind of value they hold. The template is the set of
shapes of the samples.

Before the issuing key signs a certificate, its TBS (signed by the throwaway key) goes
through :func:`tbs_shape` too, which checks each variable field by the rules pkilint
applies to it: serial positive, at most 20 octets, minimally encoded; validity in
UTCTime before 2050 and GeneralizedTime from then, its length within the profile's
bounds; subject empty or one CN of 1 to 64 characters that is also a SAN; SAN entries
LDH DNS names of at most 253 characters whose last label ends in a letter (a leftmost
``*`` only where the profile allows wildcards) or 4- or 16-octet IP addresses, 1 to
``MAX_NAMES`` of them, no duplicates; a code-signing CN one of the profile's; the key
identifier the SHA-1 of the public key; a CDP among the profile's shard URLs. A field
that breaks its rule refuses the certificate (:class:`TemplateFinding`). Then its shape
must be one of the template's; a certificate of another shape (:class:`OutsideTemplate`)
is linted in full by pkilint instead. It takes tens of microseconds where pkilint takes
milliseconds.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ceremony.errors import ConfigError, PolicyError
from ceremony.online.issuer import BACKDATE, IssuingCa
from ceremony.online.policy import MAX_NAMES, ApprovedRequest, check_dns_name, subject_cn
from ceremony.online.profiles import Profile
from ceremony.online.urls import IssuerUrls

Shape = tuple[Any, ...]
Linter = Callable[[bytes, ApprovedRequest], list[str]]
"""pkilint's findings above INFO for a DER certificate of an approved request."""

_OID_CN = bytes.fromhex("0603550403")
_OID_SKI = bytes.fromhex("0603551d0e")
_OID_SAN = bytes.fromhex("0603551d11")
_OID_CDP = bytes.fromhex("0603551d1f")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_TOP_LABEL = r"[a-z0-9][a-z0-9-]{0,61}[a-z]"
_LDH = re.compile(rf"(?:{_LABEL}\.)+{_TOP_LABEL}")
"""LDH names of two labels or more, the last of 2 to 63 characters ending in a letter:
the part of the syntax pkilint accepts (``validators.domain``) that our policy issues."""
_CURVES: dict[str, ec.EllipticCurve] = {
    "ecdsa-p256": ec.SECP256R1(),
    "ecdsa-p384": ec.SECP384R1(),
    "ecdsa-p521": ec.SECP521R1(),
}
SLACK = timedelta(seconds=1)


class OutsideTemplate(PolicyError):
    """A certificate whose structure is not one the template knows: lint it in full."""


class TemplateFinding(PolicyError):
    """A variable field breaks the rule pkilint applies to it: refuse the certificate."""


# --- DER, just enough to walk a TBSCertificate ----------------------------------------


def _tlv(der: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the element at ``i``."""
    try:
        tag, length = der[i], der[i + 1]
        i += 2
        if length & 0x80:
            n = length & 0x7F
            if not 1 <= n <= 3:
                raise OutsideTemplate("template: a DER length the builder never writes")
            length = int.from_bytes(der[i : i + n], "big")
            i += n
    except IndexError as ex:
        raise OutsideTemplate("template: truncated DER") from ex
    if i + length > len(der):
        raise OutsideTemplate("template: truncated DER")
    return tag, i, i + length


def _children(der: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(tag, value start, value end, element start) of each element in ``der[start:end]``."""
    i = start
    while i < end:
        tag, vs, ve = _tlv(der, i)
        yield tag, vs, ve, i
        i = ve


def _time(der: bytes, tag: int, vs: int, ve: int) -> datetime:
    text = der[vs:ve].decode("ascii", "replace")
    try:
        if tag == 0x17 and len(text) == 13:
            t = datetime.strptime(text, "%y%m%d%H%M%SZ")
            ok = t.year < 2050
        elif tag == 0x18 and len(text) == 15:
            t = datetime.strptime(text, "%Y%m%d%H%M%SZ")
            ok = t.year >= 2050
        else:
            ok = False
    except ValueError:
        ok = False
    if not ok:
        raise TemplateFinding(f"template: validity time {text!r} is not the encoding RFC 5280 asks")
    return t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Names:
    dns: tuple[str, ...]
    ips: tuple[str, ...]


def _wildcards(profile: Profile) -> bool:
    return profile.allow_wildcards and profile.kind == "tls-server"


def _check_san(der: bytes, vs: int, ve: int, profile: Profile) -> _Names:
    tag, s, e = _tlv(der, vs)
    if tag != 0x30 or e != ve:
        raise OutsideTemplate("template: SAN is not one GeneralNames")
    dns: list[str] = []
    ips: list[str] = []
    for gtag, gs, ge, _at in _children(der, s, e):
        value = der[gs:ge]
        if gtag == 0x82:
            name = value.decode("ascii", "replace")
            base = name[2:] if name.startswith("*.") and _wildcards(profile) else name
            if len(name) > 253 or not _LDH.fullmatch(base):
                raise TemplateFinding(f"template: SAN DNS name {name!r} is not LDH syntax")
            dns.append(name)
        elif gtag == 0x87 and len(value) in (4, 16):
            ips.append(str(ipaddress.ip_address(value)))
        else:
            raise TemplateFinding(f"template: SAN entry type {gtag:#x} is outside the profile")
    names = dns + ips
    if not 1 <= len(names) <= MAX_NAMES or len(set(names)) != len(names):
        raise TemplateFinding(f"template: {len(names)} SAN entries (1 to {MAX_NAMES}, distinct)")
    return _Names(tuple(dns), tuple(ips))


def tbs_shape(
    tbs: bytes, profile: Profile, cdps: frozenset[bytes], issuer_not_after: datetime
) -> Shape:
    """Check the variable fields of ``tbs`` and return its shape (see the module doc).

    :raises TemplateFinding: naming a variable field that breaks its rule.
    :raises OutsideTemplate: when the structure is not the builder's.
    """
    tag, s, e = _tlv(tbs, 0)
    if tag != 0x30 or e != len(tbs):
        raise OutsideTemplate("template: not one TBSCertificate")
    parts = list(_children(tbs, s, e))
    if len(parts) != 8 or parts[0][0] != 0xA0 or parts[7][0] != 0xA3:
        raise OutsideTemplate("template: TBSCertificate fields differ from the builder's")
    raw = [tbs[at:ve] for _t, _vs, ve, at in parts]
    # serial: positive INTEGER, 1 to 20 octets, minimal
    stag, svs, sve, _ = parts[1]
    serial = tbs[svs:sve]
    if (
        stag != 0x02
        or not 1 <= len(serial) <= 20
        or serial[0] & 0x80
        or (len(serial) > 1 and serial[0] == 0 and not serial[1] & 0x80)
        or not any(serial)
    ):
        raise TemplateFinding("template: serial is not a positive integer of at most 20 octets")
    # validity
    times = list(_children(tbs, parts[4][1], parts[4][2]))
    if parts[4][0] != 0x30 or len(times) != 2:
        raise OutsideTemplate("template: validity is not two times")
    not_before = _time(tbs, times[0][0], times[0][1], times[0][2])
    not_after = _time(tbs, times[1][0], times[1][1], times[1][2])
    lifetime = not_after - not_before
    shortest = timedelta(hours=profile.min_ttl_hours) + BACKDATE - SLACK
    longest = timedelta(hours=profile.max_ttl_hours) + BACKDATE + SLACK
    if not shortest <= lifetime <= longest or not_after > issuer_not_after:
        raise TemplateFinding(f"template: lifetime {lifetime} outside the profile's bounds")
    # subject: empty, or one CN
    cn: str | None = None
    subject_kind: Shape = ("empty",)
    if raw[5] != b"\x30\x00":
        rdns = list(_children(tbs, parts[5][1], parts[5][2]))
        if len(rdns) != 1 or rdns[0][0] != 0x31:
            raise OutsideTemplate("template: subject is not a single CN")
        atvs = list(_children(tbs, rdns[0][1], rdns[0][2]))
        if len(atvs) != 1 or atvs[0][0] != 0x30:
            raise OutsideTemplate("template: subject is not a single CN")
        oid_and_value = list(_children(tbs, atvs[0][1], atvs[0][2]))
        if len(oid_and_value) != 2 or tbs[oid_and_value[0][3] : oid_and_value[0][2]] != _OID_CN:
            raise OutsideTemplate("template: subject is not a single CN")
        vtag, vvs, vve, _ = oid_and_value[1]
        try:
            cn = tbs[vvs:vve].decode("utf-8")
        except UnicodeDecodeError as ex:
            raise TemplateFinding("template: subject CN is not UTF-8") from ex
        if not 1 <= len(cn) <= 64:
            raise TemplateFinding(f"template: subject CN of {len(cn)} characters (1 to 64)")
        subject_kind = ("cn", vtag)
    # subjectPublicKeyInfo: algorithm and key length
    spki = list(_children(tbs, parts[6][1], parts[6][2]))
    if len(spki) != 2 or spki[1][0] != 0x03:
        raise OutsideTemplate("template: subjectPublicKeyInfo differs from the builder's")
    spki_kind = (tbs[spki[0][3] : spki[0][2]], spki[1][2] - spki[1][1])
    key_id = hashlib.sha1(tbs[spki[1][1] + 1 : spki[1][2]]).digest()  # RFC 5280 method 1
    # extensions
    ext_tag, xs, xe = _tlv(tbs, parts[7][1])
    if ext_tag != 0x30 or xe != parts[7][2]:
        raise OutsideTemplate("template: extensions differ from the builder's")
    extensions: list[Shape] = []
    names: _Names | None = None
    for etag, evs, eve, _at in _children(tbs, xs, xe):
        fields = list(_children(tbs, evs, eve))
        if etag != 0x30 or not 2 <= len(fields) <= 3 or fields[-1][0] != 0x04:
            raise OutsideTemplate("template: an extension differs from the builder's")
        oid = tbs[fields[0][3] : fields[0][2]]
        critical = tbs[fields[1][3] : fields[1][2]] if len(fields) == 3 else b""
        vs, ve = fields[-1][1], fields[-1][2]
        if oid == _OID_SKI:
            itag, ivs, ive = _tlv(tbs, vs)
            if itag != 0x04 or ive != ve or tbs[ivs:ive] != key_id:
                raise TemplateFinding(
                    "template: subject key identifier is not the SHA-1 of the public key"
                )
            value: Any = "ski"
        elif oid == _OID_SAN:
            names = _check_san(tbs, vs, ve, profile)
            value = "san"
        elif oid == _OID_CDP:
            if tbs[vs:ve] not in cdps:
                raise TemplateFinding("template: CRL distribution point is not a shard of ours")
            value = "cdp"
        else:
            value = tbs[vs:ve]
        extensions.append((oid, critical, value))
    if profile.kind == "code-signing":
        if cn not in profile.common_names:
            raise TemplateFinding(f"template: subject CN {cn!r} is not one of the profile's")
    elif cn is not None:
        if names is None or cn not in names.dns + names.ips:
            raise TemplateFinding(f"template: subject CN {cn!r} is not one of the SAN names")
    return (raw[0], raw[2], raw[3], subject_kind, spki_kind, tuple(extensions))


# --- building and linting the template -----------------------------------------------


def _sample_key(key_type: str) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    """A public key of ``key_type`` for a sample: EC generated; RSA a random odd modulus
    of the exact size (only the public half appears in a TBS, and generating 4096-bit
    keys at every start would cost seconds)."""
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type]).public_key()
    bits = int(key_type.removeprefix("rsa-"))
    n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    return rsa.RSAPublicNumbers(65537, n).public_key()


@dataclass(frozen=True)
class _Sample:
    what: str
    key_type: str
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    ttl_hours: int | None = None
    shard: int | None = None
    common_name: str | None = None


def _first_ip(profile: Profile) -> str | None:
    if not profile.ip_networks:
        return None
    net = profile.ip_networks[0]
    return str(next(iter(net.hosts()), net.network_address))


def _domain_names(profile: Profile) -> list[str]:
    """A name the policy issues under each of the profile's domains."""
    out: list[str] = []
    for domain in profile.domains:
        try:
            name = f"a.{domain}" if profile.allow_subdomains else domain
            out.append(check_dns_name(profile, name))
        except PolicyError:
            continue  # the policy issues nothing under it
    return out


def _samples(profile: Profile, issuer: IssuingCa) -> list[_Sample]:
    kt = profile.key_types[0]
    names = _domain_names(profile)
    domain = names[0].removeprefix("a.") if names and profile.allow_subdomains else None
    ip = _first_ip(profile)
    if profile.kind == "code-signing":
        base = _Sample("base", kt)
    elif names:
        base = _Sample("base", kt, (names[0],))
    elif ip is not None:
        base = _Sample("base", kt, (), (ip,))
    else:
        return []
    out = [base]
    out += [_Sample(f"key {k}", k, base.dns, base.ips) for k in profile.key_types[1:]]
    out += [
        _Sample(f"lifetime {h} h", kt, base.dns, base.ips, ttl_hours=h)
        for h in sorted({profile.min_ttl_hours, profile.max_ttl_hours})
    ]
    out += [
        _Sample(f"shard {n}", kt, base.dns, base.ips, shard=n) for n in range(issuer.crl_shards)
    ]
    if profile.kind == "code-signing":
        out += [
            _Sample(f"subject CN {cn!r}", kt, common_name=cn) for cn in profile.common_names[1:]
        ]
        return out
    out += [_Sample(f"name {n}", kt, (n,)) for n in names[1:]]
    if domain is not None:
        long_name = f"{'l' * 63}.{'l' * 63}.{domain}"
        out.append(_Sample("DNS name longer than a CN", kt, (long_name,)))
        many = tuple(f"n{i}.{domain}" for i in range(MAX_NAMES))
        out.append(_Sample("two names", kt, many[:2]))
        out.append(_Sample(f"{MAX_NAMES} names", kt, many))
        if _wildcards(profile):
            out.append(_Sample("wildcard", kt, (f"*.w.{domain}",)))
    if ip is not None and base.dns:
        out.append(_Sample("IP address", kt, (), (ip,)))
        out.append(_Sample("DNS name and IP address", kt, base.dns, (ip,)))
    return out


def _request(profile: Profile, sample: _Sample, longest_hours: int) -> ApprovedRequest:
    """The approved request of a sample; no lifetime beyond what the issuer can cover."""
    ips = tuple(ipaddress.ip_address(i) for i in sample.ips)
    if profile.kind == "code-signing":
        cn = sample.common_name or (profile.common_names[0] if profile.common_names else None)
    else:
        cn = subject_cn(sample.dns, ips)
    hours = profile.default_ttl_hours if sample.ttl_hours is None else sample.ttl_hours
    hours = max(min(hours, longest_hours), 1)
    return ApprovedRequest(
        profile=profile,
        public_key=_sample_key(sample.key_type),
        key_type=sample.key_type,
        dns_names=sample.dns,
        ip_addresses=ips,
        common_name=cn,
        lifetime=timedelta(hours=hours),
    )


@dataclass(frozen=True)
class LintedTemplate:
    """A profile's shapes as pkilint passed them, for one issuer and URL generation."""

    profile: Profile
    shapes: frozenset[Shape]
    cdps: frozenset[bytes]
    issuer_not_after: datetime
    samples: int

    def check(self, tbs: bytes) -> None:
        """:raises TemplateFinding: a field breaks its rule (refuse).
        :raises OutsideTemplate: ``tbs`` is not of a linted shape (lint it in full)."""
        shape = tbs_shape(tbs, self.profile, self.cdps, self.issuer_not_after)
        if shape not in self.shapes:
            raise OutsideTemplate(
                f"template: certificate of a shape profile {self.profile.name} was not linted in"
            )


def _cdp_value(cert: x509.Certificate) -> bytes:
    ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    return ext.value.public_bytes()


def lint_template(
    issuer: IssuingCa, profile: Profile, urls: IssuerUrls, lint: Linter, now: datetime
) -> LintedTemplate:
    """Lint ``profile``'s samples; :class:`ConfigError` naming the first finding."""
    samples = _samples(profile, issuer)
    if not samples:
        raise ConfigError(f"profile {profile.name}: allows no name to issue for")
    certs: list[tuple[_Sample, x509.Certificate]] = []
    longest = int((issuer.certificate.not_valid_after_utc - now) / timedelta(hours=1)) - 1
    for sample in samples:
        request = _request(profile, sample, longest)
        serial = x509.random_serial_number()
        if sample.shard is not None:
            serial = serial - serial % issuer.crl_shards + sample.shard
            serial = serial if serial > 0 else issuer.crl_shards + sample.shard
        try:
            builder = issuer.builder(request, serial, now, urls)
        except PolicyError as ex:
            raise ConfigError(f"profile {profile.name}: {sample.what}: {ex.message}") from ex
        cert = issuer.sign_lint_copy(builder)
        findings = lint(cert.public_bytes(serialization.Encoding.DER), request)
        if findings:
            raise ConfigError(
                f"profile {profile.name}: template lint ({sample.what}): {findings[0]}"
            )
        certs.append((sample, cert))
    cdps = frozenset(_cdp_value(c) for _s, c in certs)
    not_after = issuer.certificate.not_valid_after_utc
    shapes = frozenset(
        tbs_shape(c.tbs_certificate_bytes, profile, cdps, not_after) for _s, c in certs
    )
    return LintedTemplate(profile, shapes, cdps, not_after, len(certs))


class Templates:
    """The linted template of each (profile, issuer, URL generation), built on first use
    and whenever the profile or the URLs change."""

    def __init__(self, issuer: IssuingCa, lint: Linter, clock: Callable[[], datetime]) -> None:
        self.issuer = issuer
        self.lint = lint
        self.clock = clock
        self._done: dict[tuple[Any, ...], LintedTemplate] = {}
        self._lock = threading.Lock()

    def get(self, profile: Profile, urls: IssuerUrls) -> LintedTemplate:
        key = (
            profile,
            self.issuer.id,
            urls.generation,
            urls.crl_shard_template,
            urls.ocsp,
            urls.ca_issuers,
        )
        found = self._done.get(key)
        if found is None:
            with self._lock:
                found = self._done.get(key)
                if found is None:
                    found = lint_template(self.issuer, profile, urls, self.lint, self.clock())
                    self._done[key] = found
        return found
