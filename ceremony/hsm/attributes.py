"""The protection attributes of a key in the token, read back and explained.

Every CA key's attributes are read from the token after each change and
recorded in the event log under their PKCS#11 names (``"CKA_EXTRACTABLE":
false``; ``null`` where the token does not know the attribute).
:func:`explain` is the one place that says in plain words what each value
means; the wizard page, the transcript and the CPS appendix all show the
same sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pkcs11.exceptions as px
from pkcs11 import Attribute

from ceremony.hsm.errors import hsm_errors

Value = bool | None
"""An attribute's value as recorded: ``None`` when the token does not know the attribute."""

# The attributes recorded for every CA private key, in the order they are shown.
KEY_ATTRIBUTES: tuple[str, ...] = (
    "CKA_TOKEN",
    "CKA_PRIVATE",
    "CKA_SENSITIVE",
    "CKA_ALWAYS_SENSITIVE",
    "CKA_EXTRACTABLE",
    "CKA_NEVER_EXTRACTABLE",
    "CKA_WRAP_WITH_TRUSTED",
    "CKA_MODIFIABLE",
    "CKA_LOCAL",
    "CKA_SIGN",
    "CKA_DECRYPT",
    "CKA_UNWRAP",
    "CKA_DERIVE",
)

_BY_NAME: dict[str, Attribute] = {
    "CKA_TOKEN": Attribute.TOKEN,
    "CKA_PRIVATE": Attribute.PRIVATE,
    "CKA_SENSITIVE": Attribute.SENSITIVE,
    "CKA_ALWAYS_SENSITIVE": Attribute.ALWAYS_SENSITIVE,
    "CKA_EXTRACTABLE": Attribute.EXTRACTABLE,
    "CKA_NEVER_EXTRACTABLE": Attribute.NEVER_EXTRACTABLE,
    "CKA_WRAP_WITH_TRUSTED": Attribute.WRAP_WITH_TRUSTED,
    "CKA_MODIFIABLE": Attribute.MODIFIABLE,
    "CKA_LOCAL": Attribute.LOCAL,
    "CKA_SIGN": Attribute.SIGN,
    "CKA_DECRYPT": Attribute.DECRYPT,
    "CKA_UNWRAP": Attribute.UNWRAP,
    "CKA_DERIVE": Attribute.DERIVE,
    "CKA_TRUSTED": Attribute.TRUSTED,
}

_SENTENCES: dict[str, dict[Value, str]] = {
    "CKA_TOKEN": {
        True: "The key is stored permanently in the HSM.",
        False: "The key is a temporary key that disappears when the HSM session ends.",
    },
    "CKA_PRIVATE": {
        True: "The key can be used only after logging in with the HSM PIN, which exists only"
        " as the custodians' activation shares.",
        False: "The key can be used without logging in to the HSM.",
    },
    "CKA_SENSITIVE": {
        True: "The HSM never shows the key's secret value, not even to someone who has the PIN.",
        False: "The HSM would show the key's secret value to someone who has the PIN.",
    },
    "CKA_ALWAYS_SENSITIVE": {
        True: "The key's secret value has been hidden from the moment the key existed.",
        False: "The HSM cannot vouch that the key was always hidden: it was brought into this"
        " HSM (restored from its backup), not made here.",
    },
    "CKA_EXTRACTABLE": {
        True: "The key can still leave the HSM, encrypted under a wrapping key; this is needed"
        " once, for the backup, and is switched off when the backup is proven.",
        False: "The key can never leave the HSM again, not even encrypted: the HSM refuses"
        " every export, and this cannot be switched back.",
    },
    "CKA_NEVER_EXTRACTABLE": {
        True: "The key has never been able to leave the HSM since it was made.",
        False: "The key was able to leave the HSM encrypted at some point (for its backup).",
    },
    "CKA_WRAP_WITH_TRUSTED": {
        True: "The key can be exported only under a key the HSM's security officer marked as"
        " trusted; a key made by anyone else, PIN or not, cannot wrap it. This cannot be"
        " switched back.",
        False: "Any wrapping key made with the HSM PIN could export this key while it can still"
        " leave the HSM.",
        None: "This HSM does not support trusted-only export (CKA_WRAP_WITH_TRUSTED): while"
        " the key can leave the HSM, any wrapping key made with the PIN could export it.",
    },
    "CKA_MODIFIABLE": {
        True: "The key's settings can still be changed by someone with the PIN; the HSM allows"
        " such changes only towards more protection for the export settings above.",
        False: "The key's settings are locked: nobody can change what the key may be used for.",
    },
    "CKA_LOCAL": {
        True: "The key was generated inside this HSM.",
        False: "The key was not generated in this HSM: it was restored into it from the backup.",
    },
    "CKA_SIGN": {
        True: "The key can sign; the ceremony software lets it sign only certificates and CRLs.",
        False: "The key cannot sign.",
    },
    "CKA_DECRYPT": {
        True: "The key can decrypt data.",
        False: "The key cannot decrypt data.",
    },
    "CKA_UNWRAP": {
        True: "The key can bring other keys into the HSM.",
        False: "The key cannot be used to bring other keys into the HSM.",
    },
    "CKA_DERIVE": {
        True: "The key can be used to derive other keys.",
        False: "The key cannot be used to derive other keys.",
    },
    "CKA_TRUSTED": {
        True: "The HSM's security officer marked this key as trusted: only such a key may"
        " wrap a key that allows trusted-only export.",
        False: "This key is not trusted by the HSM's security officer.",
    },
}

_TITLES: dict[str, str] = {
    "CKA_TOKEN": "Stored in the HSM",
    "CKA_PRIVATE": "PIN needed",
    "CKA_SENSITIVE": "Secret value never shown",
    "CKA_ALWAYS_SENSITIVE": "Always hidden",
    "CKA_EXTRACTABLE": "Can leave the HSM",
    "CKA_NEVER_EXTRACTABLE": "Never could leave",
    "CKA_WRAP_WITH_TRUSTED": "Export only under a trusted key",
    "CKA_MODIFIABLE": "Settings changeable",
    "CKA_LOCAL": "Generated in this HSM",
    "CKA_SIGN": "Signs",
    "CKA_DECRYPT": "Decrypts",
    "CKA_UNWRAP": "Imports keys",
    "CKA_DERIVE": "Derives keys",
    "CKA_TRUSTED": "Trusted by the security officer",
}


def explain(attribute: str, value: Value) -> str:
    """The sentence a custodian reads for ``attribute`` having ``value``.

    :raises KeyError: ``attribute`` is not one this product records.
    """
    sentences = _SENTENCES[attribute]
    if value in sentences:
        return sentences[value]
    return f"This HSM does not report {attribute}."


def title(attribute: str) -> str:
    """A short heading for ``attribute`` (a table column, a check-list line)."""
    return _TITLES[attribute]


def value_text(value: Value) -> str:
    return "not supported" if value is None else str(value).lower()


def pkcs11_attribute(name: str) -> Attribute:
    return _BY_NAME[name]


def read(obj: Any, names: tuple[str, ...] = KEY_ATTRIBUTES, what: str = "key") -> dict[str, Value]:
    """The attributes ``names`` of the token object ``obj`` as the token reports them now."""
    out: dict[str, Value] = {}
    for name in names:
        with hsm_errors(f"{what}: reading {name}"):
            try:
                out[name] = bool(obj[_BY_NAME[name]])
            except (px.AttributeTypeInvalid, px.AttributeSensitive):
                out[name] = None
    return out


def lines(attrs: Mapping[str, Value]) -> list[str]:
    """``NAME = value: sentence`` for each recorded attribute, in display order."""
    ordered = [a for a in KEY_ATTRIBUTES if a in attrs] + [
        a for a in attrs if a not in KEY_ATTRIBUTES and a in _SENTENCES
    ]
    return [f"{a} = {value_text(attrs[a])}: {explain(a, attrs[a])}" for a in ordered]
