"""The insider with the software and the PIN: the token, not the code, keeps the root key in.

Each attack is tried for real on SoftHSM2 2.6 with the PINs the activation
quorum rebuilds (and the SO PIN too): wrap under a session key, read the
secret value, switch CKA_EXTRACTABLE back on, wrap under a token key nobody
marked trusted, wrap under one the SO did mark trusted after the seal, copy
the key into a looser one. Each is refused by the token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pkcs11.exceptions as px
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from ceremony.config import ceremonyfile
from ceremony.errors import ConfigError, HsmError
from ceremony.flow.quorum import recover_pins
from ceremony.hsm import attributes, keys
from ceremony.hsm.keys import KeyAlgorithm, KeyRef
from ceremony.hsm.module import Hsm, TokenPins
from ceremony.hsm.protection import FULL, Protection, Weakness, require
from ceremony.hsm.sealing import seal
from ceremony.hsm.wrapping import find_wrapping_key, trusted_key_holder
from tests.helpers import pkcs11_tool

# PKCS#11 refusals that mean "this key cannot be wrapped / changed" (0x1b: CKR_ACTION_PROHIBITED,
# which python-pkcs11 0.10 reports as a bare PKCS11Error).
REFUSED = (px.KeyUnextractable, px.KeyNotWrappable, px.AttributeReadOnly, px.PKCS11Error)


def _events(bundle: Path, folder: str = "001-root") -> list[dict[str, Any]]:
    lines = (bundle / "transcripts" / folder / "events.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def _pins(bundle: Path) -> TokenPins:
    secrets = json.loads((bundle / "rehearsal/secrets.json").read_text())
    return recover_pins(secrets["activation_shares"][:3])


def _step(bundle: Path, step: str) -> dict[str, Any]:
    return next(e for e in _events(bundle) if e["step"] == step)["payload"]


def _refused(action: Any) -> str:
    """Run ``action``; it must be refused by the token. Returns the refusal's class name."""
    with pytest.raises(REFUSED) as err:
        action()
    return type(err.value).__name__


@contextmanager
def _user_session(bundle: Path, label: str = "root-ca") -> Iterator[tuple[Any, Any]]:
    hsm = Hsm(softhsm_home=bundle / "rehearsal")
    with hsm.session(label, _pins(bundle).user_pin) as s:
        yield hsm, s


def _key(session: Any, label: str) -> Any:
    return session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)


def _attack_with_the_user_pin(s: Any, label: str) -> None:
    key = _key(s, label)
    session_key = s.generate_key(
        KeyType.AES,
        256,
        store=False,
        template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False},
    )
    _refused(lambda: session_key.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD))
    with pytest.raises(px.AttributeSensitive):
        key[Attribute.VALUE]
    _refused(lambda: key.__setitem__(Attribute.EXTRACTABLE, True))
    _refused(lambda: key.__setitem__(Attribute.WRAP_WITH_TRUSTED, False))
    _refused(lambda: key.__setitem__(Attribute.DECRYPT, True))
    token_key = s.generate_key(KeyType.AES, 256, store=True, label=f"insider-{label}", template={})
    _refused(lambda: token_key.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD))
    _refused(lambda: token_key.__setitem__(Attribute.TRUSTED, True))
    _refused(lambda: key.copy({Attribute.EXTRACTABLE: True}))
    _refused(lambda: key.copy({Attribute.MODIFIABLE: True}))


def test_the_insider_with_the_user_pin_cannot_take_the_root_key_out(bundle_copy: Path) -> None:
    with _user_session(bundle_copy) as (_hsm, s):
        for label in ("root-ca-key", "transcript-signer-key"):
            _attack_with_the_user_pin(s, label)


def test_not_even_the_security_officer_can_wrap_the_sealed_root_key(bundle_copy: Path) -> None:
    """The activation shares rebuild the SO PIN too: a key the SO marks trusted is refused
    once the root key is sealed."""
    hsm = Hsm(softhsm_home=bundle_copy / "rehearsal")
    pins = _pins(bundle_copy)
    with trusted_key_holder(hsm.token("root-ca"), pins.so_pin, os.urandom(32)) as label:
        assert label is not None
        with hsm.session("root-ca", pins.user_pin) as s:
            trusted = find_wrapping_key(s, label)
            assert trusted[Attribute.TRUSTED] is True
            refusal = _refused(
                lambda: trusted.wrap_key(
                    _key(s, "root-ca-key"), mechanism=Mechanism.AES_KEY_WRAP_PAD
                )
            )
    assert refusal == "KeyUnextractable"


def test_recorded_attributes_are_what_the_token_reports(demo_bundle: Path) -> None:
    sealed = _step(demo_bundle, "root.seal")["key"]["attributes"]
    born = _step(demo_bundle, "root.key")["key"]["attributes"]
    signer = _step(demo_bundle, "signer.key")["key"]["attributes"]
    restored = _step(demo_bundle, "backup.drill")["drill"]["restored_attributes"]
    with _user_session(demo_bundle) as (_hsm, s):
        assert attributes.read(_key(s, "root-ca-key")) == sealed
        assert attributes.read(_key(s, "transcript-signer-key")) == signer
    assert born["CKA_EXTRACTABLE"] is True and born["CKA_WRAP_WITH_TRUSTED"] is True
    assert born["CKA_MODIFIABLE"] is True
    for final in (sealed, signer, restored):
        assert final["CKA_EXTRACTABLE"] is False
        assert final["CKA_WRAP_WITH_TRUSTED"] is True
        assert final["CKA_MODIFIABLE"] is False
        assert final["CKA_SENSITIVE"] is True
    assert sealed["CKA_LOCAL"] is True and sealed["CKA_ALWAYS_SENSITIVE"] is True
    assert signer["CKA_NEVER_EXTRACTABLE"] is True
    assert restored["CKA_LOCAL"] is False
    protection = _step(demo_bundle, "root.key")["protection"]
    assert protection["weaknesses"] == [] and protection["wrap_with_trusted"] is True
    assert any("attack: wrap under a key the security officer" in p for p in protection["probed"])
    backup = json.loads((demo_bundle / "backup/backup.json").read_text())
    assert backup["wrap_trusted"] is True
    assert backup["wrap_mechanism"].startswith("CKM_AES_KEY_WRAP_PAD")


def test_pkcs11_tool_reads_the_root_key_not_extractable(demo_bundle: Path) -> None:
    """An independent reader (OpenSC) sees the sealed root key as not extractable."""
    listing = pkcs11_tool(
        demo_bundle / "rehearsal/softhsm2.conf",
        "--token-label",
        "root-ca",
        "--login",
        "--pin",
        _pins(demo_bundle).user_pin,
        "--list-objects",
        "--type",
        "privkey",
    )
    blocks = {b.split("label:")[1].split()[0]: b for b in listing.split("Private Key Object")[1:]}
    access = next(line for line in blocks["root-ca-key"].splitlines() if "Access:" in line)
    assert "sensitive" in access and "extractable" not in access
    assert "never extractable" in blocks["transcript-signer-key"]


def _fresh_root(hsm: Hsm) -> tuple[TokenPins, KeyRef]:
    pins = hsm.init_token("t")
    with hsm.session("t", pins.user_pin) as s:
        ref = keys.generate_keypair(s, "root", KeyAlgorithm.ECDSA_P256, extractable=True)
    return pins, ref


def test_while_the_root_key_is_extractable_only_a_so_trusted_key_wraps_it(hsm: Hsm) -> None:
    pins, ref = _fresh_root(hsm)
    with hsm.session("t", pins.user_pin) as s:
        root = keys.private_key_object(s, ref)
        session_key = s.generate_key(KeyType.AES, 256, store=False, template={})
        assert _refused(
            lambda: session_key.wrap_key(root, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        ) == ("KeyNotWrappable")
    with trusted_key_holder(hsm.token("t"), pins.so_pin, os.urandom(32)) as label:
        assert label is not None
        with hsm.session("t", pins.user_pin) as s:
            trusted = find_wrapping_key(s, label)
            root = keys.private_key_object(s, ref)
            assert trusted.wrap_key(root, mechanism=Mechanism.AES_KEY_WRAP_PAD)
            final = seal(s, ref, FULL, "root")
            assert final["CKA_EXTRACTABLE"] is False and final["CKA_MODIFIABLE"] is False
            root = keys.private_key_object(s, ref)
            _refused(lambda: trusted.wrap_key(root, mechanism=Mechanism.AES_KEY_WRAP_PAD))
    with hsm.session("t", pins.user_pin) as s:
        # the trusted wrapping key lived only in its session: nothing is left on the token
        assert not list(s.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}))


def test_sealing_resumes_after_a_crash_between_copy_and_destroy(hsm: Hsm) -> None:
    pins, ref = _fresh_root(hsm)
    with hsm.session("t", pins.user_pin) as s:
        root = keys.private_key_object(s, ref)
        root[Attribute.EXTRACTABLE] = False
        root.copy({Attribute.MODIFIABLE: False})  # the interrupted run stopped here
        final = seal(s, ref, FULL, "root")
        assert final["CKA_MODIFIABLE"] is False
        assert keys.private_key_object(s, ref)[Attribute.MODIFIABLE] is False


def test_a_weakness_stops_the_ceremony_unless_the_file_accepts_it() -> None:
    weak = Protection(wrap_with_trusted=False, weaknesses=(Weakness("CKA_WRAP_WITH_TRUSTED", "x"),))
    with pytest.raises(HsmError, match=r"token 'T'.*refuses CKA_WRAP_WITH_TRUSTED") as err:
        require(weak, {}, "token 'T'")
    assert err.value.exit_code == 3
    assert require(weak, {"CKA_WRAP_WITH_TRUSTED": "reviewed"}, "token 'T'") == [
        (weak.weaknesses[0], "reviewed")
    ]


def test_the_ceremony_file_accepts_a_weakness_only_with_a_reason() -> None:
    base = ceremonyfile.render(ceremonyfile.rehearsal_definition()).decode()
    ok = base + '\n[[key_protection.accept]]\nattribute = "CKA_MODIFIABLE"\nreason = "vendor"\n'
    cf = ceremonyfile.parse(ok.encode())
    assert cf.accepted_weaknesses == {"CKA_MODIFIABLE": "vendor"}
    assert ceremonyfile.parse(ceremonyfile.render(cf)) == cf
    for bad, words in (
        ('attribute = "CKA_SIGN"\nreason = "x"', "not one of"),
        ('attribute = "CKA_MODIFIABLE"\nreason = " "', "a reason is required"),
    ):
        with pytest.raises(ConfigError, match=words):
            ceremonyfile.parse((base + f"\n[[key_protection.accept]]\n{bad}\n").encode())


def test_every_recorded_attribute_has_a_plain_sentence_for_each_value() -> None:
    for name in attributes.KEY_ATTRIBUTES:
        texts = {attributes.explain(name, v) for v in (True, False)}
        assert len(texts) == 2 and all(t.endswith(".") and "CKA_" not in t[:4] for t in texts)
        assert attributes.title(name)
    assert "trusted" in attributes.explain("CKA_WRAP_WITH_TRUSTED", True)
    assert "does not support" in attributes.explain("CKA_WRAP_WITH_TRUSTED", None)
    assert attributes.lines({"CKA_EXTRACTABLE": False})[0].startswith("CKA_EXTRACTABLE = false: ")
