"""SLIP-39 share sets: split/combine properties, every refusal, params, custodian proof."""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import replace

import pytest
import shamir_mnemonic
from hypothesis import given, settings
from hypothesis import strategies as st

from ceremony.backup.shares import (
    ITERATION_EXPONENT,
    ShareCollector,
    ShareSet,
    ShareSetParams,
    check_value,
    check_words,
    combine,
    normalise_mnemonic,
    split_secret,
    word_challenge,
)
from ceremony.errors import InputError, ShareError

# PBKDF2 at the production exponent costs ~0.5 s per split and per combine;
# exponent 0 keeps the property tests fast and exercises the same code.
FAST = 0
SECRET = bytes(range(32))
PROPERTY = settings(max_examples=25, deadline=None)


def _split(secret: bytes = SECRET, m: int = 3, n: int = 5, passphrase: bytes = b"") -> ShareSet:
    return split_secret(secret, ShareSetParams(m, n), passphrase, iteration_exponent=FAST)


@pytest.fixture(scope="module")
def three_of_five() -> ShareSet:
    return _split()


def _other_set(share_set: ShareSet) -> ShareSet:
    """Another 3-of-5 set of the same secret, with a different identifier."""
    other = _split()
    while other.identifier == share_set.identifier:  # 1 in 32768
        other = _split()
    return other


def _with_word(mnemonic: str, position: int, word: str) -> str:
    words = mnemonic.split()
    words[position - 1] = word
    return " ".join(words)


def _other_word(word: str) -> str:
    return "academic" if word != "academic" else "acid"


def _forged(mnemonic: str, **changes: object) -> str:
    """A share re-encoded with valid checksum after changing its fields."""
    share = shamir_mnemonic.Share.from_mnemonic(mnemonic)
    return str(replace(share, **changes).mnemonic())


def _flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


# ------------------------------------------------------------ properties


@st.composite
def flat_sets(draw: st.DrawFn) -> tuple[int, int, bytes]:
    n = draw(st.integers(2, 7))
    m = draw(st.integers(2, n))
    size = draw(st.sampled_from([16, 32]))
    return m, n, draw(st.binary(min_size=size, max_size=size))


@PROPERTY
@given(flat_sets(), st.randoms(use_true_random=False))
def test_any_m_of_n_recover_and_m_minus_1_do_not(
    case: tuple[int, int, bytes], rnd: random.Random
) -> None:
    m, n, secret = case
    share_set = _split(secret, m, n)
    assert len(share_set.mnemonics) == n
    chosen = rnd.sample(share_set.mnemonics, m)
    assert combine(chosen) == secret
    given_ = f"{m - 1} share{'s' if m - 1 != 1 else ''} given"
    with pytest.raises(ShareError, match=rf"^too few shares: {given_}, {m} needed$"):
        combine(chosen[: m - 1])


@PROPERTY
@given(flat_sets(), st.randoms(use_true_random=False))
def test_more_than_m_shares_recover(case: tuple[int, int, bytes], rnd: random.Random) -> None:
    m, n, secret = case
    share_set = _split(secret, m, n)
    k = rnd.randint(m, n)
    assert combine(rnd.sample(share_set.mnemonics, k)) == secret


@st.composite
def grouped_sets(draw: st.DrawFn) -> tuple[int, tuple[tuple[int, int], ...]]:
    groups = []
    for _ in range(draw(st.integers(1, 4))):
        count = draw(st.integers(1, 4))
        threshold = 1 if count == 1 else draw(st.integers(2, count))
        groups.append((threshold, count))
    return draw(st.integers(1, len(groups))), tuple(groups)


def _members(share_set: ShareSet) -> list[list[str]]:
    out, start = [], 0
    for _, count in share_set.groups:
        out.append(list(share_set.mnemonics[start : start + count]))
        start += count
    return out


@PROPERTY
@given(grouped_sets(), st.binary(min_size=16, max_size=16), st.randoms(use_true_random=False))
def test_two_level_any_qualifying_subset_recovers_and_one_less_does_not(
    shape: tuple[int, tuple[tuple[int, int], ...]], secret: bytes, rnd: random.Random
) -> None:
    group_threshold, groups = shape
    params = ShareSetParams.two_level(group_threshold, groups, rehearsal=True)
    share_set = split_secret(secret, params, iteration_exponent=FAST)
    assert share_set.count == sum(c for _, c in groups) == len(share_set.mnemonics)
    members = _members(share_set)
    picked: list[list[str]] = [
        rnd.sample(members[g], groups[g][0])
        for g in rnd.sample(range(len(groups)), group_threshold)
    ]
    flat = [m for group in picked for m in group]
    rnd.shuffle(flat)
    assert combine(flat) == secret
    victim = rnd.choice(picked)
    fewer = [m for m in flat if m != victim[0]]
    with pytest.raises(ShareError, match=r"^too few shares: "):
        combine(fewer)


def test_split_orders_shares_by_custodian_and_reports_the_set() -> None:
    share_set = split_secret(
        SECRET, ShareSetParams.two_level(2, ((2, 3), (2, 2))), iteration_exponent=FAST
    )
    shares = [shamir_mnemonic.Share.from_mnemonic(m) for m in share_set.mnemonics]
    assert [(s.group_index, s.index) for s in shares] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert {s.identifier for s in shares} == {share_set.identifier}
    assert share_set.set_id == f"id {share_set.identifier:05d}"
    assert re.fullmatch(r"id \d{5}", share_set.set_id)
    assert (share_set.threshold, share_set.count, share_set.group_threshold) == (4, 5, 2)
    assert share_set.mnemonics[0].split()[0] not in repr(share_set)


def test_default_iteration_exponent_and_passphrase_round_trip() -> None:
    share_set = split_secret(SECRET, ShareSetParams(2, 3), b"correct horse")
    assert share_set.iteration_exponent == ITERATION_EXPONENT
    share = shamir_mnemonic.Share.from_mnemonic(share_set.mnemonics[0])
    assert share.iteration_exponent == ITERATION_EXPONENT
    kcv = check_value(SECRET)
    assert combine(share_set.mnemonics[1:], b"correct horse", kcv) == SECRET


def test_rehearsal_one_of_one() -> None:
    share_set = split_secret(SECRET, ShareSetParams(1, 1, rehearsal=True), iteration_exponent=FAST)
    assert combine(share_set.mnemonics) == SECRET


@pytest.mark.parametrize(
    ("secret", "error"),
    [
        (bytes(15), ValueError),
        (bytes(17), ValueError),
        (bytes(14), ValueError),
        ("x" * 32, TypeError),
    ],
)
def test_split_refuses_bad_secrets(secret: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"secret"):
        split_secret(secret, ShareSetParams(2, 2), iteration_exponent=FAST)  # type: ignore[arg-type]


def test_split_refuses_bad_iteration_exponent_and_passphrase() -> None:
    with pytest.raises(ValueError, match=r"iteration_exponent 16"):
        split_secret(SECRET, ShareSetParams(2, 2), iteration_exponent=16)
    with pytest.raises(InputError, match=r"^passphrase: only printable ASCII"):
        split_secret(SECRET, ShareSetParams(2, 2), "é".encode(), iteration_exponent=FAST)


# -------------------------------------------------------------- check value


def test_check_value_known_answers() -> None:
    # AES-256 and AES-128 of the zero block under the zero key (NIST AESAVS).
    assert check_value(bytes(32)) == "dc95c078a2408989"
    assert check_value(bytes(16)) == "66e94bd4ef8a2c3b"
    assert check_value(SECRET) != check_value(bytes(32))


def test_check_value_refuses_non_aes_keys() -> None:
    with pytest.raises(ValueError, match=r"33 bytes"):
        check_value(bytes(33))
    with pytest.raises(TypeError):
        check_value("00" * 32)  # type: ignore[arg-type]


# ------------------------------------------------------------ bad shares


def test_unknown_word_is_named(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    bad = _with_word(s[1], 5, "qwerty")
    with pytest.raises(ShareError, match=r'^share 2: word 5 "qwerty" is not in the SLIP-39'):
        combine([s[0], bad, s[2]])


def test_mistyped_word_fails_the_checksum(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    word = s[2].split()[11]
    bad = _with_word(s[2], 12, _other_word(word))
    with pytest.raises(ShareError, match=r"^share 3: checksum fails"):
        combine([s[0], s[1], bad])


def test_swapped_words_fail_the_checksum(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    words = s[0].split()
    i = next(i for i in range(10, 30) if words[i] != words[i + 1])
    words[i], words[i + 1] = words[i + 1], words[i]
    with pytest.raises(ShareError, match=r"^share 1: checksum fails"):
        combine([" ".join(words), s[1], s[2]])


def test_missing_word_is_a_wrong_word_count(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    short = " ".join(s[1].split()[:-1])
    with pytest.raises(ShareError, match=r"^share 2: 32 words, but share 1 has 33$"):
        combine([s[0], short, s[2]])


def test_wrong_word_count_on_the_first_share(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    with pytest.raises(ShareError, match=r"^share 1: 34 words is not a SLIP-39 share length"):
        combine([s[0] + " academic", s[1], s[2]])


def test_two_missing_words_at_a_valid_length_are_still_named(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    short = " ".join(s[2].split()[:-2])
    with pytest.raises(ShareError, match=r"^share 3: 31 words, but share 1 has 33$"):
        combine([s[0], s[1], short])


def test_share_from_another_set(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    other = _other_set(three_of_five)
    expected = (
        rf"^share 3: from another share set \({other.set_id}; "
        rf"share 1 is {three_of_five.set_id}\)$"
    )
    with pytest.raises(ShareError, match=expected):
        combine([s[0], s[1], other.mnemonics[2]])


def test_duplicate_names_both_positions(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    with pytest.raises(ShareError, match=r"^share 3: duplicate of share 1$"):
        combine([s[0], s[1], s[0]])


def test_duplicate_detected_after_normalisation(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    with pytest.raises(ShareError, match=r"^share 4: duplicate of share 2$"):
        combine([s[0], s[1], s[2], "  " + s[1].upper().replace(" ", "\t ")])


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (2, "too few shares: 2 shares given, 3 needed"),
        (1, "too few shares: 1 share given, 3 needed"),
        (0, "too few shares: none given"),
    ],
)
def test_too_few_shares(three_of_five: ShareSet, count: int, message: str) -> None:
    with pytest.raises(ShareError, match=rf"^{message}$"):
        combine(three_of_five.mnemonics[:count])


def test_too_few_groups_names_the_groups() -> None:
    share_set = split_secret(
        SECRET, ShareSetParams.two_level(2, ((2, 3), (1, 1), (3, 5))), iteration_exponent=FAST
    )
    g1, _g2, g3 = _members(share_set)
    with pytest.raises(
        ShareError,
        match=(
            r"^too few shares: 4 shares given, 1 of the 2 groups needed are complete "
            r"\(group 1 has 2 of 2, group 3 has 2 of 3\)$"
        ),
    ):
        combine([g1[0], g3[0], g1[1], g3[1]])


def test_wrong_passphrase_is_caught_by_the_check_value() -> None:
    share_set = _split(passphrase=b"right")
    kcv = check_value(SECRET)
    with pytest.raises(ShareError, match=rf"differs from the expected {kcv}: wrong passphrase"):
        combine(share_set.mnemonics[:3], b"wrong", kcv)
    assert combine(share_set.mnemonics[:3], b"right", kcv.upper()) == SECRET


def test_wrong_passphrase_goes_unnoticed_without_a_check_value() -> None:
    share_set = _split(passphrase=b"right")
    assert combine(share_set.mnemonics[:3], b"wrong") != SECRET


def test_shares_of_another_backup_are_caught_by_the_check_value() -> None:
    other = _split(secrets.token_bytes(32))
    with pytest.raises(ShareError, match=r"^check value [0-9a-f]{16} of the rebuilt secret"):
        combine(other.mnemonics[:3], b"", check_value(SECRET))


def test_forged_share_breaks_the_set_digest(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    value = shamir_mnemonic.Share.from_mnemonic(s[2]).value
    forged = _forged(s[2], value=_flip(value))
    with pytest.raises(ShareError, match=r"^shares 1, 2, 3: they do not combine"):
        combine([s[0], s[1], forged])


def test_forged_extra_share_is_named(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    value = shamir_mnemonic.Share.from_mnemonic(s[3]).value
    forged = _forged(s[3], value=_flip(value))
    assert combine([s[0], s[1], s[2], s[3]]) == SECRET
    with pytest.raises(ShareError, match=r"^share 4: does not agree with shares 1, 2, 3"):
        combine([s[0], s[1], s[2], forged])


def test_forged_share_in_an_extra_group_is_named() -> None:
    share_set = split_secret(
        SECRET, ShareSetParams.two_level(1, ((2, 2), (2, 2))), iteration_exponent=FAST
    )
    g1, g2 = _members(share_set)
    value = shamir_mnemonic.Share.from_mnemonic(g2[1]).value
    forged = _forged(g2[1], value=_flip(value))
    assert combine([*g1, *g2]) == SECRET
    with pytest.raises(
        ShareError, match=r"^shares 3, 4 \(group 2\): they do not agree with shares 1, 2: "
    ):
        combine([*g1, g2[0], forged])


def test_forged_share_among_the_first_is_found_with_a_spare(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    value = shamir_mnemonic.Share.from_mnemonic(s[1]).value
    forged = _forged(s[1], value=_flip(value))
    with pytest.raises(ShareError, match=r"^share 2: does not agree with shares 1, 3, 4: it is"):
        combine([s[0], forged, s[2], s[3]])
    other = _forged(s[2], value=_flip(shamir_mnemonic.Share.from_mnemonic(s[2]).value))
    with pytest.raises(ShareError, match=r"^shares 2, 3: do not agree with shares 1, 4, 5: "):
        combine([s[0], forged, other, s[3], s[4]])


def test_same_member_number_with_other_words(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    value = shamir_mnemonic.Share.from_mnemonic(s[0]).value
    forged = _forged(s[0], value=_flip(value))
    with pytest.raises(ShareError, match=r"^share 2: same member number as share 1"):
        combine([s[0], forged, s[1]])


def test_same_set_id_with_other_parameters(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    forged = _forged(s[1], group_threshold=2, group_count=2)
    with pytest.raises(ShareError, match=r"^share 2: same set identifier as share 1"):
        combine([s[0], forged, s[2]])


def test_whitespace_case_blank_lines_and_prefixes_are_normalised(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    prefixed = " ".join(w[:4] for w in s[4].split())
    messy = ["", "  \n", "\t" + s[3].upper().replace(" ", "   ") + "\n", "", prefixed, s[0]]
    assert combine(messy) == SECRET
    assert normalise_mnemonic(prefixed) == s[4]


def test_a_prefix_must_match_the_word() -> None:
    with pytest.raises(ShareError, match='word 1 "acadxmic" is not in the SLIP-39 word list'):
        normalise_mnemonic("acadxmic acid")
    with pytest.raises(ShareError, match='word 2 "aci" is not'):
        normalise_mnemonic("academic aci")


def test_bad_inputs_are_refused(three_of_five: ShareSet) -> None:
    with pytest.raises(TypeError, match=r"one string"):
        combine(three_of_five.mnemonics[0])
    with pytest.raises(InputError, match=r"^passphrase: only printable ASCII"):
        combine(three_of_five.mnemonics[:3], "pässword".encode())


# -------------------------------------------------------------- collector


def test_collector_counts_down_and_recovers(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    collector = ShareCollector()
    assert collector.status.needed is None and not collector.status.complete
    assert collector.add(s[4]).needed == 2
    status = collector.add(s[1])
    assert (status.accepted, status.needed, status.complete) == (2, 1, False)
    assert status.set_id == three_of_five.set_id
    assert collector.add(s[2]).complete
    assert collector.secret(b"", check_value(SECRET)) == SECRET
    assert s[4].split()[3] not in repr(collector)


def test_collector_keeps_good_shares_after_a_bad_one(three_of_five: ShareSet) -> None:
    s = three_of_five.mnemonics
    collector = ShareCollector()
    collector.add(s[0])
    collector.add(s[1])
    with pytest.raises(ShareError, match=r"^share 3: checksum fails"):
        collector.add(_with_word(s[2], 20, _other_word(s[2].split()[19])))
    with pytest.raises(ShareError, match=r"^share 3: duplicate of share 1$"):
        collector.add(s[0])
    with pytest.raises(ShareError, match=r"^share 3: from another share set"):
        collector.add(_other_set(three_of_five).mnemonics[2])
    with pytest.raises(ShareError, match=r"^share 3: empty$"):
        collector.add("   ")
    assert collector.status.accepted == 2
    with pytest.raises(ShareError, match=r"^too few shares: 2 shares given, 3 needed$"):
        collector.secret()
    assert collector.add(s[3]).complete
    assert collector.secret() == SECRET


def test_collector_check_value_mismatch(three_of_five: ShareSet) -> None:
    collector = ShareCollector()
    for m in three_of_five.mnemonics[:3]:
        collector.add(m)
    with pytest.raises(ShareError, match=r"wrong passphrase, or shares of another backup"):
        collector.secret(b"", check_value(bytes(32)))


def test_collector_two_level_progress() -> None:
    share_set = split_secret(
        SECRET, ShareSetParams.two_level(2, ((2, 3), (3, 3))), iteration_exponent=FAST
    )
    g1, g2 = _members(share_set)
    collector = ShareCollector()
    # One share seen: its group needs 1 more, the unseen group at least 1.
    assert collector.add(g1[0]).needed == 2
    status = collector.add(g1[1])
    assert (status.groups_complete, status.group_threshold, status.needed) == (1, 2, 1)
    assert collector.add(g2[0]).needed == 2
    assert collector.add(g2[2]).needed == 1
    assert collector.add(g2[1]).complete
    assert collector.secret() == SECRET


# ----------------------------------------------------------------- params


@pytest.mark.parametrize(
    "params",
    [
        ShareSetParams(2, 2),
        ShareSetParams(3, 5),
        ShareSetParams(16, 16),
        ShareSetParams(1, 1, rehearsal=True),
        ShareSetParams.two_level(2, ((2, 3), (1, 1), (3, 5))),
        ShareSetParams.two_level(1, ((1, 1),), rehearsal=True),
    ],
)
def test_valid_params(params: ShareSetParams) -> None:
    assert 1 <= params.threshold <= params.count


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ShareSetParams(1, 5), "share set 1 of 5: threshold 1 lets one custodian"),
        (lambda: ShareSetParams(1, 1), "share set 1 of 1: threshold 1 lets one custodian"),
        (
            lambda: ShareSetParams(1, 3, rehearsal=True),
            "share set 1 of 3: SLIP-39 allows threshold 1 only with a single share",
        ),
        (lambda: ShareSetParams(0, 3), r"share set 0 of 3: need 2 <= M <= N <= 16"),
        (lambda: ShareSetParams(4, 3), r"share set 4 of 3: need 2 <= M <= N <= 16"),
        (lambda: ShareSetParams(3, 17), r"share set 3 of 17: need 2 <= M <= N <= 16"),
        (lambda: ShareSetParams(2, 3, group_threshold=2), "group threshold 2 given without"),
        (
            lambda: ShareSetParams.two_level(3, ((2, 3), (2, 3))),
            r"need 1 <= group threshold <= number of groups",
        ),
        (
            lambda: ShareSetParams.two_level(1, ((1, 2), (2, 3))),
            "group 1 is 1 of 2; SLIP-39 allows member threshold 1 only with a single share",
        ),
        (lambda: ShareSetParams.two_level(1, ((0, 1),)), "group 1 is 0 of 1"),
        (lambda: ShareSetParams.two_level(1, ((2, 17),)), "group 1 is 2 of 17"),
        (
            lambda: ShareSetParams.two_level(1, ((1, 1), (2, 3))),
            "a single share rebuilds the secret; allowed only in a rehearsal",
        ),
        (
            lambda: ShareSetParams(2, 6, 2, ((2, 3), (2, 3))),
            "threshold 2 given, but the fewest shares are 4",
        ),
        (
            lambda: ShareSetParams(4, 5, 2, ((2, 3), (2, 3))),
            "count 5 given, but the groups hold 6 shares",
        ),
        (lambda: ShareSetParams.two_level(1, ()), "needs at least one group"),
    ],
)
def test_invalid_params_are_input_errors(make: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        make()  # type: ignore[operator]
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": "3", "count": 5},
        {"threshold": 3.0, "count": 5},
        {"threshold": True, "count": 5},
        {"threshold": 2, "count": 2, "rehearsal": "yes"},
        {"threshold": 4, "count": 6, "group_threshold": 2, "groups": [(2, 3), (2, 3)]},
        {"threshold": 4, "count": 6, "group_threshold": 2, "groups": ((2, 3), (2, "3"))},
        {"threshold": 4, "count": 6, "group_threshold": 2, "groups": ((2, 3, 1), (2, 3))},
    ],
)
def test_wrong_param_types_are_type_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        ShareSetParams(**kwargs)  # type: ignore[arg-type]


# -------------------------------------------------------- custodian proof


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 31))
def test_word_challenge_picks_distinct_card_specific_positions(
    three_of_five: ShareSet, seed: int, count: int
) -> None:
    mnemonic = three_of_five.mnemonics[0]
    positions = word_challenge(mnemonic, random.Random(seed), count)
    assert len(positions) == count
    assert list(positions) == sorted(set(positions))
    assert all(3 <= p <= 33 for p in positions)
    assert word_challenge(mnemonic, random.Random(seed), count) == positions


def test_word_challenge_covers_every_card_specific_word(three_of_five: ShareSet) -> None:
    rng = random.Random(7)
    seen = {p for _ in range(300) for p in word_challenge(three_of_five.mnemonics[0], rng)}
    assert seen == set(range(3, 34))


def test_word_challenge_with_system_random_and_bad_counts(three_of_five: ShareSet) -> None:
    mnemonic = three_of_five.mnemonics[0]
    assert len(word_challenge(mnemonic, secrets.SystemRandom())) == 3
    with pytest.raises(ValueError, match=r"count 32"):
        word_challenge(mnemonic, random.Random(1), 32)
    with pytest.raises(ValueError, match=r"count 0"):
        word_challenge(mnemonic, random.Random(1), 0)
    with pytest.raises(TypeError):
        word_challenge(mnemonic, secrets, 3)  # type: ignore[arg-type]


def test_check_words(three_of_five: ShareSet) -> None:
    mnemonic = three_of_five.mnemonics[1]
    words = mnemonic.split()
    assert check_words(mnemonic, {4: words[3], 9: words[8].upper(), 20: f" {words[19]} "}) == []
    assert check_words(mnemonic, {5: words[4][:4], 6: words[5].title()}) == []
    answers = {
        3: words[2][:3],
        7: _other_word(words[6]),
        11: words[10],
        12: "",
        15: words[14] + "x",
    }
    assert check_words(mnemonic, answers) == [3, 7, 12, 15]
    with pytest.raises(ValueError, match=r"position 34"):
        check_words(mnemonic, {34: "academic"})
