"""The protection probe: what the token enforces, tried before a CA key exists.

Each property of :mod:`ceremony.hsm.protection` is tried on throwaway session
objects of the key type the ceremony will make, including the attacks
(wrapping under a key nobody marked trusted, wrapping after CKA_EXTRACTABLE
turned false, setting it back, changing or loosening a read-only key), and
the outcome of each try is kept for the record. Nothing is left on the token.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pkcs11.exceptions as px
from pkcs11 import Attribute, KeyType, ObjectClass

from ceremony.errors import HsmError
from ceremony.hsm import attributes
from ceremony.hsm.capabilities import Capabilities, WrapMechanism, login_pin
from ceremony.hsm.errors import hsm_errors, reason
from ceremony.hsm.keys import KeyAlgorithm, KeyRef
from ceremony.hsm.protection import (
    FULL,
    Protection,
    Weakness,
    check,
    expected,
    private_template,
    unwrap_template,
)
from ceremony.hsm.sealing import private_objects, seal
from ceremony.hsm.wrapping import (
    close_quietly,
    find_wrapping_key,
    trusted_key_holder,
    user_wrapping_key,
    wrap_params,
)

KEY_TYPES = {"ecdsa": KeyType.EC, "rsa": KeyType.RSA, "ed25519": KeyType.EC_EDWARDS}
PROBE_RSA_BITS = 2048


@dataclass
class _Probe:
    session: Any
    algorithm: KeyAlgorithm
    log: list[str] = field(default_factory=list)
    made: list[Any] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.log.append(text)

    def keypair(self, template: Mapping[Attribute, Any]) -> Any:
        from ceremony.hsm.keys import domain_parameters

        t = dict(template)
        t[Attribute.TOKEN] = False
        pub_t = {Attribute.TOKEN: False, Attribute.VERIFY: True}
        if self.algorithm.family == "rsa":
            pub, priv = self.session.generate_keypair(
                KeyType.RSA, PROBE_RSA_BITS, store=False, private_template=t, public_template=pub_t
            )
        else:
            from pkcs11 import Mechanism

            mech = Mechanism.EC_EDWARDS_KEY_PAIR_GEN if self.algorithm.family == "ed25519" else None
            params = domain_parameters(self.session, self.algorithm)
            pub, priv = params.generate_keypair(
                store=False, mechanism=mech, private_template=t, public_template=pub_t
            )
        self.made += [priv, pub]
        return priv

    def attempt(self, what: str, action: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            result = action()
        except px.PKCS11Error as ex:
            self.note(f"{what}: refused ({reason(ex)})")
            return False, ex
        self.note(f"{what}: done")
        return True, result

    def cleanup(self) -> None:
        for obj in self.made:
            try:
                obj.destroy()
            except px.PKCS11Error:
                pass


def probe(
    token: Any,
    so_pin: Any,
    user_pin: Any,
    algorithm: KeyAlgorithm,
    wrap: WrapMechanism | None,
    token_name: str,
) -> Protection:
    """Find out on throwaway session objects what the token enforces for ``algorithm`` keys.

    ``wrap``: the mechanism of a split-wrap backup, or ``None`` for a key that never leaves
    the token (hsm-native backup). Nothing is left on the token.

    :raises HsmError: the token cannot do what the ceremony cannot go without (wrap keys of
        this type at all, or bring an unwrapped key to its end state).
    """
    key = secrets.token_bytes(32)
    iv = secrets.token_bytes(16)
    with trusted_key_holder(token, so_pin, key, required=False) as trusted_label:
        with hsm_errors(f"{token_name}: login for the protection probe"):
            session = token.open(rw=True, user_pin=login_pin(token, user_pin))
        p = _Probe(session, algorithm)
        try:
            protection = _run_probe(p, key, iv, trusted_label, wrap, token_name)
        finally:
            p.cleanup()
            close_quietly(session)
    return protection


def _run_probe(
    p: _Probe,
    key: bytes,
    iv: bytes,
    trusted_label: str | None,
    wrap: WrapMechanism | None,
    token_name: str,
) -> Protection:
    p.note(
        "security officer marks a wrapping key CKA_TRUSTED: "
        + ("done" if trusted_label else "refused")
    )
    trusted_key = find_wrapping_key(p.session, trusted_label) if trusted_label else None
    base = private_template(FULL, wrappable=wrap is not None)
    base.pop(Attribute.WRAP_WITH_TRUSTED)
    base.pop(Attribute.MODIFIABLE)
    guarded = _guarded_keypair(p, base)
    weak: list[Weakness] = []
    if guarded is None:
        subject = p.keypair(base)
        if wrap is not None:
            weak.append(Weakness("CKA_WRAP_WITH_TRUSTED", "the token does not keep it on a key"))
    else:
        subject = guarded
    wrapped = b""
    if wrap is None:
        wwt, trusted, extractable_off = guarded is not None, trusted_key is not None, True
    else:
        wwt, trusted, extractable_off, wrapped = _probe_wrapping(
            p, key, iv, trusted_key, wrap, token_name, base, guarded, weak
        )
    read_only, holds = _probe_read_only(p, subject)
    if not read_only:
        weak.append(Weakness("CKA_MODIFIABLE", "the token cannot make a key read-only"))
    elif not holds:
        weak.append(
            Weakness(
                "CKA_MODIFIABLE",
                "the token copies a read-only key into a modifiable one, so read-only does"
                " not hold",
            )
        )
    protection = Protection(
        wrap_with_trusted=wwt,
        trusted_by_so=trusted,
        extractable_off=extractable_off,
        read_only=read_only,
        read_only_holds=holds,
        weaknesses=tuple(_unique(weak)),
    )
    born = p.keypair(private_template(protection, wrappable=False))
    check(
        attributes.read(born, what="probe key"),
        expected(protection, stage="born-sealed", on_token=False),
        f"{token_name}: a non-extractable key",
    )
    p.note("non-extractable read-only key generated: attributes read back")
    if wrap is not None:
        _probe_unwrap(p, key, iv, wrapped, wrap, protection, token_name)
    return Protection(**{**protection.__dict__, "probed": tuple(p.log)})


def _guarded_keypair(p: _Probe, base: Mapping[Attribute, Any]) -> Any:
    """A probe key generated with CKA_WRAP_WITH_TRUSTED that reads it back, else None."""
    what = f"{p.algorithm.description} key generated with CKA_WRAP_WITH_TRUSTED"
    ok, key = p.attempt(what, lambda: p.keypair({**base, Attribute.WRAP_WITH_TRUSTED: True}))
    if not ok:
        return None
    if attributes.read(key, ("CKA_WRAP_WITH_TRUSTED",))["CKA_WRAP_WITH_TRUSTED"] is not True:
        p.note("CKA_WRAP_WITH_TRUSTED does not read back true")
        return None
    return key


def _probe_wrapping(
    p: _Probe,
    key: bytes,
    iv: bytes,
    trusted_key: Any,
    wrap: WrapMechanism,
    token_name: str,
    base: Mapping[Attribute, Any],
    guarded: Any,
    weak: list[Weakness],
) -> tuple[bool, bool, bool, bytes]:
    """(trusted-only wrapping enforced, SO-trusted key wraps, CKA_EXTRACTABLE turns off for
    good, a wrapped probe key)."""
    alg = p.algorithm.description
    params = wrap_params(wrap, iv)
    with user_wrapping_key(p.session, key) as untrusted:
        plain = p.keypair(base)
        ok, _ = p.attempt(
            f"{alg} key wrapped with {wrap.value}", lambda: untrusted.wrap_key(plain, **params)
        )
        if not ok:
            raise HsmError(
                f"{token_name}: cannot wrap {alg} keys with {wrap.value}: the M-of-N backup of"
                " such a root key is impossible on it; choose another key type or backup method ="
                ' "hsm-native"'
            )
        wwt = guarded is not None
        trusted = trusted_key is not None
        if wwt:
            escaped, _ = p.attempt(
                "attack: wrap under a key the security officer did not mark trusted",
                lambda: untrusted.wrap_key(guarded, **params),
            )
            if escaped:
                wwt = False
                weak.append(
                    Weakness(
                        "CKA_WRAP_WITH_TRUSTED",
                        "the token ignores it: a wrapping key nobody marked trusted exported a"
                        " key that has it",
                    )
                )
        if wwt and not trusted:
            weak.append(
                Weakness(
                    "CKA_WRAP_WITH_TRUSTED",
                    "the security officer cannot mark a wrapping key CKA_TRUSTED",
                )
            )
        elif wwt:
            trusted, _ = p.attempt(
                "wrap under the key the security officer marked trusted",
                lambda: trusted_key.wrap_key(guarded, **params),
            )
            if not trusted:
                weak.append(
                    Weakness(
                        "CKA_WRAP_WITH_TRUSTED",
                        "a key the security officer marked trusted cannot wrap it",
                    )
                )
        use_trusted = wwt and trusted
        subject = guarded if use_trusted else plain
        wrapper = trusted_key if use_trusted else untrusted
        with hsm_errors(f"{token_name}: wrapping a {alg} key"):
            wrapped = bytes(wrapper.wrap_key(subject, **params))
        off, _ = p.attempt("CKA_EXTRACTABLE turned false", lambda: _set(subject, False))
        escaped_after, _ = p.attempt(
            "attack: wrap after CKA_EXTRACTABLE turned false",
            lambda: wrapper.wrap_key(subject, **params),
        )
        back, _ = p.attempt("attack: CKA_EXTRACTABLE set back to true", lambda: _set(subject, True))
    extractable_off = off and not escaped_after and not back
    if not extractable_off:
        weak.append(
            Weakness(
                "CKA_EXTRACTABLE",
                "it cannot be turned false for good: the root key would stay wrappable",
            )
        )
    return wwt, use_trusted, extractable_off, wrapped


def _set(obj: Any, extractable: bool) -> None:
    obj[Attribute.EXTRACTABLE] = extractable


def _probe_read_only(p: _Probe, subject: Any) -> tuple[bool, bool]:
    ok, copy = p.attempt(
        "read-only copy (CKA_MODIFIABLE=false)", lambda: subject.copy({Attribute.MODIFIABLE: False})
    )
    if not ok:
        return False, False
    p.made.append(copy)
    if attributes.read(copy, ("CKA_MODIFIABLE",))["CKA_MODIFIABLE"] is not False:
        return False, False
    changed, _ = p.attempt(
        "attack: change the read-only key's label", lambda: copy.__setitem__(Attribute.LABEL, "x")
    )
    loosened, again = p.attempt(
        "attack: copy the read-only key into a modifiable one",
        lambda: copy.copy({Attribute.MODIFIABLE: True}),
    )
    if loosened:
        p.made.append(again)
    return not changed, not loosened


def _probe_unwrap(
    p: _Probe,
    key: bytes,
    iv: bytes,
    wrapped: bytes,
    wrap: WrapMechanism,
    protection: Protection,
    token_name: str,
) -> None:
    t = unwrap_template(protection)
    t[Attribute.TOKEN] = False
    t[Attribute.LABEL] = f"probe-{secrets.token_hex(4)}"
    key_id = secrets.token_bytes(8)
    with user_wrapping_key(p.session, key) as aes:
        with hsm_errors(f"{token_name}: unwrapping a {p.algorithm.description} key"):
            obj = aes.unwrap_key(
                ObjectClass.PRIVATE_KEY,
                KEY_TYPES[p.algorithm.family],
                wrapped,
                id=key_id,
                label=t[Attribute.LABEL],
                store=False,
                template=t,
                **wrap_params(wrap, iv),
            )
    p.made.append(obj)
    fixed = [
        n
        for n, v in attributes.read(obj, ("CKA_SENSITIVE", "CKA_EXTRACTABLE")).items()
        if v is not (n == "CKA_SENSITIVE")
    ]
    if fixed:
        p.note(f"unwrap ignored {', '.join(fixed)} of its template; sealing sets them")
    ref = KeyRef(str(t[Attribute.LABEL]), key_id, p.algorithm)
    seal(
        p.session,
        ref,
        protection,
        f"{token_name}: an unwrapped key",
        stage="restored",
        on_token=False,
    )
    for o in private_objects(p.session, ref):
        p.made.append(o)
    p.note("unwrapped key brought to its end state: attributes read back")


def _unique(weak: list[Weakness]) -> list[Weakness]:
    seen: set[str] = set()
    out = []
    for w in weak:
        if w.attribute not in seen:
            seen.add(w.attribute)
            out.append(w)
    return out


_FAMILY_PROBES = {
    "ecdsa": KeyAlgorithm.ECDSA_P256,
    "rsa": KeyAlgorithm.RSA_3072,
    "ed25519": KeyAlgorithm.ED25519,
}


def wrappable_families(
    token: Any, caps: Capabilities, only: Iterable[str] | None = None
) -> frozenset[str] | None:
    """The key families (``ecdsa``, ``rsa``, ``ed25519``) the token can wrap with its wrap
    mechanism, tried in a public session on throwaway public session objects (no PIN);
    ``None`` where that cannot be tried (a token not initialized, or one that refuses
    public session objects).

    A key type the token can make but not wrap (Ed25519 on SoftHSM2 2.6) cannot have a
    split-wrap backup: it is offered only with the hsm-native backup.
    """
    wrap = caps.wrap_mechanism
    if wrap is None:
        return frozenset()
    try:
        session = token.open(rw=True)
    except px.PKCS11Error:
        return None
    out = set()
    try:
        try:
            aes = session.generate_key(
                KeyType.AES,
                256,
                store=False,
                template={Attribute.PRIVATE: False, Attribute.WRAP: True, Attribute.TOKEN: False},
            )
        except px.PKCS11Error:
            return None
        for family, algorithm in _FAMILY_PROBES.items():
            if caps.missing_for(algorithm) or (only is not None and family not in only):
                continue
            wraps = _public_wrap(session, aes, algorithm, wrap)
            if wraps is None:
                return None
            if wraps:
                out.add(family)
    finally:
        close_quietly(session)
    return frozenset(out)


def _public_wrap(
    session: Any, aes: Any, algorithm: KeyAlgorithm, wrap: WrapMechanism
) -> bool | None:
    """Whether a public session key pair of ``algorithm`` wraps under ``aes``; None when the
    token refuses to make one."""
    p = _Probe(session, algorithm)
    template = {
        Attribute.PRIVATE: False,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: True,
        Attribute.SIGN: True,
    }
    try:
        made, key = p.attempt(algorithm.value, lambda: p.keypair(template))
        if not made:
            return None
        params = wrap_params(wrap, bytes(16))
        wrapped, _ = p.attempt(f"{algorithm.value} wrapped", lambda: aes.wrap_key(key, **params))
        return wrapped
    finally:
        p.cleanup()
