"""The text rules for every name a person enters or reviews.

Participant names, the place, the ceremony's name, labels, the subject of a
certificate, DNS names and URLs of a profile: each goes through one of the
functions here before anything is made from it. The rules:

- Unicode NFC (a name has one encoding, so two spellings are never two people);
- no control characters, no bidirectional overrides or isolates, no zero-width
  or other invisible formatting characters, no private-use or unassigned code
  points, only the ordinary space (no tab, no no-break space), none at either
  end and never two in a row;
- a length bound;
- for X.509 names: code points assigned in Unicode 3.2 and the rest of the
  RFC 4518 string preparation (stringprep tables, bidi rule), so every
  verifier can compare the name; for DNS names: ASCII letters, digits and
  hyphens (internationalized names as IDNA A-labels).

Each ``check_*`` function returns its input unchanged when it passes and raises
:class:`~ceremony.errors.InputError` (or the ``error`` class given) whose
one-line message names the input and the reason. :func:`problem` returns the
reason alone, for callers that word the message themselves.
"""

from __future__ import annotations

import re
import stringprep
import unicodedata
from urllib.parse import urlsplit

from ceremony.errors import InputError

TOKEN_LABEL_BYTES = 32
"""A PKCS#11 token label is 32 bytes of UTF-8, padded with spaces (CK_TOKEN_INFO)."""

PERSON_MAX = 80
PLACE_MAX = 200
LABEL_MAX = 64

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_FORBIDDEN_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Cs": "a surrogate code point",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
_LDH_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _describe(c: str) -> str:
    name = unicodedata.name(c, "")
    return f"U+{ord(c):04X}" + (f" {name}" if name else "")


def problem(value: str, max_length: int = PERSON_MAX, *, x509: bool = False) -> str | None:
    """Why ``value`` breaks the text rules, or None when it passes."""
    if not isinstance(value, str):
        return "is not text"
    if not value:
        return "is empty"
    if len(value) > max_length:
        return f"is {len(value)} characters long; at most {max_length}"
    for c in value:
        if c in _BIDI_CONTROLS:
            return f"contains {_describe(c)}, a bidirectional control that reorders what is shown"
        category = unicodedata.category(c)
        if category in _FORBIDDEN_CATEGORIES:
            return f"contains {_describe(c)}, {_FORBIDDEN_CATEGORIES[category]}"
        if category == "Zs" and c != " ":
            return f"contains {_describe(c)}; use the ordinary space"
    if not unicodedata.is_normalized("NFC", value):
        return "is not in Unicode NFC form (it has decomposed characters); save it as NFC"
    if value != value.strip(" "):
        return "begins or ends with a space"
    if "  " in value:
        return "has two spaces in a row"
    if x509:
        return _x509_problem(value)
    return None


def _x509_problem(value: str) -> str | None:
    """RFC 4518 string preparation, as certificate libraries apply it to compare names."""
    for c in value:
        if stringprep.in_table_a1(c):
            return f"contains {_describe(c)}, unassigned in Unicode 3.2 (RFC 4518 refuses it)"
        if c == "\ufffd":
            return "contains U+FFFD, the replacement character (the text was damaged)"
        if stringprep.in_table_c8(c) or stringprep.in_table_c3(c) or stringprep.in_table_c4(c):
            return f"contains {_describe(c)}, which RFC 4518 prohibits in names"
    prepared = unicodedata.normalize("NFKC", "".join(stringprep.map_table_b2(c) for c in value))
    rtl = [stringprep.in_table_d1(c) for c in prepared]
    if any(rtl):
        ltr = any(stringprep.in_table_d2(c) for c in prepared)
        if ltr or not (rtl[0] and rtl[-1]):
            return (
                "mixes right-to-left and left-to-right letters, or does not begin and end"
                " with a right-to-left letter (RFC 4518 bidi rule)"
            )
    return None


def check(
    value: str,
    what: str,
    max_length: int = PERSON_MAX,
    *,
    x509: bool = False,
    error: type[InputError] = InputError,
) -> str:
    """``value`` if it passes the text rules; else ``error`` naming ``what`` and the reason."""
    reason = problem(value, max_length, x509=x509)
    if reason is not None:
        raise error(f"{what} {value!r}: {reason}")
    return value


def check_person(value: str, what: str = "participant name") -> str:
    return check(value, what, PERSON_MAX)


def typed(value: str) -> str:
    """What a person typed into a field, in the form the rules expect: NFC, blanks trimmed,
    runs of spaces made one. Call :func:`check` on the result."""
    return re.sub(" {2,}", " ", unicodedata.normalize("NFC", value)).strip(" ")


def name_key(value: str) -> str:
    """The form in which two names are the same name (case and compatibility forms folded)."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


# ------------------------------------------------------------------ labels


def check_token_label(value: str, what: str = "token label") -> str:
    """A label a token is initialized with or looked up by: 1 to 32 bytes of UTF-8 under the
    text rules; no space at the end (the token pads with spaces, so it would be lost)."""
    if isinstance(value, str) and value.endswith(" "):
        raise InputError(
            f"{what} {value!r}: ends with a space; the token pads labels with spaces, so it"
            " would name the same token as without it"
        )
    check(value, what, TOKEN_LABEL_BYTES)
    if len(value.encode()) > TOKEN_LABEL_BYTES:
        raise InputError(
            f"{what} {value!r}: {len(value.encode())} bytes of UTF-8; a token label holds"
            f" at most {TOKEN_LABEL_BYTES}"
        )
    return value


def stored_label(value: str | bytes) -> bytes:
    """The 32 bytes a token stores for a label: UTF-8 padded with spaces. Two labels name the
    same token exactly when these are equal."""
    raw = value if isinstance(value, bytes) else value.encode()
    raw = raw.rstrip(b" \x00")
    return raw[:TOKEN_LABEL_BYTES].ljust(TOKEN_LABEL_BYTES, b" ")


def same_label(a: str | bytes, b: str | bytes) -> bool:
    return stored_label(a) == stored_label(b)


def check_key_label(value: str, what: str = "key label") -> str:
    """A PKCS#11 object label (CKA_LABEL) the ceremony creates."""
    return check(value, what, LABEL_MAX)


# ------------------------------------------------------------ network names


def dns_problem(value: str, *, allow_leading_dot: bool = True) -> str | None:
    """Why ``value`` is not a DNS name for a certificate (LDH labels, A-labels), or None."""
    if not value:
        return "is empty"
    if not value.isascii():
        try:
            a_label = value.encode("idna").decode("ascii")
        except UnicodeError:
            return "is not ASCII and not a valid internationalized domain name"
        return f"is not ASCII; write the IDNA A-label form {a_label!r}"
    name = value[1:] if allow_leading_dot and value.startswith(".") else value
    if len(name) > 253:
        return f"is {len(name)} characters long; a DNS name has at most 253"
    if "*" in name:
        return "contains a wildcard; name constraints take a domain, not a pattern"
    labels = name.lower().split(".")
    for label in labels:
        if not label:
            return "has an empty label (two dots in a row, or a dot at an end)"
        if not _LDH_LABEL.match(label):
            return (
                f"label {label!r} is not letters, digits and inner hyphens of at most 63 characters"
            )
    return None


def check_dns_name(value: str, what: str, *, error: type[InputError] = InputError) -> str:
    reason = dns_problem(value)
    if reason is not None:
        raise error(f"{what} {value!r}: {reason}")
    return value


def check_url(
    value: str, what: str, schemes: tuple[str, ...], *, error: type[InputError] = InputError
) -> str:
    """An http:// (or other ``schemes``) URL written into certificates: printable ASCII,
    no spaces, a host that is a DNS name."""
    if not value.isascii() or any(not c.isprintable() or c == " " for c in value):
        raise error(f"{what} {value!r}: only printable ASCII without spaces is allowed in a URL")
    if len(value) > 2000:
        raise error(f"{what}: {len(value)} characters; at most 2000")
    parts = urlsplit(value)
    if f"{parts.scheme}://" not in schemes:
        raise error(f"{what} {value!r}: must start with {' or '.join(schemes)}")
    host = parts.hostname or ""
    reason = dns_problem(host, allow_leading_dot=False) if not _is_ip(host) else None
    if reason is not None:
        raise error(f"{what} {value!r}: host {reason}")
    return value


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- secrets


def check_passphrase(value: str, what: str = "passphrase") -> str:
    """A backup passphrase: printable ASCII (SLIP-39 encrypts with its bytes). Never shown."""
    if any(not (" " <= c <= "~") for c in value):
        raise InputError(f"{what}: only printable ASCII characters are allowed")
    return value


def without_bom(text: str) -> str:
    """Text read from a file, without the byte-order mark some editors put first."""
    return text.removeprefix("\ufeff")
