"""The setup page prints the ceremony's script: the same bytes the log's hash names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ceremony.config import ceremonyfile
from ceremony.errors import InputError
from ceremony.flow.scriptdoc import render_script
from tests.gui.driver import WizardDriver
from tests.helpers import run_cli


def test_a_new_rehearsal_prints_the_script_of_the_file_it_will_write(
    driver: WizardDriver, tmp_path: Path
) -> None:
    driver.choose("root", rehearsal=True)
    page = driver.page
    driver.type(page.folder, str(tmp_path / "bundle"))
    driver.type(page.shares, "3")
    driver.type(page.threshold, "2")
    assert page.print_script.isVisible() and page.print_script.isEnabled()
    definition = ceremonyfile.rehearsal_definition(page.key.currentData(), 2, 3)
    expected = render_script(definition, ceremonyfile.render(definition), "root", True)
    assert page.script_pdf() == expected


def test_a_later_ceremony_prints_the_script_its_log_will_name(
    driver: WizardDriver, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    assert run_cli("demo", "--out", bundle).returncode == 0
    driver.choose("crl", rehearsal=True)
    page = driver.page
    driver.type(page.folder, str(bundle))
    pdf = page.script_pdf()
    assert run_cli("crl", bundle).returncode == 0
    opened = json.loads(
        next(bundle.glob("transcripts/*-crl/events.jsonl")).read_text().split("\n")[0]
    )
    assert opened["payload"]["script_sha256"] == hashlib.sha256(pdf).hexdigest()


def test_a_real_ceremony_without_its_file_says_so(driver: WizardDriver) -> None:
    driver.choose("root", rehearsal=False)
    with pytest.raises(InputError, match="choose the bundle folder or the ceremony file"):
        driver.page.script_pdf()
