"""The online issuing key: whoever holds the data folder's PIN still cannot take it out."""

from __future__ import annotations

import json
from pathlib import Path

import pkcs11.exceptions as px
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from ceremony.hsm import attributes
from ceremony.hsm.module import Hsm
from ceremony.online.config import DataFolder
from ceremony.online.hierarchy import PIN_FILE, SOFTHSM_DIR
from ceremony.online.intermediate import KEY_ATTRIBUTES
from ceremony.online.keystore import KeyRef

REFUSED = (px.KeyUnextractable, px.KeyNotWrappable, px.AttributeReadOnly, px.PKCS11Error)


def test_issuing_key_is_non_extractable_read_only_and_trusted_wrap_only(data_dir: Path) -> None:
    folder = DataFolder(data_dir)
    issuer = folder.issuer_dir(folder.active.read_text().strip())
    ref = KeyRef.parse((issuer / "key.ref").read_text(), "key.ref")
    recorded = json.loads((issuer / KEY_ATTRIBUTES).read_text())
    hsm = Hsm(softhsm_home=data_dir / SOFTHSM_DIR)
    pin = (data_dir / PIN_FILE).read_text().strip()
    with hsm.session(ref.params["token"], pin) as s:
        key = s.get_key(object_class=ObjectClass.PRIVATE_KEY, label=ref.params["object"])
        assert attributes.read(key) == recorded
        assert recorded["CKA_EXTRACTABLE"] is False and recorded["CKA_NEVER_EXTRACTABLE"] is True
        assert recorded["CKA_WRAP_WITH_TRUSTED"] is True and recorded["CKA_MODIFIABLE"] is False
        aes = s.generate_key(KeyType.AES, 256, store=False, template={Attribute.EXTRACTABLE: True})
        with pytest.raises(REFUSED):
            aes.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        with pytest.raises(px.AttributeSensitive):
            key[Attribute.VALUE]
        with pytest.raises(REFUSED):
            key[Attribute.EXTRACTABLE] = True
        with pytest.raises(REFUSED):
            key.copy({Attribute.MODIFIABLE: True})
