"""Bring a CA key to its end state in the token and read it back.

After the proven backup the root key is made non-extractable, and a restored
key (whose unwrap template a token may partly ignore) gets the same end
state: CKA_SENSITIVE true, CKA_EXTRACTABLE false, then a read-only copy
(CKA_MODIFIABLE=false) replaces the key, since tokens change CKA_MODIFIABLE
only when an object is created or copied.
"""

from __future__ import annotations

from typing import Any

from pkcs11 import Attribute, ObjectClass

from ceremony.errors import HsmError
from ceremony.hsm import attributes
from ceremony.hsm.attributes import Value
from ceremony.hsm.errors import hsm_errors
from ceremony.hsm.keys import KeyRef
from ceremony.hsm.protection import Protection, check, expected


def private_objects(session: Any, ref: KeyRef) -> list[Any]:
    with hsm_errors(f"key {ref.label!r}: lookup"):
        objs = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: ref.label}
            )
        )
        return [o for o in objs if bytes(o[Attribute.ID]) == ref.key_id]


def seal(
    session: Any,
    ref: KeyRef,
    protection: Protection,
    what: str,
    *,
    stage: str = "sealed",
    on_token: bool = True,
) -> dict[str, Value]:
    """Bring the key ``ref`` to its end state; return its attributes read back.

    CKA_SENSITIVE true and CKA_EXTRACTABLE false are set where they are not yet (an unwrap
    may ignore them), then a read-only copy replaces the key. A copy left by an
    interrupted run (two objects, one read-only) is kept and the other destroyed.

    :raises HsmError: the end state does not read back, naming the attribute.
    """
    objs = private_objects(session, ref)
    if len(objs) == 2 and protection.read_only:
        modes = [attributes.read(o, ("CKA_MODIFIABLE",), what)["CKA_MODIFIABLE"] for o in objs]
        if sorted(modes, key=str) == [False, True]:
            with hsm_errors(f"{what}: destroying the key left beside its read-only copy"):
                objs[modes.index(True)].destroy()
            objs = [objs[modes.index(False)]]
    if len(objs) != 1:
        raise HsmError(f"{what}: expected one private key, found {len(objs)}")
    key = objs[0]
    now = attributes.read(key, what=what)
    with hsm_errors(f"{what}: setting CKA_SENSITIVE"):
        if now["CKA_SENSITIVE"] is False:
            key[Attribute.SENSITIVE] = True
    with hsm_errors(f"{what}: turning CKA_EXTRACTABLE false"):
        if now["CKA_EXTRACTABLE"] and protection.extractable_off:
            key[Attribute.EXTRACTABLE] = False
    if protection.read_only and now["CKA_MODIFIABLE"]:
        with hsm_errors(f"{what}: read-only copy (CKA_MODIFIABLE=false)"):
            copy = key.copy({Attribute.MODIFIABLE: False})
        check(attributes.read(copy, what=what), {"CKA_MODIFIABLE": False}, what)
        with hsm_errors(f"{what}: destroying the modifiable original"):
            key.destroy()
        key = copy
    final = attributes.read(key, what=what)
    check(final, expected(protection, stage=stage, on_token=on_token), what)
    return final
