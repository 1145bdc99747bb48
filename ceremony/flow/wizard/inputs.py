"""Ceremony input collected before the log opens: a CSR to sign, an intermediate to revoke."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ceremony.bundle import Bundle


@dataclass(frozen=True)
class IssuedCa:
    """An intermediate CA certificate the root issued, as the revocation page lists it."""

    serial: int
    subject: str
    path: str
    revoked: bool

    @property
    def serial_hex(self) -> str:
        from ceremony.x509.serial import serial_text

        return serial_text(self.serial)


def issued_intermediates(bundle: Bundle) -> list[IssuedCa]:
    """The CA certificates in ``issued/`` signed by the bundle's root, newest CRL applied."""
    from cryptography import x509

    from ceremony.flow.crl import current_crl, issued_ca_certificates

    crl = current_crl(bundle)
    out = []
    for serial, path in issued_ca_certificates(bundle).items():
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        revoked = crl.get_revoked_certificate_by_serial_number(serial) is not None
        out.append(
            IssuedCa(
                serial,
                cert.subject.rfc4514_string(),
                path.relative_to(bundle.root).as_posix(),
                revoked,
            )
        )
    return out


def revocation_reasons() -> list[str]:
    """RFC 5280 reasons the CRL ceremony accepts, in the flow's order."""
    from ceremony.flow import crl

    return list(crl.REASONS)


def revocation_request(serial: int, reason: str) -> tuple[int, Any]:
    """What the CRL step reads from ``Context.state["revoke"]``.

    :raises InputError: the reason is not an RFC 5280 reason.
    """
    from ceremony.flow import crl

    return serial, crl.parse_reason(reason)


def signing_request(bundle: Bundle, data: bytes, source: str, name: str | None) -> Any:
    """Check a CSR before the signing ceremony opens (``signcsr.prepare_request``).

    :raises InputError: the CSR is refused; nothing is written.
    """
    from ceremony.flow import signcsr

    return signcsr.prepare_request(bundle, data, source, name or None)


def csr_file(path: Path) -> bytes:
    """A CSR file's bytes, refused when too large or not a file (``signcsr.read_csr_file``)."""
    from ceremony.flow import signcsr

    return signcsr.read_csr_file(path)


def sample_csr() -> tuple[bytes, str]:
    """The rehearsal's sample intermediate CSR and its name."""
    from ceremony import demo

    return demo.sample_csr(), demo.SAMPLE_CSR
