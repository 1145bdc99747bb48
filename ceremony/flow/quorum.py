"""Activation quorum: the token PINs exist only as M-of-N SLIP-39 shares.

The SO and user PIN secrets (16 bytes each, from the HSM RNG) are joined and
split as one activation set; entering M shares rebuilds both PINs in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import shamir_mnemonic

from ceremony.errors import PolicyError, ShareError
from ceremony.hsm.module import TokenPins

ITERATION_EXPONENT = 1


def split_pins(
    pins: TokenPins, threshold: int, shares: int, rehearsal: bool
) -> tuple[int, list[str]]:
    """Return the set identifier and the activation mnemonics, one per custodian."""
    if threshold == 1 and not rehearsal:
        raise PolicyError("activation threshold 1: a single person could use the root key")
    if threshold == 1 and shares != 1:
        raise PolicyError(f"activation 1 of {shares}: threshold 1 needs exactly one share")
    groups = shamir_mnemonic.generate_mnemonics(
        1,
        [(threshold, shares)],
        pins.so_secret + pins.user_secret,
        iteration_exponent=ITERATION_EXPONENT,
    )
    mnemonics = list(groups[0])
    identifier = shamir_mnemonic.share.Share.from_mnemonic(mnemonics[0]).identifier
    return int(identifier), mnemonics


def recover_pins(mnemonics: Sequence[str]) -> TokenPins:
    try:
        secret = shamir_mnemonic.combine_mnemonics(list(mnemonics))
    except shamir_mnemonic.MnemonicError as ex:
        raise ShareError(f"activation shares: {ex}") from ex
    return TokenPins(so_secret=secret[:16], user_secret=secret[16:])
