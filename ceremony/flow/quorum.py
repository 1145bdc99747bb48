"""Activation quorum: the token PINs exist only as M-of-N SLIP-39 shares.

The SO and user PIN secrets (16 bytes each, from the HSM RNG) are joined and
split as one activation set, separate from the recovery set; entering M
shares rebuilds both PINs in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from ceremony.backup.shares import ShareSet, ShareSetParams, combine, split_secret
from ceremony.errors import ShareError
from ceremony.hsm.capabilities import HEX_PINS, PinFormat
from ceremony.hsm.module import TokenPins

PINS_BYTES = 32

# Activation sets carry no passphrase, so PBKDF2 stretching would protect
# nothing; the library default keeps every activation cheap.
ACTIVATION_ITERATION_EXPONENT = 1


def split_pins(pins: TokenPins, threshold: int, shares: int, rehearsal: bool) -> ShareSet:
    """The activation share set, one mnemonic per custodian."""
    params = ShareSetParams(threshold=threshold, count=shares, rehearsal=rehearsal)
    return split_secret(
        pins.so_secret + pins.user_secret, params, iteration_exponent=ACTIVATION_ITERATION_EXPONENT
    )


def recover_pins(mnemonics: Sequence[str], pin_format: PinFormat = HEX_PINS) -> TokenPins:
    """Both PINs from M activation shares; recovery shares are refused by their length.

    ``pin_format``: the token's PIN shape (:meth:`ceremony.hsm.module.Hsm.pin_format`).
    """
    secret = combine(mnemonics)
    if len(secret) != PINS_BYTES:
        raise ShareError(
            f"activation shares: they hold a {len(secret)}-byte secret, not the token PINs;"
            " these are not activation shares"
        )
    return TokenPins(so_secret=secret[:16], user_secret=secret[16:], pin_format=pin_format)
