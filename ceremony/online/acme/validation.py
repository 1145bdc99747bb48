"""The validation authority: http-01, dns-01 and tls-alpn-01 (RFC 8555 8.3/8.4, RFC 8737).

Each check returns None when the challenge is satisfied, or the problem to
record (``connection``, ``incorrectResponse``, ``dns``, ``tls``,
``unauthorized``). Connections honour the test overrides
(:class:`ceremony.online.acme_settings.AcmeTestOverrides`). A check never
takes longer than its ``timeout`` in all (a peer that answers one byte at a
time is cut off then, not only one that goes silent): a watchdog shuts the
connection down at the deadline.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from ceremony.online.acme import jose
from ceremony.online.acme.dns_client import DnsError, lookup_txt, system_nameserver
from ceremony.online.acme.problems import AcmeProblem
from ceremony.online.acme_settings import AcmeTestOverrides

ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")
MAX_BODY = 4096


def key_authorization(token: str, account_thumbprint: str) -> str:
    return f"{token}.{account_thumbprint}"


def dns01_value(key_authz: str) -> str:
    return jose.encode_b64jose(hashlib.sha256(key_authz.encode()).digest())


def _address(identifier: str, overrides: AcmeTestOverrides) -> str:
    return overrides.resolve_to or identifier


@contextmanager
def _deadline(seconds: float, sock_of: Callable[[], socket.socket | None]) -> Iterator[None]:
    """Shut the connection ``sock_of()`` down if the block is still running after
    ``seconds`` (its blocked read then fails at once)."""

    def cut() -> None:
        sock = sock_of()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def check_http01(
    identifier: str,
    token: str,
    key_authz: str,
    overrides: AcmeTestOverrides,
    timeout: float | None = None,
) -> AcmeProblem | None:
    host = _address(identifier, overrides)
    host_header = f"[{identifier}]" if ":" in identifier else identifier
    limit = timeout or overrides.validation_timeout
    conn = http.client.HTTPConnection(host, overrides.http01_port, timeout=limit)
    path = f"/.well-known/acme-challenge/{token}"
    try:
        with _deadline(limit, lambda: conn.sock):
            conn.request(
                "GET", path, headers={"Host": host_header, "User-Agent": "ceremony-online-va"}
            )
            resp = conn.getresponse()
            body = resp.read(MAX_BODY + 1)
    except (OSError, http.client.HTTPException) as ex:
        return AcmeProblem(
            "connection", f"http-01: fetching http://{identifier}{path} failed: {ex}"
        )
    finally:
        conn.close()
    if resp.status != 200:
        return AcmeProblem(
            "unauthorized", f"http-01: http://{identifier}{path} answered HTTP {resp.status}"
        )
    if len(body) > MAX_BODY:
        return AcmeProblem("unauthorized", "http-01: response body too large")
    if body.decode("utf-8", "replace").strip() != key_authz:
        return AcmeProblem("incorrectResponse", "http-01: the key authorization does not match")
    return None


def check_dns01(
    identifier: str, key_authz: str, overrides: AcmeTestOverrides, timeout: float | None = None
) -> AcmeProblem | None:
    name = "_acme-challenge." + identifier.removeprefix("*.")
    server = overrides.dns_server or system_nameserver()
    try:
        records = lookup_txt(name, server, timeout or overrides.validation_timeout)
    except DnsError as ex:
        return AcmeProblem("dns", f"dns-01: {ex}")
    if dns01_value(key_authz) in records:
        return None
    if not records:
        return AcmeProblem("unauthorized", f"dns-01: no TXT record at {name}")
    return AcmeProblem("incorrectResponse", f"dns-01: no TXT record at {name} matches")


def check_tlsalpn01(
    identifier: str, key_authz: str, overrides: AcmeTestOverrides, timeout: float | None = None
) -> AcmeProblem | None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["acme-tls/1"])
    is_ip = _is_ip(identifier)
    host = _address(identifier, overrides)
    limit = timeout or overrides.validation_timeout
    try:
        with (
            socket.create_connection((host, overrides.tlsalpn01_port), timeout=limit) as raw,
            _deadline(limit, lambda: raw),
            ctx.wrap_socket(raw, server_hostname=None if is_ip else identifier) as tls,
        ):
            if tls.selected_alpn_protocol() != "acme-tls/1":
                return AcmeProblem("tls", "tls-alpn-01: the server did not negotiate acme-tls/1")
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as ex:
        return AcmeProblem("connection", f"tls-alpn-01: handshake with {identifier} failed: {ex}")
    if not der:
        return AcmeProblem("tls", "tls-alpn-01: no certificate presented")
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except x509.ExtensionNotFound:
        return AcmeProblem("unauthorized", "tls-alpn-01: certificate lacks SAN or acmeIdentifier")
    if is_ip:
        names = [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    else:
        names = san.get_values_for_type(x509.DNSName)
    if names != [identifier] or len(list(san)) != 1:
        return AcmeProblem("unauthorized", f"tls-alpn-01: SAN must be exactly {identifier}")
    if not ext.critical:
        return AcmeProblem("unauthorized", "tls-alpn-01: acmeIdentifier must be critical")
    expected = b"\x04\x20" + hashlib.sha256(key_authz.encode()).digest()
    value = ext.value
    raw_value = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if raw_value != expected:
        return AcmeProblem("incorrectResponse", "tls-alpn-01: acmeIdentifier does not match")
    return None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
