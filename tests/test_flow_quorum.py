"""Activation quorum: both token PINs split as one share set, rebuilt from any M shares."""

from __future__ import annotations

import re

import pytest

from ceremony.backup.shares import ShareSetParams, split_secret
from ceremony.errors import ShareError
from ceremony.flow.quorum import recover_pins, split_pins
from ceremony.hsm.module import TokenPins, pin_text

PINS = TokenPins(
    so_secret=bytes.fromhex("00112233445566778899aabbccddeeff"),
    user_secret=bytes.fromhex("ffeeddccbbaa99887766554433221100"),
)


def test_pin_is_32_lowercase_hex_characters() -> None:
    assert pin_text(PINS.user_secret) == "ffeeddccbbaa99887766554433221100"
    assert re.fullmatch(r"[0-9a-f]{32}", pin_text(PINS.so_secret))
    assert "0011" not in repr(PINS)


def test_any_three_of_five_rebuild_both_pins() -> None:
    share_set = split_pins(PINS, 3, 5, rehearsal=False)
    s = share_set.mnemonics
    assert len(s) == 5 and all(len(m.split()) == 33 for m in s)
    assert recover_pins([s[4], s[0], s[2]]) == PINS
    assert recover_pins([s[1], s[3], s[2], s[0]]) == PINS
    with pytest.raises(ShareError, match=r"^too few shares: 2 shares given, 3 needed$"):
        recover_pins(s[:2])


def test_one_of_one_only_in_rehearsal() -> None:
    assert recover_pins(split_pins(PINS, 1, 1, rehearsal=True).mnemonics) == PINS
    with pytest.raises(Exception, match="threshold"):
        split_pins(PINS, 1, 1, rehearsal=False)


def test_activation_and_recovery_sets_are_separate() -> None:
    activation = split_pins(PINS, 2, 3, rehearsal=False)
    recovery = split_secret(bytes(range(16)), ShareSetParams(2, 3), iteration_exponent=0)
    foreign = r"^share 2: (from another share set|same set identifier as share 1 but different)"
    with pytest.raises(ShareError, match=foreign):
        recover_pins([activation.mnemonics[0], recovery.mnemonics[0]])
    with pytest.raises(ShareError, match=r"not activation shares$"):
        recover_pins(recovery.mnemonics[:2])
