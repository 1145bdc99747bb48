"""The ceremony file: strict parsing and the render/parse round trip."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ceremony import text
from ceremony.config import ceremonyfile
from ceremony.config.ceremonyfile import Participant, Quorum, Role
from ceremony.errors import ConfigError, InputError
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.x509.profiles import DocumentSignerProfile, RootProfile, SubjectSpec

GOOD = ceremonyfile.render(ceremonyfile.rehearsal_definition())


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t + b"\nsurprise = 1\n", "unknown key intermediate.surprise"),
        (
            lambda t: t.replace(b'country = "NL"', b'country = "NL"\ncolour = 1'),
            "unknown key root.colour",
        ),
        (
            lambda t: t.replace(b"validity_days = 7305", b'validity_days = "long"'),
            "key root.validity_days must be an integer",
        ),
        (
            lambda t: t.replace(b"passphrase = false", b"passphrase = 0"),
            "key backup.passphrase must be true or false",
        ),
        (
            lambda t: t.replace(b"[crl]\nvalidity_days = 365", b"[crl]"),
            "missing key crl.validity_days",
        ),
        (lambda t: t.replace(b'[token]\nlabel = "root-ca"\n', b""), "missing table [token]"),
        (lambda t: t.replace(b'kind = "root"', b'kind = "party"'), "ceremony.kind 'party'"),
        (lambda t: t.replace(b'key = "ecdsa-p384"', b'key = "dsa"'), "key type 'dsa'"),
        (
            lambda t: t.replace(b'role = "witness"', b'role = "janitor"'),
            "participants[1].role 'janitor'",
        ),
        (lambda t: b"[[[", "not valid TOML"),
        (lambda t: b"\xff\xfe", "not UTF-8"),
        (
            lambda t: t.replace(b"validity_days = 7305", b"validity_days = 99999"),
            "root validity_days 99999",
        ),
        (lambda t: t.replace(b'country = "NL"', b'country = "NLD"'), "country 'NLD'"),
        (
            lambda t: t.replace(b"[crl]\nvalidity_days = 365", b"[crl]\nvalidity_days = 400"),
            "CRL validity_days 400",
        ),
    ],
)
def test_bad_ceremony_files_name_the_key(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as err:
        ceremonyfile.parse(mutate(GOOD), "c.toml")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_shares_must_match_custodians() -> None:
    cf = ceremonyfile.rehearsal_definition()
    with pytest.raises(InputError, match=r"backup\.shares 4: must equal the number of custodians"):
        dataclasses.replace(cf, backup=Quorum(3, 4))


def test_a_witness_is_required() -> None:
    cf = ceremonyfile.rehearsal_definition()
    people = tuple(p for p in cf.participants if p.role is not Role.WITNESS)
    with pytest.raises(InputError, match="a witness is required"):
        dataclasses.replace(cf, participants=people)


def _words(alphabet: st.SearchStrategy[str], x509: bool = False) -> st.SearchStrategy[str]:
    """Names that pass the text rules: words of letters, digits, marks and symbols."""
    word = st.text(alphabet, min_size=1, max_size=8)
    return (
        st.lists(word, min_size=1, max_size=4)
        .map(lambda ws: unicodedata.normalize("NFC", " ".join(ws)))
        .filter(lambda s: len(s) <= 40 and text.problem(s, 64, x509=x509) is None)
    )


names = _words(st.characters(categories=("L", "M", "N", "P", "S")))
x509_names = _words(st.characters(categories=("L", "N", "P"), max_codepoint=0x24F), x509=True)


@settings(max_examples=60, deadline=None)
@given(
    name=names,
    place=names,
    cn=x509_names,
    org=st.just("") | x509_names,
    key=st.sampled_from(list(KeyAlgorithm)),
    days=st.integers(1, 9132),
    path_length=st.none() | st.integers(0, 5),
    custodians=st.integers(1, 7),
    admin=names,
)
def test_render_parse_round_trip(name, place, cn, org, key, days, path_length, custodians, admin):  # type: ignore[no-untyped-def]
    base = ceremonyfile.rehearsal_definition(key, 1, custodians)
    people = (
        Participant(admin, Role.ADMINISTRATOR),
        Participant(admin + " (witness)", Role.WITNESS),
    )
    people += tuple(
        Participant(f"{admin} custodian {i}", Role.CUSTODIAN) for i in range(custodians)
    )
    cf = dataclasses.replace(
        base,
        name=name,
        place=place,
        participants=people,
        root=RootProfile(SubjectSpec(cn[:64], org[:64], "NL"), days, path_length),
        signer=DocumentSignerProfile(SubjectSpec(cn[:64], org[:64], "NL"), days),
    )
    assert ceremonyfile.parse(ceremonyfile.render(cf)) == cf


def test_digest_is_hex_and_pgp_words() -> None:
    hexd, words = ceremonyfile.file_digest(b"abc")
    assert hexd.startswith("ba7816bf")
    assert words.split()[:2] == ["shadow", "indigo"]
    with pytest.raises(ConfigError):
        ceremonyfile.parse(b"", "empty.toml")
