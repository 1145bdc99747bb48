"""M-of-N custody: SLIP-39 share sets, the activation quorum and share cards.

Pure software, no HSM calls: the backup key and PIN secrets come in as bytes
from the caller (who draws them from the HSM RNG) and leave as mnemonics.
"""
