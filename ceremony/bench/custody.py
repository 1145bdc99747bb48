"""Custody figures: SLIP-39 split and recovery, and the restore drill on its own."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from ceremony.backup.shares import ITERATION_EXPONENT, ShareSetParams, combine, split_secret
from ceremony.bundle import Bundle
from ceremony.flow.backup import BackupFacts, delete_token, restore_into
from ceremony.hsm.module import Hsm
from ceremony.hsm.protection import FULL


def split_recover(exponent: int, passphrase: bytes = b"bench passphrase") -> tuple[float, float]:
    key = secrets.token_bytes(32)
    start = time.perf_counter()
    share_set = split_secret(key, ShareSetParams(3, 5), passphrase, iteration_exponent=exponent)
    split = time.perf_counter() - start
    start = time.perf_counter()
    assert combine(share_set.mnemonics[:3], passphrase) == key
    return split, time.perf_counter() - start


def drill(bundle_dir: str) -> float:
    """Wall seconds of the restore drill on a demo bundle: shares -> scratch token -> proof."""
    bundle = Bundle(Path(bundle_dir))
    shares = (bundle.path("rehearsal/backup-shares.txt")).read_text().splitlines()[:3]
    hsm = Hsm(softhsm_home=bundle.path("rehearsal"))
    start = time.perf_counter()
    key = combine(shares, expected_check_value=BackupFacts.load(bundle).check_value)
    pins = hsm.init_token("bench-drill")
    restore_into(hsm, "bench-drill", pins.user_pin, bundle, key, FULL)
    delete_token(hsm, "bench-drill", pins.so_pin)
    return time.perf_counter() - start


__all__ = ["ITERATION_EXPONENT", "drill", "split_recover"]
