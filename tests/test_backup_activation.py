"""Activation quorum: PIN derivation, split and recovery of the PIN secret."""

from __future__ import annotations

import random
import re

import pytest

from ceremony.backup.activation import pin_from_secret, recover_pin, split_pin_secret
from ceremony.backup.shares import ShareSetParams, split_secret
from ceremony.errors import ShareError

PIN_SECRET = bytes.fromhex("00112233445566778899aabbccddeeff")


def test_pin_is_32_lowercase_hex_characters() -> None:
    assert pin_from_secret(PIN_SECRET) == "00112233445566778899aabbccddeeff"
    pin = pin_from_secret(random.Random(3).randbytes(16))
    assert re.fullmatch(r"[0-9a-f]{32}", pin)


@pytest.mark.parametrize(("secret", "error"), [(bytes(15), ValueError), (bytes(32), ValueError)])
def test_pin_secret_must_be_16_bytes(secret: bytes, error: type[Exception]) -> None:
    with pytest.raises(error, match="PIN secret"):
        pin_from_secret(secret)
    with pytest.raises(error, match="PIN secret"):
        split_pin_secret(secret, ShareSetParams(2, 3))


def test_pin_secret_type() -> None:
    with pytest.raises(TypeError, match="PIN secret"):
        pin_from_secret(PIN_SECRET.hex())  # type: ignore[arg-type]


def test_any_three_of_five_rebuild_the_pin() -> None:
    share_set = split_pin_secret(PIN_SECRET, ShareSetParams(3, 5))
    assert all(len(m.split()) == 20 for m in share_set.mnemonics)
    s = share_set.mnemonics
    assert recover_pin([s[4], s[0], s[2]]) == pin_from_secret(PIN_SECRET)
    with pytest.raises(ShareError, match=r"^too few shares: 2 shares given, 3 needed$"):
        recover_pin(s[:2])


def test_activation_and_recovery_sets_are_separate() -> None:
    activation = split_pin_secret(PIN_SECRET, ShareSetParams(2, 3))
    recovery = split_secret(bytes(range(32)), ShareSetParams(2, 3), iteration_exponent=0)
    # Different identifiers but for a 1-in-32768 clash, which the lengths still catch.
    foreign = r"^share 2: (from another share set|same set identifier as share 1 but different)"
    with pytest.raises(ShareError, match=foreign):
        recover_pin([activation.mnemonics[0], recovery.mnemonics[0]])
    with pytest.raises(ShareError, match=r"not activation shares$"):
        recover_pin(recovery.mnemonics[:2])
