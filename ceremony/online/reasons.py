"""Revocation reasons accepted (RFC 5280 names, restricted as the CA/B Forum BRs do)."""

from __future__ import annotations

from cryptography import x509

from ceremony.errors import InputError

# name -> (RFC 5280 code, cryptography flag); "unspecified" is recorded without a reason code.
REASONS: dict[str, tuple[int, x509.ReasonFlags]] = {
    "unspecified": (0, x509.ReasonFlags.unspecified),
    "keyCompromise": (1, x509.ReasonFlags.key_compromise),
    "affiliationChanged": (3, x509.ReasonFlags.affiliation_changed),
    "superseded": (4, x509.ReasonFlags.superseded),
    "cessationOfOperation": (5, x509.ReasonFlags.cessation_of_operation),
    "privilegeWithdrawn": (9, x509.ReasonFlags.privilege_withdrawn),
}
BY_CODE = {code: name for name, (code, _flag) in REASONS.items()}


def check_reason(name: str) -> str:
    if name not in REASONS:
        raise InputError(f"reason {name!r}: must be one of {', '.join(REASONS)}")
    return name


def reason_from_code(code: int) -> str:
    if code not in BY_CODE:
        raise InputError(f"reason code {code}: must be one of {sorted(BY_CODE)}")
    return BY_CODE[code]


def crl_flag(name: str) -> x509.ReasonFlags | None:
    """The CRL entry reason code, or None when it is to be left out (unspecified)."""
    flag = REASONS[name][1]
    return None if flag is x509.ReasonFlags.unspecified else flag
