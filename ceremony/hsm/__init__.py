"""PKCS#11 access through python-pkcs11.

- :mod:`ceremony.hsm.module`: load a module (SoftHSM2 by default), list tokens,
  initialize a token, open sessions; PKCS#11 errors become :class:`HsmError`.
- :mod:`ceremony.hsm.keys`: key generation with the safety templates, key lookup.
- :mod:`ceremony.hsm.signers`: cryptography private-key adapters that sign in the token.
"""
