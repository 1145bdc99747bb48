"""ACME renewal information (RFC 9773): certificate ids and suggested windows."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509

from ceremony.online.acme import jose
from ceremony.online.acme.problems import AcmeProblem


def serial_der_bytes(serial: int) -> bytes:
    """The content octets of the DER INTEGER of a positive serial."""
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def cert_id(cert: x509.Certificate) -> str:
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    if aki.key_identifier is None:
        raise ValueError("certificate has no authority key identifier")
    return (
        jose.encode_b64jose(aki.key_identifier)
        + "."
        + jose.encode_b64jose(serial_der_bytes(cert.serial_number))
    )


def parse_cert_id(text: str) -> tuple[bytes, int]:
    """(AKI keyIdentifier, serial) from a certID; ``malformed`` when it is not one."""
    aki_b64, sep, serial_b64 = text.partition(".")
    if not sep or not aki_b64 or not serial_b64:
        raise AcmeProblem("malformed", "renewal-info: certID must be AKI.serial in base64url")
    try:
        aki = jose.decode_b64jose(aki_b64)
        serial_bytes = jose.decode_b64jose(serial_b64)
    except jose.DeserializationError as ex:
        raise AcmeProblem("malformed", "renewal-info: certID is not base64url") from ex
    if not serial_bytes or serial_bytes[0] & 0x80:
        raise AcmeProblem("malformed", "renewal-info: serial must be a positive DER integer")
    return aki, int.from_bytes(serial_bytes, "big")


def suggested_window(
    not_before: datetime, not_after: datetime, revoked: bool, now: datetime
) -> tuple[datetime, datetime]:
    """Renew in the first half of the last third of the lifetime; at once if revoked."""
    if revoked:
        return now - timedelta(hours=1), now
    lifetime = not_after - not_before
    start = not_before + lifetime * 2 / 3
    end = not_before + lifetime * 5 / 6
    return start, end
