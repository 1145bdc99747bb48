"""Refusals come before anything is written: each case leaves the bundle, its tokens and the
folders around it exactly as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from ceremony.hsm.module import Hsm
from tests.helpers import assert_refused, run_cli, tree


def _shares_file(bundle: Path, tmp_path: Path) -> Path:
    lines = (bundle / "rehearsal/backup-shares.txt").read_text().splitlines()[:3]
    path = tmp_path / "shares.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "label, reason",
    [
        ("root-ca ", "ends with a space"),
        ("root-ca", "exists already"),
        ("a\nb", "control character"),
        ("", "is empty"),
        ("x" * 40, "at most 32"),
    ],
)
def test_restore_token_label_refused_before_anything(
    label: str, reason: str, demo_bundle: Path, tmp_path: Path
) -> None:
    shares = _shares_file(demo_bundle, tmp_path)
    before = tree(demo_bundle)
    r = run_cli("restore", demo_bundle, "--shares", shares, "--to-token", label)
    assert_refused(r, 2, "--to-token" if reason != "exists already" else "root-ca", reason)
    assert tree(demo_bundle) == before


def test_a_padded_label_names_the_same_token(hsm: Hsm) -> None:
    hsm.init_token("root-ca")
    assert hsm.has_token("root-ca")
    with pytest.raises(Exception, match="ends with a space"):
        hsm.init_token("root-ca ")
    assert hsm.labels() == ["root-ca"]
    assert hsm.token("root-ca").label.rstrip() == "root-ca"
