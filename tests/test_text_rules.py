"""The one set of text rules for names: every refusal names the input and the reason."""

from __future__ import annotations

import dataclasses
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ceremony import text
from ceremony.config import ceremonyfile
from ceremony.config.ceremonyfile import Participant, Role
from ceremony.errors import InputError
from ceremony.x509.profiles import IntermediateProfile, SubjectSpec
from tests.helpers import assert_refused, run_cli

REFUSED = {
    "NUL": ("Example\x00Root", "U+0000"),
    "newline": ("Example\nRoot", "control character"),
    "tab": ("Example\tRoot", "control character"),
    "DEL": ("Example\x7fRoot", "control character"),
    "C1 control": ("Example\x85Root", "control character"),
    "right-to-left override": ("Example \u202eAC tooR", "bidirectional control"),
    "left-to-right isolate": ("Example \u2066Root", "bidirectional control"),
    "zero-width space": ("Custodian\u200b 1", "U+200B ZERO WIDTH SPACE"),
    "zero-width joiner": ("Custo\u200ddian", "invisible formatting"),
    "byte-order mark": ("\ufeffCustodian", "invisible formatting"),
    "soft hyphen": ("Cus\u00adtodian", "invisible formatting"),
    "no-break space": ("Custodian\u00a01", "use the ordinary space"),
    "ideographic space": ("Custodian\u30001", "use the ordinary space"),
    "line separator": ("Custodian\u20281", "line separator"),
    "private use": ("Custodian \ue000", "private-use"),
    "noncharacter": ("Custodian \U0003ffff", "unassigned code point"),
    "unassigned today": ("Custodian \u0378", "unassigned code point"),
    "decomposed": ("Mu\u0308ller", "not in Unicode NFC"),
    "leading space": (" Custodian 1", "begins or ends with a space"),
    "trailing space": ("Custodian 1 ", "begins or ends with a space"),
    "two spaces": ("Custodian  1", "two spaces in a row"),
    "empty": ("", "is empty"),
    "too long": ("x" * 81, "at most 80"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_each_rule_refuses_with_its_reason(case: str) -> None:
    value, reason = REFUSED[case]
    with pytest.raises(InputError) as err:
        text.check(value, "participant name")
    message = err.value.message
    assert message.startswith("participant name ")
    assert reason in message
    assert "\n" not in message and "\u202e" not in message and "\u200b" not in message


@pytest.mark.parametrize(
    "value",
    [
        "Ada Lovelace",
        "Zertifizierungsstelle Müller",
        "Ελληνική Αρχή",
        "日本認証局",
        "O'Brien-Smith",
    ],
)
def test_ordinary_names_pass(value: str) -> None:
    assert text.check(value, "name", x509=True) == value


def test_x509_names_follow_rfc4518() -> None:
    """What certificate libraries refuse when they compare names, refused before signing."""
    assert "unassigned in Unicode 3.2" in (text.problem("Root \U0001f510 CA", x509=True) or "")
    assert text.problem("Root \U0001f510 CA") is None, "assigned today: fine for a person's name"
    mixed = text.problem("Example שלום CA", x509=True) or ""
    assert "right-to-left" in mixed
    assert text.problem("שלום", x509=True) is None


def test_typed_input_is_brought_into_form() -> None:
    assert text.typed("  Mu\u0308ller   Jr  ") == "Müller Jr"
    assert text.check(text.typed("  Mu\u0308ller   Jr  "), "name") == "Müller Jr"


def test_same_name_ignores_case_and_compatibility_forms() -> None:
    assert text.name_key("Custodian 1") == text.name_key("CUSTODIAN 1")
    assert text.name_key("Custodian ①") == text.name_key("custodian 1")


@pytest.mark.parametrize(
    "label, reason",
    [
        ("root-ca ", "ends with a space"),
        ("a\nb", "control character"),
        ("", "is empty"),
        ("x" * 40, "at most 32"),
        ("é" * 17, "34 bytes of UTF-8"),
    ],
)
def test_token_labels(label: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        text.check_token_label(label, "--to-token")


def test_labels_compare_as_the_token_stores_them() -> None:
    assert text.stored_label("root-ca") == b"root-ca" + b" " * 25
    assert text.same_label("root-ca", "root-ca   ")
    assert text.same_label("root-ca", b"root-ca" + b" " * 25)
    assert not text.same_label("root-ca", "Root-ca")


@pytest.mark.parametrize(
    "name, reason",
    [
        ("*.example.com", "wildcard"),
        ("exa mple.com", "label 'exa mple'"),
        ("example..com", "empty label"),
        ("-bad.example", "label '-bad'"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("a" * 64 + ".example", "at most 63"),
    ],
)
def test_dns_names_for_name_constraints(name: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        text.check_dns_name(name, "intermediate.permitted_dns")
    assert text.check_dns_name(".example.com", "x") == ".example.com"


def test_profile_names_and_urls_are_checked_when_built() -> None:
    with pytest.raises(InputError, match="wildcard"):
        IntermediateProfile(validity_days=10, permitted_dns=("*.exa mple..com",))
    with pytest.raises(InputError, match="printable ASCII without spaces"):
        IntermediateProfile(validity_days=10, crl_url="http://pki.example/crl list")
    with pytest.raises(InputError, match="must start with http:// or ldap://"):
        IntermediateProfile(validity_days=10, issuer_url="ftp://pki.example/ca")
    with pytest.raises(InputError, match="not an ISO 3166-1"):
        SubjectSpec("Root", "Org", "XX")
    with pytest.raises(InputError, match="capitals"):
        SubjectSpec("Root", "Org", "nl")


def test_two_spellings_of_one_person_are_one_name() -> None:
    cf = ceremonyfile.rehearsal_definition()
    people = (*cf.participants[:-1], Participant("custodian 1", Role.CUSTODIAN))
    with pytest.raises(InputError, match="are the same name"):
        dataclasses.replace(cf, participants=people)


def _definition_with(old: bytes, new: bytes) -> bytes:
    data = ceremonyfile.render(ceremonyfile.rehearsal_definition())
    assert data.count(old) == 1
    return data.replace(old, new)


FILE_CASES = {
    "cn with NUL": (b'common_name = "Example Rehearsal Root CA"', b'common_name = "Root\\u0000CA"'),
    "cn with newline": (
        b'common_name = "Example Rehearsal Root CA"',
        b'common_name = "Root\\nCA"',
    ),
    "cn with RLO": (
        b'common_name = "Example Rehearsal Root CA"',
        b'common_name = "Root \\u202eCA"',
    ),
    "cn with ZWSP": (
        b'common_name = "Example Rehearsal Root CA"',
        b'common_name = "Root\\u200b CA"',
    ),
    "cn unassigned in 3.2": (
        b'common_name = "Example Rehearsal Root CA"',
        b'common_name = "Root \\U0001F510 CA"',
    ),
    "participant with ZWSP": (b'name = "Custodian 1"', b'name = "Custodian\\u200b 1"'),
    "place with newline": (b'place = "Rehearsal room"', b'place = "Rehearsal\\nroom"'),
    "token label trailing space": (b'label = "root-ca"', b'label = "root-ca "'),
    "key label with control": (b'key_label = "root-ca-key"', b'key_label = "root\\u0007key"'),
    "dns constraint": (
        b'issuer_url = "http://pki.example.test/root-ca.der"',
        b'issuer_url = "http://pki.example.test/root-ca.der"\npermitted_dns = ["*.exa mple..com"]',
    ),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_root_ceremony_file_with_a_bad_name_writes_nothing(case: str, tmp_path: Path) -> None:
    cfile = tmp_path / "ceremony.toml"
    cfile.write_bytes(_definition_with(*FILE_CASES[case]))
    loc = tmp_path / "locator.toml"
    loc.write_text("rehearsal = true\n")
    out = tmp_path / "bundle"
    r = run_cli("root", "--ceremony", cfile, "--locator", loc, "--out", out)
    assert_refused(r, 2, str(cfile))
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ceremony.toml", "locator.toml"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=50))
def test_the_rules_answer_every_string_and_a_passing_name_survives_the_file(value: str) -> None:
    reason = text.problem(value)
    if reason is not None:
        return
    assert unicodedata.is_normalized("NFC", value)
    cf = ceremonyfile.rehearsal_definition()
    cf = dataclasses.replace(cf, place=value)
    assert ceremonyfile.parse(ceremonyfile.render(cf)).place == value
