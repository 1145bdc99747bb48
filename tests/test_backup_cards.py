"""Share cards: the PDF is read back as a custodian and a scanner would read it.

Pages are rasterised with poppler's ``pdftoppm`` and their QR codes decoded
with zxing-cpp; the text is extracted with ``pdftotext``. The page images are
kept under ``artifacts/share-cards/`` for reviewers.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from ceremony.backup.cards import (
    REHEARSAL_BANNER,
    WARNING_TITLE,
    ShareCard,
    cards_for_share_set,
    render_share_cards,
)
from ceremony.backup.shares import ShareSet, ShareSetParams, check_value, split_secret
from ceremony.errors import InputError
from ceremony.flow.quorum import split_pins
from ceremony.hsm.module import TokenPins
from tests.helpers import ARTIFACTS

KEY = bytes(range(32))
PIN_SECRET = bytes(range(16))
CUSTODIANS = [
    ("Alice Anderson", "custodian"),
    ("Bob Brown", "custodian"),
    ("Zoë Ångström", "custodian"),
    ("Dolores Oyelaran-Dimitrijević", "custodian"),
    ("Eve Evans", "backup custodian"),
]


@pytest.fixture(scope="module")
def recovery_set() -> ShareSet:
    return split_secret(KEY, ShareSetParams(3, 5), iteration_exponent=0)


def _cards(share_set: ShareSet, purpose: str = "recovery") -> list[ShareCard]:
    secret = KEY if purpose == "recovery" else PIN_SECRET
    return cards_for_share_set(
        share_set,
        CUSTODIANS,
        check_value=check_value(secret),
        ceremony_id="root-2025-01",
        purpose=purpose,
    )


def _pages_as_png(pdf: bytes, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cards.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", str(folder / "cards.pdf"), str(folder / "page")],
        check=True,
    )
    return sorted(folder.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[1]))


def _page_text(pdf: Path, page: int) -> str:
    return subprocess.run(
        ["pdftotext", "-raw", "-f", str(page), "-l", str(page), str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _keep(pngs: list[Path], name: str) -> None:
    out = ARTIFACTS / "share-cards"
    out.mkdir(parents=True, exist_ok=True)
    for i, png in enumerate(pngs, 1):
        shutil.copyfile(png, out / f"{name}-{i}.png")


def _decode_qr(png: Path) -> str:
    with Image.open(png) as image:
        results = zxingcpp.read_barcodes(image)
    assert len(results) == 1, f"{png.name}: {len(results)} barcodes"
    result = results[0]
    assert result.valid
    assert result.format == zxingcpp.BarcodeFormat.QRCode
    assert result.ec_level == "M"
    return str(result.text)


def test_rehearsal_recovery_cards_read_back(recovery_set: ShareSet, tmp_path: Path) -> None:
    cards = _cards(recovery_set)
    pdf = render_share_cards(cards, rehearsal=True)
    pngs = _pages_as_png(pdf, tmp_path)
    assert len(pngs) == 5
    _keep(pngs, "rehearsal-recovery")
    for page, (card, png) in enumerate(zip(cards, pngs, strict=True), 1):
        assert _decode_qr(png) == card.mnemonic
        text = _page_text(tmp_path / "cards.pdf", page)
        assert card.custodian in text
        assert f"Role: {card.role}" in text
        assert f"share {page} of 5, any 3 recover" in text
        assert recovery_set.set_id in text
        assert check_value(KEY) in text
        assert "root-2025-01" in text
        assert text.count(REHEARSAL_BANNER) == 2
        assert WARNING_TITLE in text
        assert "No photos, no scans, no typing into a computer" in text
        for field in ("Tamper-evident bag serial:", "Custodian signature:", "Date:"):
            assert field in text
        numbered = [line.split() for line in text.splitlines() if line[:1].isdigit()]
        words = [w for n, w in sorted((int(n), w) for n, w in numbered if n.isdigit())]
        assert " ".join(words) == card.mnemonic
    assert "share 2 of 5" in _page_text(tmp_path / "cards.pdf", 2)


def test_production_activation_cards_read_back(tmp_path: Path) -> None:
    share_set = split_pins(TokenPins(PIN_SECRET, PIN_SECRET), 3, 5, rehearsal=False)
    cards = _cards(share_set, "activation")
    pdf = render_share_cards(cards, rehearsal=False)
    pngs = _pages_as_png(pdf, tmp_path)
    _keep(pngs, "activation")
    assert [_decode_qr(p) for p in pngs] == [c.mnemonic for c in cards]
    text = _page_text(tmp_path / "cards.pdf", 3)
    assert "HSM activation share" in text
    assert "Zoë Ångström" in text
    assert "share 3 of 5, any 3 recover" in text
    assert "REHEARSAL" not in text
    assert WARNING_TITLE in text


def test_same_cards_give_the_same_bytes(recovery_set: ShareSet) -> None:
    first = render_share_cards(_cards(recovery_set), rehearsal=True)
    assert render_share_cards(_cards(recovery_set), rehearsal=True) == first
    assert render_share_cards(_cards(recovery_set), rehearsal=False) != first


def test_secrets_stay_out_of_repr(recovery_set: ShareSet) -> None:
    card = _cards(recovery_set)[0]
    assert "mnemonic" not in repr(card)
    assert card.mnemonic not in repr(card)
    assert card.custodian in repr(card)


def test_names_the_font_cannot_print_are_refused(recovery_set: ShareSet) -> None:
    card = replace(_cards(recovery_set)[2], custodian="Chen Wei 陈伟")
    with pytest.raises(InputError, match=r"share card 3: custodian 'Chen Wei 陈伟': .* '伟陈'"):
        render_share_cards([card], rehearsal=True)


def test_cards_for_share_set_refuses_a_mismatch(recovery_set: ShareSet) -> None:
    with pytest.raises(ValueError, match="4 custodians for 5 shares"):
        cards_for_share_set(
            recovery_set,
            CUSTODIANS[:4],
            check_value="00",
            ceremony_id="x",
            purpose="recovery",
        )


def test_two_level_cards_name_the_group_rule() -> None:
    grouped = split_secret(KEY, ShareSetParams.two_level(2, ((2, 2), (2, 3))), iteration_exponent=0)
    cards = cards_for_share_set(
        grouped, CUSTODIANS, check_value="00", ceremony_id="x", purpose="recovery"
    )
    assert cards[0].rule.startswith("share 1 of 5; group 1 of 2: any 2 of its 2 members")
    assert cards[4].rule.startswith("share 5 of 5; group 2 of 2: any 2 of its 3 members")
    text = subprocess.run(
        ["pdftotext", "-", "-"],
        input=render_share_cards(cards, True),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "and 2 groups, rebuild it" in text


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"purpose": "backup"}, ValueError, "purpose 'backup'"),
        ({"index": 6}, ValueError, "index 6"),
        ({"threshold": 0}, ValueError, "threshold 0"),
        ({"custodian": " "}, ValueError, "custodian: must not be empty"),
        ({"mnemonic": ""}, ValueError, "mnemonic: must not be empty"),
        ({"count": "5"}, TypeError, "count"),
        ({"role": None}, TypeError, "role"),
    ],
)
def test_share_card_validates(
    recovery_set: ShareSet, changes: dict[str, object], error: type[Exception], message: str
) -> None:
    fields: dict[str, object] = {
        "custodian": "Alice",
        "role": "custodian",
        "index": 1,
        "count": 5,
        "threshold": 3,
        "set_id": recovery_set.set_id,
        "mnemonic": recovery_set.mnemonics[0],
        "check_value": check_value(KEY),
        "ceremony_id": "root-2025-01",
        "purpose": "recovery",
    }
    ShareCard(**fields)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        ShareCard(**{**fields, **changes})  # type: ignore[arg-type]


def test_render_refuses_no_cards() -> None:
    with pytest.raises(ValueError, match="no cards"):
        render_share_cards([], rehearsal=True)
