"""Test-only ACME validation overrides (like Pebble's), so loopback clients validate.

Never enable these on a real service: they redirect the validation
authority's connections away from what DNS says.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AcmeTestOverrides:
    """Where the validation authority connects instead of the real port/address."""

    http01_port: int = 80
    """Port for http-01 fetches (Pebble: ``httpPort``)."""
    tlsalpn01_port: int = 443
    """Port for tls-alpn-01 handshakes (Pebble: ``tlsPort``)."""
    resolve_to: str | None = None
    """Connect every identifier to this address instead of resolving it (e.g. 127.0.0.1)."""
    dns_server: tuple[str, int] | None = None
    """Ask this DNS server (UDP) for dns-01 TXT records instead of the system resolver."""
    validation_timeout: float = 10.0

    @property
    def enabled(self) -> bool:
        return (
            self.http01_port != 80
            or self.tlsalpn01_port != 443
            or self.resolve_to is not None
            or self.dns_server is not None
        )
