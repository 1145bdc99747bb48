"""Activation quorum: an HSM PIN that exists only as an M-of-N SLIP-39 share set.

The PIN is derived from 16 random bytes the caller draws from the HSM RNG;
those bytes, not the PIN text, are split. Activation shares form their own
set, separate from the recovery shares of the backup key, so a card of one
set is refused when entered as the other (a different set identifier).
"""

from __future__ import annotations

from collections.abc import Sequence

from ceremony.backup.shares import ShareSet, ShareSetParams, combine, split_secret
from ceremony.errors import ShareError

PIN_SECRET_BYTES = 16

# Activation sets carry no passphrase, so PBKDF2 stretching would protect
# nothing; the library default keeps every activation cheap.
ACTIVATION_ITERATION_EXPONENT = 1


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes):
        raise TypeError(f"PIN secret: expected bytes, got {type(secret).__name__}")
    if len(secret) != PIN_SECRET_BYTES:
        raise ValueError(f"PIN secret: {len(secret)} bytes, expected {PIN_SECRET_BYTES}")


def pin_from_secret(secret: bytes) -> str:
    """The PIN for ``secret``: 32 lowercase hex characters (128 bits)."""
    _check_secret(secret)
    return secret.hex()


def split_pin_secret(secret: bytes, params: ShareSetParams) -> ShareSet:
    """Split the PIN secret into the activation share set."""
    _check_secret(secret)
    return split_secret(secret, params, iteration_exponent=ACTIVATION_ITERATION_EXPONENT)


def recover_pin(mnemonics: Sequence[str]) -> str:
    """Rebuild the PIN from at least M activation shares.

    :raises ShareError: a share is bad, foreign, duplicated or too few were
        given (as :func:`ceremony.backup.shares.combine`), or the shares hold
        something other than a PIN secret (recovery shares, say).
    """
    secret = combine(mnemonics)
    if len(secret) != PIN_SECRET_BYTES:
        raise ShareError(
            f"activation shares: they hold a {len(secret)}-byte secret, not a "
            f"{PIN_SECRET_BYTES}-byte PIN secret: these are not activation shares"
        )
    return pin_from_secret(secret)
