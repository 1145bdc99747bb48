"""SLIP-39 share sets for M-of-N custody, built on ``shamir-mnemonic``.

Holds the share-set parameters and their policy (:class:`ShareSetParams`),
splitting (:func:`split_secret`), recombination with errors that name the
offending share (:func:`combine`, :class:`ShareCollector`), the key check
value that catches a wrong passphrase or a wrong set (:func:`check_value`),
and the custodian proof by re-entering random words (:func:`word_challenge`,
:func:`check_words`).

Nothing here logs or writes a secret; mnemonics are kept out of ``repr``.
"""

from __future__ import annotations

import hmac
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shamir_mnemonic
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from shamir_mnemonic import constants, rs1024, wordlist
from shamir_mnemonic.shamir import ShareGroup, recover_ems

from ceremony.errors import InputError, ShareError

# SLIP-39 stretches the passphrase with PBKDF2-HMAC-SHA256, (10000 << e)
# iterations in all, on every split and every recovery. Exponent 6 gives
# 640,000 iterations: just above OWASP's 2023 floor of 600,000 for
# PBKDF2-HMAC-SHA256, which matters because backup.json publishes the key's
# check value, so whoever holds M shares can test passphrase guesses offline at
# this cost each. It costs 0.25-0.6 s per split and per recovery on a 2-core
# VM, which a ceremony pays two or three times (split, restore drill,
# restore); each step up doubles it. Without a passphrase the stretching
# protects nothing and costs only that time.
ITERATION_EXPONENT = 6

MAX_SHARES: int = int(constants.MAX_SHARE_COUNT)

_WORDS: tuple[str, ...] = tuple(str(w) for w in wordlist.WORDLIST)
_INDEX: dict[str, int] = {w: i for i, w in enumerate(_WORDS)}
_PREFIX_LEN = 4
_BY_PREFIX: dict[str, str] = {w[:_PREFIX_LEN]: w for w in _WORDS}
_HEADER_WORDS: int = int(constants.ID_EXP_LENGTH_WORDS)
_META_WORDS: int = int(constants.METADATA_LENGTH_WORDS)
_MIN_WORDS: int = int(constants.MIN_MNEMONIC_LENGTH_WORDS)
_RADIX_BITS: int = int(constants.RADIX_BITS)
_EXP_BITS: int = int(constants.ITERATION_EXP_LENGTH_BITS)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: expected int, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class ShareSetParams:
    """Shape and policy of one share set, validated when constructed.

    A single-level set is ``ShareSetParams(M, N)``: any M of the N shares
    rebuild the secret. A two-level set (SLIP-39 groups) is easiest made with
    :meth:`two_level`; there ``threshold`` is the fewest shares that can
    rebuild the secret and ``count`` the number of shares in all.

    :raises TypeError: a field has the wrong type.
    :raises InputError: the values break SLIP-39 or the custody policy.
    """

    threshold: int
    """M: shares needed (for a two-level set, the fewest that can suffice)."""
    count: int
    """N: shares made, one per custodian, in custodian order."""
    group_threshold: int = 1
    """Groups needed; 1 for a single-level set."""
    groups: tuple[tuple[int, int], ...] = ()
    """``(member_threshold, member_count)`` per group; empty for a single-level set."""
    rehearsal: bool = False
    """A rehearsal may use threshold 1 (with a single share); a real ceremony may not."""

    def __post_init__(self) -> None:
        m = _check_int("threshold", self.threshold)
        n = _check_int("count", self.count)
        gt = _check_int("group_threshold", self.group_threshold)
        if not isinstance(self.rehearsal, bool):
            raise TypeError(f"rehearsal: expected bool, got {type(self.rehearsal).__name__}")
        if not isinstance(self.groups, tuple) or not all(
            isinstance(g, tuple) and len(g) == 2 for g in self.groups
        ):
            raise TypeError("groups: expected a tuple of (member_threshold, member_count) pairs")
        for g in self.groups:
            _check_int("groups member_threshold", g[0])
            _check_int("groups member_count", g[1])
        if self.groups:
            self._validate_groups(m, n, gt)
        else:
            self._validate_single(m, n, gt)

    def _validate_single(self, m: int, n: int, gt: int) -> None:
        what = f"share set {m} of {n}"
        if gt != 1:
            raise InputError(f"{what}: group threshold {gt} given without groups")
        if not 1 <= m <= n <= MAX_SHARES:
            raise InputError(f"{what}: need 2 <= M <= N <= {MAX_SHARES}")
        if m == 1 and not self.rehearsal:
            raise InputError(
                f"{what}: threshold 1 lets one custodian alone rebuild the secret; "
                "allowed only in a rehearsal"
            )
        if m == 1 and n != 1:
            raise InputError(f"{what}: SLIP-39 allows threshold 1 only with a single share")

    def _validate_groups(self, m: int, n: int, gt: int) -> None:
        desc = ", ".join(f"{t} of {c}" for t, c in self.groups)
        what = f"share set of {gt} of {len(self.groups)} groups ({desc})"
        if len(self.groups) > MAX_SHARES:
            raise InputError(f"{what}: at most {MAX_SHARES} groups")
        if not 1 <= gt <= len(self.groups):
            raise InputError(f"{what}: need 1 <= group threshold <= number of groups")
        for i, (t, c) in enumerate(self.groups, 1):
            if not 1 <= t <= c <= MAX_SHARES:
                raise InputError(
                    f"{what}: group {i} is {t} of {c}; need 1 <= M <= N <= {MAX_SHARES}"
                )
            if t == 1 and c != 1:
                raise InputError(
                    f"{what}: group {i} is 1 of {c}; SLIP-39 allows member threshold 1 "
                    "only with a single share"
                )
        fewest = _fewest_shares(gt, self.groups)
        total = sum(c for _, c in self.groups)
        if m != fewest:
            raise InputError(f"{what}: threshold {m} given, but the fewest shares are {fewest}")
        if n != total:
            raise InputError(f"{what}: count {n} given, but the groups hold {total} shares")
        if fewest < 2 and not self.rehearsal:
            raise InputError(
                f"{what}: a single share rebuilds the secret; allowed only in a rehearsal"
            )

    @classmethod
    def two_level(
        cls,
        group_threshold: int,
        groups: tuple[tuple[int, int], ...],
        *,
        rehearsal: bool = False,
    ) -> ShareSetParams:
        """A two-level set: any ``group_threshold`` groups, each by its own M of N."""
        if not isinstance(groups, tuple):
            raise TypeError("groups: expected a tuple of (member_threshold, member_count) pairs")
        if not groups:
            raise InputError("share set: a two-level set needs at least one group")
        try:
            count = sum(int(c) for _, c in groups)
        except (TypeError, ValueError):
            count = 0
        threshold = _fewest_shares(group_threshold, groups)
        return cls(threshold, count, group_threshold, groups, rehearsal)

    @property
    def slip39_groups(self) -> tuple[tuple[int, int], ...]:
        """The groups as SLIP-39 takes them: ``((M, N),)`` for a single-level set."""
        return self.groups or ((self.threshold, self.count),)


def _fewest_shares(group_threshold: int, groups: Sequence[Sequence[int]]) -> int:
    try:
        return sum(sorted(int(g[0]) for g in groups)[: int(group_threshold)])
    except (TypeError, IndexError, ValueError):
        return 0


@dataclass(frozen=True)
class ShareSet:
    """The mnemonics of one split, with the set's public facts."""

    identifier: int
    """SLIP-39 15-bit set identifier, shared by every share of the set."""
    threshold: int
    """M (for a two-level set, the fewest shares that can suffice)."""
    count: int
    """N: number of mnemonics."""
    group_threshold: int
    """Groups needed; 1 for a single-level set."""
    groups: tuple[tuple[int, int], ...]
    """``(member_threshold, member_count)`` per group, as SLIP-39 encodes them."""
    iteration_exponent: int
    """SLIP-39 PBKDF2 exponent the shares record."""
    mnemonics: tuple[str, ...] = field(repr=False)
    """One mnemonic per custodian, groups flattened in order. Secret."""

    @property
    def set_id(self) -> str:
        """Short printable set identifier for cards and transcripts."""
        return format_set_id(self.identifier)


def format_set_id(identifier: int) -> str:
    return f"id {identifier:05d}"


def _check_passphrase(passphrase: bytes) -> None:
    if not isinstance(passphrase, bytes):
        raise TypeError(f"passphrase: expected bytes, got {type(passphrase).__name__}")
    if not all(32 <= c <= 126 for c in passphrase):
        raise InputError("passphrase: only printable ASCII characters (codes 32-126) are allowed")


def split_secret(
    secret: bytes,
    params: ShareSetParams,
    passphrase: bytes = b"",
    *,
    iteration_exponent: int = ITERATION_EXPONENT,
) -> ShareSet:
    """Split ``secret`` (16 bytes or more, even length) into the share set ``params`` describes.

    :raises TypeError: an argument has the wrong type.
    :raises ValueError: the secret length or the iteration exponent is out of range.
    :raises InputError: the passphrase has characters SLIP-39 refuses.
    """
    if not isinstance(secret, bytes):
        raise TypeError(f"secret: expected bytes, got {type(secret).__name__}")
    if not isinstance(params, ShareSetParams):
        raise TypeError(f"params: expected ShareSetParams, got {type(params).__name__}")
    if len(secret) < 16 or len(secret) % 2:
        raise ValueError(f"secret: {len(secret)} bytes; SLIP-39 needs 16 or more, an even number")
    if not 0 <= _check_int("iteration_exponent", iteration_exponent) <= 15:
        raise ValueError(f"iteration_exponent {iteration_exponent}: must be 0..15")
    _check_passphrase(passphrase)
    groups = params.slip39_groups
    grouped = shamir_mnemonic.generate_mnemonics(
        params.group_threshold,
        list(groups),
        secret,
        passphrase,
        extendable=True,
        iteration_exponent=iteration_exponent,
    )
    mnemonics = tuple(str(m) for group in grouped for m in group)
    first = shamir_mnemonic.Share.from_mnemonic(mnemonics[0])
    return ShareSet(
        identifier=int(first.identifier),
        threshold=params.threshold,
        count=params.count,
        group_threshold=params.group_threshold,
        groups=groups,
        iteration_exponent=iteration_exponent,
        mnemonics=mnemonics,
    )


def check_value(key: bytes) -> str:
    """Key check value: hex of the first 8 bytes of AES-ECB(key, 16 zero bytes).

    The backup key is AES-256, so this is AES-256-ECB; a 16-byte secret (an
    activation PIN secret) gives the AES-128 value. The HSM side computes the
    same by encrypting one zero block with ``CKM_AES_ECB`` under the key
    object, so a rebuilt key and a token key can be compared without either
    leaving its home.
    """
    if not isinstance(key, bytes):
        raise TypeError(f"key: expected bytes, got {type(key).__name__}")
    if len(key) not in (16, 24, 32):
        raise ValueError(f"key: {len(key)} bytes; an AES key has 16, 24 or 32")
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    block = encryptor.update(bytes(16)) + encryptor.finalize()
    return block[:8].hex()


# ---------------------------------------------------------------- parsing


def _expand(token: str) -> str | None:
    if token in _INDEX:
        return token
    if len(token) >= _PREFIX_LEN:
        word = _BY_PREFIX.get(token[:_PREFIX_LEN])
        if word is not None and word.startswith(token):
            return word
    return None


def word_known(token: str) -> bool:
    """True when ``token`` names one SLIP-39 word (in full or by its first four letters)."""
    return _expand(token.lower()) is not None


def _distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]


def suggest_word(token: str) -> str | None:
    """The one SLIP-39 word nearest a mistyped ``token`` (at most two edits away), if unique."""
    best: list[str] = []
    best_distance = 3
    for word in _WORDS:
        if abs(len(word) - len(token)) >= best_distance:
            continue
        d = _distance(token, word)
        if d < best_distance:
            best, best_distance = [word], d
        elif d == best_distance and best:
            best.append(word)
    return best[0] if len(best) == 1 else None


def _words(label: str, mnemonic: str) -> tuple[str, ...]:
    """Normalised words of one mnemonic; unique prefixes of 4+ letters are expanded."""
    if not isinstance(mnemonic, str):
        raise TypeError(f"{label}: expected str, got {type(mnemonic).__name__}")
    out = []
    for i, token in enumerate(mnemonic.lower().split(), 1):
        word = _expand(token)
        if word is None:
            near = suggest_word(token)
            hint = f'; did you mean "{near}"?' if near else ""
            raise ShareError(f'{label}: word {i} "{token}" is not in the SLIP-39 word list{hint}')
        out.append(word)
    return tuple(out)


def normalise_mnemonic(mnemonic: str) -> str:
    """One space between lowercase full words; 4-letter prefixes expanded.

    :raises ShareError: a word is not in the SLIP-39 word list.
    """
    return " ".join(_words("share", mnemonic))


def _valid_length(n: int) -> bool:
    return n >= _MIN_WORDS and (_RADIX_BITS * (n - _META_WORDS)) % 16 <= 8


@dataclass(frozen=True)
class _Entry:
    position: int
    words: tuple[str, ...] = field(repr=False)
    share: Any = field(repr=False)

    @property
    def group(self) -> int:
        return int(self.share.group_index)

    @property
    def member_threshold(self) -> int:
        return int(self.share.member_threshold)


def _length_error(label: str, n: int, first: _Entry | None) -> ShareError:
    if first is not None:
        return ShareError(
            f"{label}: {_plural(n, 'word')}, but share {first.position} has {len(first.words)}"
        )
    return ShareError(
        f"{label}: {_plural(n, 'word')} is not a SLIP-39 share length "
        "(20 words for a 128-bit secret, 33 for a 256-bit one)"
    )


def _decode_one(position: int, mnemonic: str, earlier: Sequence[_Entry]) -> _Entry:
    """Parse one share and check it against the shares accepted before it."""
    label = f"share {position}"
    words = _words(label, mnemonic)
    if not words:
        raise ShareError(f"{label}: empty")
    first = earlier[0] if earlier else None
    n = len(words)
    if not _valid_length(n):
        raise _length_error(label, n, first)
    indices = [_INDEX[w] for w in words]
    id_exp = (indices[0] << _RADIX_BITS) + indices[1]
    extendable = bool((id_exp >> _EXP_BITS) & 1)
    custom = (
        constants.CUSTOMIZATION_STRING_EXTENDABLE
        if extendable
        else constants.CUSTOMIZATION_STRING_ORIG
    )
    if not rs1024.verify_checksum(indices, custom):
        if first is not None and n != len(first.words):
            raise _length_error(label, n, first)
        raise ShareError(f"{label}: checksum fails: a word is mistyped, missing or out of order")
    try:
        share = shamir_mnemonic.Share.from_mnemonic(" ".join(words))
    except shamir_mnemonic.MnemonicError as ex:
        raise ShareError(f"{label}: not a valid SLIP-39 share (bad padding or parameters)") from ex
    entry = _Entry(position, words, share)
    if first is None:
        return entry
    if share.identifier != first.share.identifier:
        raise ShareError(
            f"{label}: from another share set ({format_set_id(share.identifier)}; "
            f"share {first.position} is {format_set_id(first.share.identifier)})"
        )
    if share.common_parameters() != first.share.common_parameters() or n != len(first.words):
        raise ShareError(
            f"{label}: same set identifier as share {first.position} but different set "
            "parameters: the share is damaged or forged"
        )
    for e in earlier:
        if e.group != entry.group:
            continue
        if e.share.group_parameters() != share.group_parameters():
            raise ShareError(
                f"{label}: its group parameters differ from share {e.position} of the same "
                "group: the share is damaged or forged"
            )
        if e.share.index == share.index:
            if e.words == words:
                raise ShareError(f"{label}: duplicate of share {e.position}")
            raise ShareError(
                f"{label}: same member number as share {e.position} but different words: "
                "one of them is damaged or forged"
            )
    return entry


def _decode(mnemonics: Sequence[str]) -> list[_Entry]:
    if isinstance(mnemonics, str | bytes):
        raise TypeError("mnemonics: expected a sequence of mnemonic strings, got one string")
    entries: list[_Entry] = []
    texts = []
    for m in mnemonics:
        if not isinstance(m, str):
            raise TypeError(f"mnemonics: expected str items, got {type(m).__name__}")
        if m.strip():
            texts.append(m)
    for position, text in enumerate(texts, 1):
        entries.append(_decode_one(position, text, entries))
    return entries


# --------------------------------------------------------------- recovery


def _by_group(entries: Sequence[_Entry]) -> dict[int, list[_Entry]]:
    groups: dict[int, list[_Entry]] = {}
    for e in entries:
        groups.setdefault(e.group, []).append(e)
    return groups


def _needed(entries: Sequence[_Entry]) -> tuple[int, int]:
    """(fewest more shares needed, groups complete) for the shares so far."""
    first = entries[0].share
    by_group = _by_group(entries)
    complete = sum(1 for es in by_group.values() if len(es) >= es[0].member_threshold)
    missing = int(first.group_threshold) - complete
    if missing <= 0:
        return 0, complete
    short = sorted(
        es[0].member_threshold - len(es)
        for es in by_group.values()
        if len(es) < es[0].member_threshold
    )
    # A group nobody has entered yet needs at least one share; its threshold is unknown.
    unseen = int(first.group_count) - len(by_group)
    short += [1] * unseen
    return sum(sorted(short)[:missing]), complete


def _too_few(entries: Sequence[_Entry]) -> ShareError:
    first = entries[0].share
    given = _plural(len(entries), "share")
    if first.group_count == 1:
        return ShareError(f"too few shares: {given} given, {first.member_threshold} needed")
    by_group = _by_group(entries)
    detail = ", ".join(
        f"group {g + 1} has {len(es)} of {es[0].member_threshold}"
        for g, es in sorted(by_group.items())
    )
    complete = sum(1 for es in by_group.values() if len(es) >= es[0].member_threshold)
    return ShareError(
        f"too few shares: {given} given, {complete} of the {first.group_threshold} groups "
        f"needed are complete ({detail})"
    )


def _ems(selection: Mapping[int, Sequence[_Entry]]) -> Any:
    groups = {}
    for g, es in selection.items():
        group = ShareGroup()
        for e in es:
            group.add(e.share)
        groups[g] = group
    return recover_ems(groups)


def _numbers(entries: Sequence[_Entry]) -> str:
    return ", ".join(str(n) for n in sorted(e.position for e in entries))


def _flatten(selection: Mapping[int, Sequence[_Entry]]) -> list[_Entry]:
    return [e for es in selection.values() for e in es]


def _try_ems(selection: Mapping[int, Sequence[_Entry]]) -> Any | None:
    try:
        return _ems(selection)
    except shamir_mnemonic.MnemonicError:
        return None


def _consistent_selection(
    entries: Sequence[_Entry], selection: dict[int, list[_Entry]]
) -> tuple[dict[int, list[_Entry]], Any]:
    """The first minimal selection and its secret; for a single-level set with
    spare shares, the first consistent subset, so a bad share can be named."""
    ems = _try_ems(selection)
    if ems is not None:
        return selection, ems
    if int(entries[0].share.group_count) == 1 and len(entries) > entries[0].member_threshold:
        for subset in itertools.combinations(entries, entries[0].member_threshold):
            candidate = {entries[0].group: list(subset)}
            ems = _try_ems(candidate)
            if ems is not None:
                return candidate, ems
    raise ShareError(
        f"shares {_numbers(_flatten(selection))}: they do not combine (the set digest fails): "
        "a share is damaged or forged"
    )


def _recover_ems(entries: Sequence[_Entry]) -> Any:
    """Recover the encrypted master secret from a minimal subset, cross-checking the rest."""
    if not entries:
        raise ShareError("too few shares: none given")
    first = entries[0].share
    gt = int(first.group_threshold)
    by_group = _by_group(entries)
    complete = [g for g, es in by_group.items() if len(es) >= es[0].member_threshold]
    if len(complete) < gt:
        raise _too_few(entries)
    chosen = complete[:gt]
    selection = {g: by_group[g][: by_group[g][0].member_threshold] for g in chosen}
    selection, ems = _consistent_selection(entries, selection)
    used = _flatten(selection)

    def agrees(group: int, members: list[_Entry]) -> bool:
        alt = dict(selection)
        if group not in selection:
            # Swap this group in for the last chosen one.
            del alt[chosen[-1]]
        alt[group] = members
        other = _try_ems(alt)
        return other is not None and other.ciphertext == ems.ciphertext

    for g in complete:
        members = by_group[g]
        mt = members[0].member_threshold
        base = selection.get(g)
        if base is None:
            base = members[:mt]
            if not agrees(g, base):
                raise ShareError(
                    f"shares {_numbers(base)} (group {g + 1}): they do not agree with shares "
                    f"{_numbers(used)}: a share is damaged or forged"
                )
        bad = [e for e in members if e not in base and not agrees(g, [*base[: mt - 1], e])]
        if len(bad) == 1:
            raise ShareError(
                f"share {bad[0].position}: does not agree with shares {_numbers(used)}: "
                "it is damaged or forged"
            )
        if bad:
            raise ShareError(
                f"shares {_numbers(bad)}: do not agree with shares {_numbers(used)}: "
                "they are damaged or forged"
            )
    return ems


def _finish(ems: Any, passphrase: bytes, expected_check_value: str | None) -> bytes:
    secret = bytes(ems.decrypt(passphrase))
    if expected_check_value is None:
        return secret
    if not isinstance(expected_check_value, str):
        raise TypeError("expected_check_value: expected str")
    expected = "".join(expected_check_value.split()).lower()
    got = check_value(secret)
    if not hmac.compare_digest(got, expected):
        raise ShareError(
            f"check value {got} of the rebuilt secret differs from the expected {expected}: "
            "wrong passphrase, or shares of another backup"
        )
    return secret


def combine(
    mnemonics: Sequence[str],
    passphrase: bytes = b"",
    expected_check_value: str | None = None,
) -> bytes:
    """Rebuild the secret from shares given in any order (blank entries ignored).

    Shares beyond the threshold are checked against the others. Without
    ``expected_check_value`` a wrong passphrase is not detected: SLIP-39 then
    yields a different secret.

    :raises ShareError: a share is malformed, mistyped, foreign, duplicated,
        damaged, too few were given, or the check value differs; the message
        names the share by its 1-based position among the non-blank entries.
    :raises InputError: the passphrase has characters SLIP-39 refuses.
    """
    _check_passphrase(passphrase)
    entries = _decode(mnemonics)
    return _finish(_recover_ems(entries), passphrase, expected_check_value)


# -------------------------------------------------------------- collector


@dataclass(frozen=True)
class CollectorStatus:
    """Progress of entering shares one custodian at a time."""

    accepted: int
    """Shares accepted so far."""
    needed: int | None
    """Fewest more shares that could complete the set; None before the first share."""
    set_id: str | None
    """Identifier of the set the first share belongs to."""
    groups_complete: int = 0
    group_threshold: int = 1

    @property
    def complete(self) -> bool:
        return self.needed == 0


class ShareCollector:
    """Collects shares one at a time; a refused share leaves the accepted ones intact."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def __repr__(self) -> str:
        return f"ShareCollector(accepted={len(self._entries)})"

    def add(self, mnemonic: str) -> CollectorStatus:
        """Accept the next share, numbered after the accepted ones.

        :raises ShareError: the share is malformed, mistyped, foreign or a duplicate.
        """
        entry = _decode_one(len(self._entries) + 1, mnemonic, self._entries)
        self._entries.append(entry)
        return self.status

    @property
    def status(self) -> CollectorStatus:
        if not self._entries:
            return CollectorStatus(accepted=0, needed=None, set_id=None)
        needed, complete = _needed(self._entries)
        first = self._entries[0].share
        return CollectorStatus(
            accepted=len(self._entries),
            needed=needed,
            set_id=format_set_id(first.identifier),
            groups_complete=complete,
            group_threshold=int(first.group_threshold),
        )

    def secret(self, passphrase: bytes = b"", expected_check_value: str | None = None) -> bytes:
        """Rebuild the secret, as :func:`combine` does.

        :raises ShareError: too few shares, a share that does not agree, or a
            check value mismatch.
        """
        _check_passphrase(passphrase)
        return _finish(_recover_ems(self._entries), passphrase, expected_check_value)


# --------------------------------------------------------- custodian proof

# The first words hold the set identifier and are the same on every card of
# the set, so reciting them proves nothing about one custodian's card.
_CHALLENGE_FROM = _HEADER_WORDS + 1


def word_challenge(mnemonic: str, rng: random.Random, count: int = 3) -> tuple[int, ...]:
    """Pick ``count`` distinct 1-based word positions, ascending, for a custodian to recite.

    ``rng`` is a ``random.Random`` (seeded in tests) or ``secrets.SystemRandom()``.
    """
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng: expected random.Random, got {type(rng).__name__}")
    n = len(_words("share", mnemonic))
    pool = range(_CHALLENGE_FROM, n + 1)
    if not 1 <= _check_int("count", count) <= len(pool):
        raise ValueError(f"count {count}: must be 1..{len(pool)} for a {n}-word share")
    return tuple(sorted(rng.sample(pool, count)))


def check_words(mnemonic: str, answers: Mapping[int, str]) -> list[int]:
    """Return the positions whose answer is wrong, ascending.

    An answer is right if it is the word, any case, or a prefix of it of at
    least 4 letters (SLIP-39 words are unique in their first 4 letters).
    """
    words = _words("share", mnemonic)
    wrong = []
    for position in sorted(answers):
        if not 1 <= _check_int("position", position) <= len(words):
            raise ValueError(f"position {position}: the share has {len(words)} words")
        answer = answers[position]
        if not isinstance(answer, str):
            raise TypeError(f"answer {position}: expected str, got {type(answer).__name__}")
        given = answer.strip().lower()
        word = words[position - 1]
        if not (given == word or (len(given) >= _PREFIX_LEN and word.startswith(given))):
            wrong.append(position)
    return wrong
