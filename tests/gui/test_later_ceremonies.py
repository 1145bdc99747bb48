"""Intermediate signing (CSR from removable media) and CRL ceremonies through the wizard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pytestqt.qtbot import QtBot

from ceremony.hsm.module import SoftHsmHome
from ceremony.media.volumes import FolderSource
from tests.gui.conftest import MakeDriver, MakeWindow
from tests.gui.driver import WizardDriver
from tests.helpers import run_cli
from ui.options import Options


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("later") / "bundle"
    r = run_cli("demo", "--out", out, "--threshold", "3", "--shares", "5")
    assert r.returncode == 0, r.stderr
    return out


def _bundle(demo: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(demo, dst)
    SoftHsmHome(dst / "rehearsal").ensure()
    return dst


def _cards(driver: WizardDriver, bundle: Path) -> None:
    secrets = json.loads((bundle / "rehearsal/secrets.json").read_text())
    for i, share in enumerate(secrets["activation_shares"], 1):
        driver.cards[("activation", f"Custodian {i}")] = share


def _csr(key: object, cn: str) -> bytes:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA384())  # type: ignore[arg-type]
    return csr.public_bytes(serialization.Encoding.PEM)


ABSENT = ("Custodian 1", "Custodian 4")
"""Three of five custodians in the room for every later ceremony."""


def _finish(driver: WizardDriver, bundle: Path, kind: str) -> list[dict[str, Any]]:
    """Sign in with two custodians absent, run every step, verify; the ceremony's events."""
    driver.sign_in(absent=ABSENT)
    assert (
        "Recorded as absent: Custodian 1, Custodian 4"
        in driver.w.pages["participants"].quorum.text()
    )
    driver.preflight()
    driver.run_steps()
    assert driver.summary() is True, driver.page.report.toPlainText()
    v = run_cli("verify", bundle)
    assert v.returncode == 0, v.stdout
    folder = sorted((bundle / "transcripts").glob(f"*-{kind}"))[-1]
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    opened = next(e for e in events if e["step"] == "ceremony.open")["payload"]
    assert opened["attendance"]["absent"] == list(ABSENT)
    collected = [n for e in events for n in e["payload"].get("presented_by", [])]
    assert collected and not set(collected) & set(ABSENT), collected
    return events


def test_signing_ceremony_with_a_csr_from_removable_media(
    demo: Path,
    make_window: MakeWindow,
    make_driver: MakeDriver,
    qtbot: QtBot,
    tmp_path: Path,
    sys_net: Path,
) -> None:
    bundle = _bundle(demo, tmp_path)
    stick = tmp_path / "media" / "CSR-STICK"
    w = make_window(Options(sys_net=sys_net, media=FolderSource([stick]), media_poll_ms=50))
    d = make_driver(w)
    _cards(d, bundle)
    d.choose("sign-csr", rehearsal=True)
    d.setup(bundle, expect="csr")
    page = d.page
    assert page.volume_list.count() == 0 and not w.primary.isEnabled()
    assert "No removable media found" in page.message.text()

    stick.mkdir(parents=True)  # the stick is plugged in
    (stick / "notes.csr").write_bytes(b"not a request")
    (stick / "weak.csr").write_bytes(_csr(rsa.generate_private_key(65537, 2048), "Weak CA"))
    (stick / "requests").mkdir()
    (stick / "requests" / "issuing-2.csr").write_bytes(
        _csr(ec.generate_private_key(ec.SECP384R1()), "Example Issuing CA 2")
    )
    qtbot.waitUntil(lambda: page.volume_list.count() == 1 and page.file_list.count() == 3)
    texts = [page.file_list.item(i).text() for i in range(3)]
    assert "refused" in texts[0] and texts[0].startswith("notes.csr")

    def check(name: str) -> None:
        row = next(
            i
            for i in range(page.file_list.count())
            if page.file_list.item(i).text().startswith(name)
        )
        page.file_list.setFocus()
        page.file_list.setCurrentRow(row)
        d.click(page.check_button)
        qtbot.waitUntil(lambda: not page.busy, timeout=30_000)

    check("weak.csr")
    assert "Refused" in page.message.text() and "2048" in page.message.text()
    d.shot("csr-refused")
    assert not w.primary.isEnabled()

    check("requests/issuing-2.csr")
    assert page.request is not None, page.message.text()
    shutil.rmtree(stick)  # the stick is pulled before Next
    qtbot.waitUntil(lambda: page.volume_list.count() == 0)
    assert "removed" in page.message.text() and page.request is None
    assert not w.primary.isEnabled()
    d.shot("csr-media-pulled")

    stick.mkdir(parents=True)
    (stick / "issuing-2.csr").write_bytes(
        _csr(ec.generate_private_key(ec.SECP384R1()), "Example Issuing CA 2")
    )
    qtbot.waitUntil(lambda: page.file_list.count() == 1)
    check("issuing-2.csr")
    assert page.request is not None and page.request.output == "issued/example-issuing-ca-2.pem"
    d.shot("csr-checked")
    d.next("participants")
    _finish(d, bundle, "sign-csr")
    assert (bundle / "issued/example-issuing-ca-2.pem").is_file()
    exported = [p for p in stick.iterdir() if p.is_dir()]
    assert (
        len(exported) == 1
        and (exported[0] / "example-issuing-ca-2.pem").read_bytes()
        == (bundle / "issued/example-issuing-ca-2.pem").read_bytes()
    )
    assert (bundle / "transcripts/003-sign-csr/transcript.pdf").is_file()


def test_crl_ceremony_revokes_an_intermediate_and_writes_the_crl_to_media(
    demo: Path,
    make_window: MakeWindow,
    make_driver: MakeDriver,
    qtbot: QtBot,
    tmp_path: Path,
    sys_net: Path,
) -> None:
    bundle = _bundle(demo, tmp_path)
    stick = tmp_path / "media" / "CRL-STICK"
    stick.mkdir(parents=True)
    w = make_window(Options(sys_net=sys_net, media=FolderSource([stick]), media_poll_ms=50))
    driver = make_driver(w)
    _cards(driver, bundle)
    driver.choose("crl", rehearsal=True)
    driver.setup(bundle, expect="revocation")
    page = driver.page
    assert "sample-intermediate" in " ".join(page.listing.values().values())
    qtbot.waitUntil(lambda: page.volume_list.count() == 1)
    driver.tick(page.revoke)
    page.reason.setFocus()
    assert not driver.w.primary.isEnabled(), "no reason is chosen for the room"
    qtbot.keyClicks(page.reason, "key")  # type: ignore[no-untyped-call]  # keyboard search in the reason list
    assert page.reason.currentData() == "key-compromise"
    assert page.reason.currentText().startswith("Key compromise: ")
    driver.shot("revocation")
    driver.next("participants")
    page = driver.page
    driver.tick(page.hash_read)
    driver.tick(page.all_present)
    assert all(b.isChecked() for b in page.present) and driver.w.primary.isEnabled()
    for box in page.present[2:5]:  # three of the five custodians untick
        driver.tick(box, False)
    assert not page.all_present.isChecked(), "All present follows the boxes"
    assert not driver.w.primary.isEnabled()
    assert "2 of 5 custodians present; this ceremony needs 3" in page.quorum.text()
    driver.shot("participants-short")
    _finish(driver, bundle, "crl")
    crl = x509.load_der_x509_crl((bundle / "root/root-ca.crl").read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    sample = x509.load_pem_x509_certificate(
        (bundle / "issued/sample-intermediate.pem").read_bytes()
    )
    entry = crl.get_revoked_certificate_by_serial_number(sample.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    written = [p for p in stick.iterdir() if p.is_dir()]
    assert len(written) == 1, "the CRL ceremony writes to the operator's media"
    assert (written[0] / "root-ca-2.crl").read_bytes() == (bundle / "root/root-ca.crl").read_bytes()
    assert (written[0] / "root-ca.pem").read_bytes() == (bundle / "root/root-ca.pem").read_bytes()


def test_recovery_into_a_new_label_checked_before_any_share(
    demo: Path,
    driver: WizardDriver,
    tmp_path: Path,
) -> None:
    bundle = _bundle(demo, tmp_path)
    shares = (bundle / "rehearsal/backup-shares.txt").read_text().splitlines()
    for i, share in enumerate(shares, 1):
        driver.cards[("recovery", f"Custodian {i}")] = share
    driver.choose("recovery", rehearsal=True)
    driver.setup(bundle, expect="target")
    page = driver.page
    assert page.label_edit.text() == "root-ca-2", "a free label is suggested"
    driver.type(page.label_edit, "root-ca")  # the old token is still in the HSM
    driver.click(driver.w.primary)
    driver.wait_idle()
    assert driver.key == "target"
    assert "Refused" in page.message.text() and "exists already" in page.message.text()
    driver.shot("target-refused")
    driver.type(page.label_edit, "root-ca-restored")
    driver.next("participants")
    events = _finish(driver, bundle, "recovery")
    shares_event = next(e for e in events if e["step"] == "recovery.shares")["payload"]
    assert shares_event["recovery"]["target_token"] == "root-ca-restored"
    assert shares_event["presented_by"] == ["Custodian 2", "Custodian 3", "Custodian 5"]
    proof = next(e for e in events if e["step"] == "recovery.unwrap")["payload"]["proof"]
    assert proof["signature_verified_with_root_certificate"] is True
    old = next(e for e in events if e["step"] == "recovery.old-token")["payload"]["old_token"]
    assert old["fate"] == "kept", "the target page's choice, preset in a rehearsal"
    assert run_cli("verify", bundle).returncode == 0


def test_abort_closes_a_verifiable_bundle(
    demo: Path,
    driver: WizardDriver,
    qtbot: QtBot,
    tmp_path: Path,
) -> None:
    """The room refuses the CSR at review: the ceremony is closed as aborted, and verifies."""
    bundle = _bundle(demo, tmp_path)
    _cards(driver, bundle)
    driver.choose("sign-csr", rehearsal=True)
    driver.setup(bundle, expect="csr")
    key = ec.generate_private_key(ec.SECP384R1())
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "announced.csr").write_bytes(_csr(key, "Announced Issuing CA"))
    page = driver.page
    page.choose_file(stick / "announced.csr")
    qtbot.waitUntil(lambda: not page.busy and page.request is not None, timeout=30_000)
    driver.next("participants")
    driver.sign_in(absent=ABSENT)
    driver.preflight()
    assert driver.key.startswith("step:")
    w = driver.w
    driver.click(w.abort_button)
    qtbot.waitUntil(lambda: w.abort_box is not None and w.abort_box.isVisible())
    driver.shot("abort-choice")
    assert w.abort_closing is not None
    w.abort_closing.click()
    qtbot.waitUntil(lambda: w.abort_dialog is not None and w.abort_dialog.isVisible())
    dialog = w.abort_dialog
    assert dialog is not None and not dialog.ok.isEnabled()
    driver.type(dialog.reason, "the subject read aloud is not the one the operator announced")
    driver.shot("abort-reason")
    dialog.ok.click()
    qtbot.waitUntil(lambda: w.panel is not None or driver.key == "summary", timeout=60_000)
    if w.panel is not None:  # the custodians present activate the key that signs the record
        driver.answer(w.panel)
    qtbot.waitUntil(lambda: driver.key == "summary", timeout=60_000)
    assert driver.summary() is True, driver.page.report.toPlainText()
    assert run_cli("verify", bundle).returncode == 0
    folder = sorted((bundle / "transcripts").glob("*-sign-csr"))[-1]
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    close = events[-1]
    assert close["step"] == "ceremony.close" and close["payload"]["aborted"] is True
    assert "not the one the operator announced" in close["payload"]["reason"]
    assert (folder / "transcript.pdf").is_file()
    assert not list((bundle / "issued").glob("announced*"))
