"""TLS for ``ceremony-online serve`` (RFC 8555 §6.1: ACME is served over HTTPS).

Two ways to turn it on; without either, ``serve`` speaks plain HTTP as before.

``--tls-cert FILE --tls-key FILE``
    The operator's PEM certificate (the leaf first; the chain may follow it in
    the same file) and unencrypted PEM private key. Both are checked before the
    service starts: readable, PEM, the key matches the leaf, the leaf has not
    expired, and the ``ssl`` module loads the pair. Every refusal names the
    option and the file.

``--tls self``
    The service issues its own server certificate from its active issuing CA
    through the issuance core (:meth:`IssuanceService.issue_csr`, profile
    ``tls-server``): policy-checked, linted, stored, audited and revocable like
    any other certificate. Its names are the host of ``--listen`` (unless it is
    the unspecified address ``0.0.0.0`` or ``::``) and the host of
    ``--public-url``, each a DNS name or an IP address. Each issuance uses a
    fresh P-256 key, kept only in ``DATA/tls/server.key`` (mode 0600, folder
    0700); ``DATA/tls/server.pem`` holds the leaf followed by the issuing chain
    (without the root), so a client that trusts ``DATA/ca/root.pem`` accepts it
    (``curl --cacert DATA/ca/root.pem``). At every start the certificate is
    reused unless it is missing or unreadable, its key does not match or is
    readable by others, its names or issuer differ from what this start
    needs, the database does not know it or has it revoked, or less than a
    third of its lifetime remains; then a new one is issued. A running service
    asks the same every maintenance run (:class:`LiveRenewal`, once a minute in
    every process) and serves a renewed certificate from the next handshake on
    (:mod:`ceremony.online.served_tls`), so it never needs a restart for it.

URLs. With TLS on the public URL defaults to ``https://HOST:PORT`` (an
``http://`` ``--public-url`` is refused): the base of the ACME directory and
its resources. The CRL distribution point, OCSP and caIssuers URLs written into
certificates and CRLs are the issuer's recorded URLs (:mod:`ceremony.online.urls`),
which a switch to TLS does not change. Relying parties that fetch revocation
data over plain HTTP only (OpenSSL's ``-crl_download``, Firefox's OCSP; the
CA/Browser Forum Baseline Requirements require ``http://``) need a ``serve``
without TLS on the same data folder and database (or a reverse proxy) at that
address, which answers ``/crl/``, ``/ocsp`` and ``/ca/``.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import ssl
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from ceremony.audit.eventlog import Actor
from ceremony.errors import FaultError, InputError, PolicyError
from ceremony.media.atomic import replace_file
from ceremony.online import served_tls
from ceremony.online.config import DataFolder
from ceremony.online.issuer import IssuingCa
from ceremony.online.policy import IpAddress
from ceremony.online.profiles import Profile
from ceremony.online.service import OnlineService

MODES = ("self",)
"""Values ``--tls`` accepts."""
PROFILE = "tls-server"
"""The profile ``--tls self`` issues under (else the first profile of that kind)."""
RENEW_REMAINING = 1 / 3
"""Renew at start once less than this fraction of the lifetime remains."""
ACTOR = Actor("serve --tls self", "service")


@dataclass(frozen=True)
class TlsFiles:
    """What uvicorn serves: a PEM certificate file (leaf + chain) and its key file."""

    cert: Path
    key: Path
    leaf: x509.Certificate

    @property
    def serial(self) -> str:
        return format(self.leaf.serial_number, "x")

    @property
    def not_after(self) -> datetime:
        return self.leaf.not_valid_after_utc

    @property
    def renew_from(self) -> datetime:
        """From then on a start issues a new one (less than RENEW_REMAINING of it is left)."""
        life = self.leaf.not_valid_after_utc - self.leaf.not_valid_before_utc
        return self.leaf.not_valid_after_utc - life * RENEW_REMAINING


@dataclass(frozen=True)
class ServerNames:
    """The names ``--tls self`` puts in the server certificate."""

    dns: tuple[str, ...]
    ips: tuple[IpAddress, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.dns + tuple(str(ip) for ip in self.ips)


@dataclass(frozen=True)
class SelfIssued:
    """The outcome of :func:`ensure_self_issued`."""

    files: TlsFiles
    renewed: str | None
    """Why a new certificate was issued at this start; None when the stored one was reused."""


def check_mode(mode: str | None, cert: str | None, key: str | None) -> None:
    """The TLS options are consistent (values only; files are checked by :func:`load_files`)."""
    if mode is not None:
        if mode not in MODES:
            raise InputError(
                f"--tls {mode!r}: unknown value; expected 'self' (or give --tls-cert and --tls-key)"
            )
        if cert is not None or key is not None:
            given = "--tls-cert" if cert is not None else "--tls-key"
            raise InputError(f"--tls {mode}: cannot be combined with {given}")
    if cert is not None and key is None:
        raise InputError(f"--tls-cert {cert}: needs --tls-key too")
    if key is not None and cert is None:
        raise InputError(f"--tls-key {key}: needs --tls-cert too")


def _read(option: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as ex:
        raise InputError(f"{option} {path}: cannot be read: {ex.strerror or ex}") from ex


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_files(cert_path: Path, key_path: Path, now: datetime) -> TlsFiles:
    """The operator's ``--tls-cert`` and ``--tls-key``, checked; InputError naming the input."""
    cert_data = _read("--tls-cert", cert_path)
    key_data = _read("--tls-key", key_path)
    try:
        certs = x509.load_pem_x509_certificates(cert_data)
    except ValueError as ex:
        raise InputError(f"--tls-cert {cert_path}: not a PEM certificate") from ex
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError as ex:
        raise InputError(
            f"--tls-key {key_path}: the key is encrypted; give an unencrypted PEM key"
        ) from ex
    except (ValueError, UnsupportedAlgorithm) as ex:
        raise InputError(f"--tls-key {key_path}: not a PEM private key") from ex
    leaf = certs[0]
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        raise InputError(
            f"--tls-key {key_path}: does not match the certificate in --tls-cert {cert_path}"
        )
    if leaf.not_valid_after_utc <= now:
        raise InputError(
            f"--tls-cert {cert_path}: expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as ex:
        raise InputError(
            f"--tls-cert {cert_path}: refused by the TLS library with --tls-key {key_path}: "
            f"{ex.reason or ex}"
        ) from ex
    return TlsFiles(cert=cert_path, key=key_path, leaf=leaf)


def server_names(listen_host: str, public_url: str | None) -> ServerNames:
    """The host of ``--listen`` (unless unspecified) and of ``--public-url``, de-duplicated."""
    hosts: list[tuple[str, str]] = [("--listen", listen_host)]
    if public_url:
        host = urlsplit(public_url).hostname
        if not host:
            raise InputError(f"--public-url {public_url!r}: names no host")
        hosts.append(("--public-url", host))
    dns: list[str] = []
    ips: list[IpAddress] = []
    for _option, host in hosts:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            name = host.lower().rstrip(".")
            if name not in dns:
                dns.append(name)
            continue
        if ip.is_unspecified:
            continue
        if ip not in ips:
            ips.append(ip)
    if not dns and not ips:
        raise InputError(
            f"--tls self: --listen {listen_host} names no host a client connects to; "
            "give --public-url https://NAME:PORT for the certificate's name"
        )
    return ServerNames(tuple(dns), tuple(ips))


def _profile(service: OnlineService) -> Profile:
    profiles = service.config.profiles
    named = profiles.get(PROFILE)
    if named is not None and named.kind == "tls-server":
        return named
    for p in profiles.values():
        if p.kind == "tls-server":
            return p
    raise InputError(
        f"--tls self: {service.folder.config} defines no tls-server profile to issue the "
        "server certificate with; use --tls-cert and --tls-key"
    )


def _names_of(leaf: x509.Certificate) -> ServerNames:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ServerNames((), ())
    dns = tuple(san.get_values_for_type(x509.DNSName))
    ips = tuple(
        ip
        for ip in san.get_values_for_type(x509.IPAddress)
        if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
    )
    return ServerNames(dns, ips)


def _why_renew(
    service: OnlineService, folder: DataFolder, names: ServerNames, now: datetime
) -> str | None:
    """None when the stored certificate can be served again; else the reason to issue anew."""
    if not folder.tls_cert.exists() or not folder.tls_key.exists():
        return "none stored yet"
    try:
        certs = x509.load_pem_x509_certificates(folder.tls_cert.read_bytes())
        key = serialization.load_pem_private_key(folder.tls_key.read_bytes(), password=None)
        key_mode = folder.tls_key.stat().st_mode
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        return "the stored certificate or key is unreadable"
    leaf = certs[0]
    issuer: IssuingCa = service.issuance.issuer
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        return "the stored key does not match the stored certificate"
    if stat.S_IMODE(key_mode) & 0o077:
        return "the stored key was readable by others"
    try:
        leaf.verify_directly_issued_by(issuer.certificate)
    except (InvalidSignature, ValueError, TypeError):
        return f"the active issuer is now {issuer.id}"
    stored_chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs[1:])
    if stored_chain != issuer.chain_pem:
        return "the issuing chain changed"
    if set(_names_of(leaf).all) != set(names.all):
        return f"the names changed to {', '.join(names.all)}"
    record = service.issuance.get(format(leaf.serial_number, "x"))
    if record is None:
        return "the database does not know the stored certificate"
    if record.revoked:
        return "the stored certificate was revoked"
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    if leaf.not_valid_after_utc - now < lifetime * RENEW_REMAINING:
        return (
            f"less than a third of its lifetime remains (ends {leaf.not_valid_after_utc:%Y-%m-%d})"
        )
    return None


@contextmanager
def _locked(folder: DataFolder) -> Iterator[None]:
    """One ``serve`` at a time checks and renews (several may share a data folder)."""
    folder.tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder.tls, 0o700)
    fd = os.open(folder.tls / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _issue(
    service: OnlineService, folder: DataFolder, names: ServerNames, now: datetime
) -> x509.Certificate:
    profile = _profile(service)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names.dns]
    sans += [x509.IPAddress(ip) for ip in names.ips]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    issuer_left = service.issuance.issuer.certificate.not_valid_after_utc - now
    ttl = min(profile.default_ttl_hours, int(issuer_left.total_seconds() // 3600) - 1)
    try:
        issued = service.issuance.issue_csr(
            csr, profile.name, ACTOR, max(ttl, 0), {"purpose": "service TLS certificate"}
        )
    except PolicyError as ex:
        raise InputError(
            f"--tls self: profile {profile.name} refuses the server certificate: {ex.message}"
        ) from ex
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    replace_file(folder.tls_key, key_pem, mode=0o600)
    replace_file(folder.tls_cert, issued.full_chain_pem, mode=0o644)
    return x509.load_der_x509_certificate(issued.der)


def parse_names(values: Iterable[str]) -> ServerNames:
    """:attr:`ServerNames.all` back into names (how ``serve`` hands them to its workers)."""
    dns: list[str] = []
    ips: list[IpAddress] = []
    for value in values:
        try:
            ips.append(ipaddress.ip_address(value))
        except ValueError:
            dns.append(value)
    return ServerNames(tuple(dns), tuple(ips))


class LiveRenewal:
    """``--tls self`` in a running process: the maintenance thread calls :meth:`run`.

    When the certificate this process serves is revoked, unknown to the database or
    down to a third of its life, the stored one is served instead if another process
    renewed it already for the same names and issuer, else a new one is issued and
    stored. A stored certificate for other names or another issuer (a second ``serve``
    with another ``--listen``, one restarted after an import) never replaces a good
    one here, so two such processes do not renew in turn. Several processes on one
    data folder decide under the renewal lock; the new certificate is served from
    the next handshake on."""

    def __init__(self, service: OnlineService, names: ServerNames) -> None:
        self.service = service
        self.names = names
        try:
            self.leaf: x509.Certificate | None = x509.load_pem_x509_certificates(
                service.folder.tls_cert.read_bytes()
            )[0]
        except (OSError, ValueError):
            self.leaf = None

    def _own_due(self, now: datetime) -> str | None:
        leaf = self.leaf
        if leaf is None:
            return "none served yet"
        record = self.service.issuance.get(format(leaf.serial_number, "x"))
        if record is None:
            return "the database does not know the served certificate"
        if record.revoked:
            return "the served certificate was revoked"
        lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        if leaf.not_valid_after_utc - now < lifetime * RENEW_REMAINING:
            return (
                "less than a third of its lifetime remains "
                f"(ends {leaf.not_valid_after_utc:%Y-%m-%d})"
            )
        return None

    def run(self, now: datetime) -> SelfIssued | None:
        """Renew if due; the outcome when this process now serves another certificate
        (``renewed`` None: one another process renewed)."""
        folder = self.service.folder
        with _locked(folder):
            due = self._own_due(now)
            stored_fits = _why_renew(self.service, folder, self.names, now) is None
            stored = (
                x509.load_pem_x509_certificates(folder.tls_cert.read_bytes())[0]
                if stored_fits
                else None
            )
            if stored is not None and (self.leaf is None or stored != self.leaf):
                leaf, reason = stored, None
            elif due is None:
                return None
            else:
                leaf, reason = _issue(self.service, folder, self.names, now), due
        files = TlsFiles(folder.tls_cert, folder.tls_key, leaf)
        try:
            served_tls.serve_files(files.cert, files.key)
        except (OSError, ssl.SSLError) as ex:
            raise FaultError(f"{files.cert}: cannot be served: {ex}") from ex
        self.leaf = leaf
        return SelfIssued(files, reason)


def ensure_self_issued(service: OnlineService, names: ServerNames, now: datetime) -> SelfIssued:
    """Serve the stored certificate again, or issue a new one (see the module docstring)."""
    folder = service.folder
    with _locked(folder):
        reason = _why_renew(service, folder, names, now)
        if reason is not None:
            leaf = _issue(service, folder, names, now)
        else:
            leaf = x509.load_pem_x509_certificates(folder.tls_cert.read_bytes())[0]
    return SelfIssued(TlsFiles(folder.tls_cert, folder.tls_key, leaf), reason)
