"""Translate python-pkcs11 exceptions into one-line :class:`HsmError` reasons."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pkcs11.exceptions as px

from ceremony.errors import HsmError

_REASONS: dict[type[Exception], str] = {
    px.PinIncorrect: "wrong PIN",
    px.PinLocked: "PIN locked after too many wrong attempts",
    px.PinLenRange: "PIN length not accepted by the token",
    px.TokenNotPresent: "token absent",
    px.NoSuchToken: "no such token",
    px.TokenNotRecognised: "token not recognised (not initialized?)",
    px.DeviceRemoved: "device removed",
    px.DeviceError: "device error",
    px.MechanismInvalid: "mechanism not supported by the token",
    px.KeySizeRange: "key size not supported by the token",
    px.UserNotLoggedIn: "not logged in",
    px.UserAlreadyLoggedIn: "another session is already logged in",
    px.SessionClosed: "session closed",
    px.TokenWriteProtected: "token is write-protected",
    px.FunctionFailed: "the token failed the operation",
    px.GeneralError: "general token error",
    px.NoSuchKey: "no such key on the token",
    px.MultipleObjectsReturned: "more than one object matches",
    px.KeyNotWrappable: "the token refuses to wrap this key (CKR_KEY_NOT_WRAPPABLE)",
    px.KeyUnextractable: "the key cannot leave the token (CKR_KEY_UNEXTRACTABLE)",
    px.AttributeReadOnly: "the attribute cannot be changed (CKR_ATTRIBUTE_READ_ONLY)",
    px.AttributeSensitive: "the value is secret (CKR_ATTRIBUTE_SENSITIVE)",
    px.AttributeTypeInvalid: "the token does not know an attribute (CKR_ATTRIBUTE_TYPE_INVALID)",
    px.AttributeValueInvalid: "an attribute value is refused (CKR_ATTRIBUTE_VALUE_INVALID)",
    px.TemplateInconsistent: "the template is refused (CKR_TEMPLATE_INCONSISTENT)",
    px.TemplateIncomplete: "the template is incomplete (CKR_TEMPLATE_INCOMPLETE)",
    px.AnotherUserAlreadyLoggedIn: "another user is logged in (CKR_USER_ANOTHER_ALREADY_LOGGED_IN)",
}
# CKR codes python-pkcs11 0.10 has no exception class for.
_CODES = {0x1B: "the token prohibits the action (CKR_ACTION_PROHIBITED)"}


def reason(ex: Exception) -> str:
    for cls in type(ex).__mro__:
        if cls in _REASONS:
            return _REASONS[cls]
    text = str(ex)
    for code, why in _CODES.items():
        if text.endswith(f"0x{code:x}") or text.endswith(f"0x{code:02x}"):
            return why
    return f"{type(ex).__name__} {ex}".strip()


class HsmClock:
    """Wall time spent inside PKCS#11 calls in this process (for the benchmarks)."""

    seconds = 0.0


@contextmanager
def hsm_errors(what: str) -> Iterator[None]:
    """Re-raise any PKCS#11 error inside the block as ``HsmError("what: reason")``."""
    start = time.perf_counter()
    try:
        yield
    except px.PKCS11Error as ex:
        raise HsmError(f"{what}: {reason(ex)}") from ex
    finally:
        HsmClock.seconds += time.perf_counter() - start
