"""PKCS#11 access through python-pkcs11.

- :mod:`ceremony.hsm.module`: load a module (SoftHSM2 by default), list tokens,
  initialize a token, open sessions; PKCS#11 errors become :class:`HsmError`.
- :mod:`ceremony.hsm.capabilities`: what a token offers, read from it (PIN
  length, key types, wrap mechanism, signing mode, PIN pad): the one place
  that decides per token.
- :mod:`ceremony.hsm.protection`: the protection every CA key must have
  (templates, expected attributes, accepted weaker states);
  :mod:`ceremony.hsm.probe` finds out what a token enforces before a key
  exists; :mod:`ceremony.hsm.wrapping` makes the (SO-trusted) wrapping keys;
  :mod:`ceremony.hsm.sealing` brings a key to its end state;
  :mod:`ceremony.hsm.attributes` reads attributes back and explains each one.
- :mod:`ceremony.hsm.keys`: key generation with the safety templates, key lookup.
- :mod:`ceremony.hsm.signers`: cryptography private-key adapters that sign in the token.
"""
