"""Key protection the token enforces, found out before any CA key exists.

The product's promise is that nobody holding the software and the PIN can
take a CA key out of the token. The token, not this code, has to enforce it:

- every CA private key carries ``CKA_WRAP_WITH_TRUSTED=true`` (only a key the
  security officer marked ``CKA_TRUSTED`` may wrap it; the attribute can never
  be switched off);
- the root key is extractable only between its generation and the proven
  backup; then ``CKA_EXTRACTABLE`` is turned false (PKCS#11 allows true to
  false only) and the key is made read-only (``CKA_MODIFIABLE=false``, by a
  read-only copy: tokens allow ``CKA_MODIFIABLE`` to change only when an
  object is created or copied);
- every other CA key is non-extractable and read-only from birth; a restored
  key is unwrapped into the same end state.

Tokens differ here (SoftHSM2 2.6 enforces all of it; openCryptoki 3.8's
software token knows neither ``CKA_WRAP_WITH_TRUSTED`` nor ``CKA_TRUSTED``,
ignores ``CKA_SENSITIVE`` and ``CKA_EXTRACTABLE`` in an unwrap template, and
lets a read-only key be copied into a modifiable one), so
:func:`ceremony.hsm.probe.probe` tries each property on throwaway session
objects of the same key type before the real key is made, and :func:`require`
refuses a token that lacks one, naming the attribute and the token, unless
the reviewed ceremony file accepts that weaker state with a reason.

This module holds the rules (templates, expected states); the token work is
in :mod:`ceremony.hsm.probe`, :mod:`ceremony.hsm.wrapping` and
:mod:`ceremony.hsm.sealing`; :mod:`ceremony.hsm.attributes` explains each
attribute in plain words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pkcs11 import Attribute
from pkcs11.constants import DEFAULT

from ceremony.errors import HsmError
from ceremony.hsm import attributes
from ceremony.hsm.attributes import Value

WEAKENABLE = ("CKA_WRAP_WITH_TRUSTED", "CKA_EXTRACTABLE", "CKA_MODIFIABLE")
"""Attributes a ceremony file may accept a weaker state of (``[[key_protection.accept]]``)."""


@dataclass(frozen=True)
class Weakness:
    """A protection the token does not give."""

    attribute: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"attribute": self.attribute, "detail": self.detail}


@dataclass(frozen=True)
class Protection:
    """What the token enforces, as :func:`probe` found it."""

    wrap_with_trusted: bool = True
    """The token keeps CKA_WRAP_WITH_TRUSTED and refuses a wrapping key not marked trusted."""
    trusted_by_so: bool = True
    """The security officer can mark a wrapping key CKA_TRUSTED, and it wraps such a key."""
    extractable_off: bool = True
    """CKA_EXTRACTABLE turns false and the token then refuses every wrap."""
    read_only: bool = True
    """A key can be made read-only (CKA_MODIFIABLE=false) at generation and by a copy."""
    read_only_holds: bool = True
    """A copy of a read-only key cannot be made modifiable."""
    weaknesses: tuple[Weakness, ...] = ()
    probed: tuple[str, ...] = field(default=())
    """What the probe tried, in order, for the record."""

    @property
    def trusted_wrapping(self) -> bool:
        """Generate CA keys with CKA_WRAP_WITH_TRUSTED and wrap under an SO-trusted key."""
        return self.wrap_with_trusted and self.trusted_by_so

    def as_dict(self) -> dict[str, Any]:
        return {
            "wrap_with_trusted": self.wrap_with_trusted,
            "trusted_by_so": self.trusted_by_so,
            "extractable_off": self.extractable_off,
            "read_only": self.read_only,
            "read_only_holds": self.read_only_holds,
            "weaknesses": [w.as_dict() for w in self.weaknesses],
            "probed": list(self.probed),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Protection:
        return cls(
            wrap_with_trusted=bool(data["wrap_with_trusted"]),
            trusted_by_so=bool(data["trusted_by_so"]),
            extractable_off=bool(data["extractable_off"]),
            read_only=bool(data["read_only"]),
            read_only_holds=bool(data.get("read_only_holds", True)),
            weaknesses=tuple(
                Weakness(w["attribute"], w["detail"]) for w in data.get("weaknesses", ())
            ),
            probed=tuple(data.get("probed", ())),
        )


FULL = Protection()
"""What a token that enforces everything offers (the default where nothing was probed)."""


def require(
    protection: Protection, accepted: Mapping[str, str], token: str
) -> list[tuple[Weakness, str]]:
    """The accepted weaknesses with their reasons.

    :param accepted: attribute name to the ceremony file's reason for accepting its weaker state.
    :raises HsmError: (exit 3) naming the first weakness not accepted, and the token.
    """
    out = []
    for w in protection.weaknesses:
        if w.attribute not in accepted:
            raise HsmError(
                f"{token}: refuses {w.attribute}: {w.detail}; the ceremony stops before the"
                " root key exists (a ceremony file may accept this with [[key_protection.accept]]"
                f' attribute = "{w.attribute}" and a reason)'
            )
        out.append((w, accepted[w.attribute]))
    return out


# -- templates and expected states ----------------------------------------------------------


def private_template(protection: Protection, *, wrappable: bool) -> dict[Attribute, Any]:
    """The private key template of a CA key.

    ``wrappable``: the root key of a split-wrap backup, extractable (only under a trusted key)
    until :func:`seal`; it stays modifiable until then, since a token changes
    CKA_EXTRACTABLE only on a modifiable object.
    """
    t: dict[Attribute, Any] = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: wrappable,
        Attribute.SIGN: True,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
    }
    if protection.trusted_wrapping:
        t[Attribute.WRAP_WITH_TRUSTED] = True
    if wrappable:
        t[Attribute.MODIFIABLE] = True
    elif protection.read_only:
        t[Attribute.MODIFIABLE] = False
    return t


def expected(protection: Protection, *, stage: str, on_token: bool = True) -> dict[str, Value]:
    """The attributes a CA key must read back with at ``stage``:

    ``born-wrappable`` (root key of a split-wrap backup, just generated), ``born-sealed``
    (every other CA key, just generated), ``sealed`` (root key after its proven backup),
    ``restored`` (a key unwrapped from the backup, in its end state).
    """
    e: dict[str, Value] = {
        "CKA_TOKEN": on_token,
        "CKA_PRIVATE": True,
        "CKA_SENSITIVE": True,
        "CKA_SIGN": True,
    }
    if protection.trusted_wrapping:
        e["CKA_WRAP_WITH_TRUSTED"] = True
    if stage == "born-wrappable":
        e.update(CKA_EXTRACTABLE=True, CKA_NEVER_EXTRACTABLE=False, CKA_MODIFIABLE=True)
    else:
        keeps = protection.extractable_off or stage == "born-sealed"
        e["CKA_EXTRACTABLE"] = False if keeps else None
        if protection.read_only:
            e["CKA_MODIFIABLE"] = False
    if stage in ("born-wrappable", "born-sealed", "sealed"):
        e.update(CKA_ALWAYS_SENSITIVE=True, CKA_LOCAL=True)
    if stage == "born-sealed":
        e["CKA_NEVER_EXTRACTABLE"] = True
    return e


_USAGE_OFF = ("CKA_DECRYPT", "CKA_UNWRAP", "CKA_DERIVE")


def check(attrs: Mapping[str, Value], want: Mapping[str, Value], what: str) -> None:
    """:raises HsmError: naming the first attribute that differs from ``want``."""
    for name, value in want.items():
        if value is None:
            continue
        if attrs.get(name) != value:
            raise HsmError(
                f"{what}: {name} reads back {attributes.value_text(attrs.get(name))},"
                f" expected {attributes.value_text(value)}"
            )
    for name in _USAGE_OFF:
        if attrs.get(name):
            raise HsmError(f"{what}: {name} reads back true, expected false")


def unwrap_template(protection: Protection) -> dict[Attribute, Any]:
    """The template of a key unwrapped from the backup, before :func:`seal`."""
    t = private_template(protection, wrappable=False)
    t[Attribute.MODIFIABLE] = True  # sealing may have to fix what the unwrap ignored
    # not private-key attributes: drop python-pkcs11's generic defaults
    t.update({Attribute.VERIFY: DEFAULT, Attribute.ENCRYPT: DEFAULT, Attribute.WRAP: DEFAULT})
    return t
