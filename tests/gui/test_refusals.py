"""Every refusal the wizard can meet is shown on the page, with a way to go on or abort."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shamir_mnemonic
from pytestqt.qtbot import QtBot

from ceremony.config import ceremonyfile
from ceremony.flow.engine import FAULT_ENV, FAULT_EXIT
from ceremony.flow.wizard import default_plans, probe_bundle
from ceremony.hsm.module import SoftHsmHome, default_module_path
from tests.gui.conftest import MakeDriver, MakeWindow, fake_net
from tests.gui.driver import WizardDriver
from tests.helpers import run_cli
from ui.options import Options
from ui.panels.collect import CollectPanel
from ui.panels.questions import OrphanPanel
from ui.window import CeremonyWindow


def _abort(driver: WizardDriver, qtbot: QtBot) -> None:
    w = driver.w
    driver.click(w.abort_button)
    qtbot.waitUntil(lambda: w.abort_box is not None and w.abort_box.isVisible())
    driver.shot("abort-question")
    driver.click(w.abort_confirm)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=30_000)


def test_real_ceremony_refuses_while_a_network_interface_is_up(
    make_window: MakeWindow,
    make_driver: MakeDriver,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = fake_net(tmp_path / "net", eth0=True)
    home = SoftHsmHome(tmp_path / "hsm")
    home.ensure()
    monkeypatch.setenv("SOFTHSM2_CONF", str(home.conf_path))
    reviewed = tmp_path / "reviewed.toml"
    reviewed.write_bytes(
        ceremonyfile.render(ceremonyfile.rehearsal_definition(shares=3, threshold=2))
    )
    w = make_window(Options(sys_net=net))
    d = make_driver(w)
    d.choose("root", rehearsal=False)
    assert w.banner.objectName() == "banner-real"
    d.setup(tmp_path / "bundle", definition=reviewed)
    page = d.page
    assert all(e.isReadOnly() for e in page.names), "a real ceremony's participants are fixed"
    d.sign_in()
    d.preflight(open_ceremony=False)
    page = d.page
    assert "Refused" in page.network.text() and "eth0" in page.network.text()
    assert page.report.hsm.ok
    assert not w.primary.isEnabled(), "a real ceremony cannot open with the network up"

    (net / "eth0" / "flags").write_text("0x1002\n")  # the cable is pulled
    d.click(page.recheck)
    qtbot.waitUntil(lambda: not page.busy and "No network" in page.network.text())
    d.shot("preflight-network-down")
    assert w.primary.isEnabled()

    _abort(d, qtbot)
    bundle = tmp_path / "bundle"
    assert sorted(p.name for p in bundle.iterdir()) == ["ceremony.toml"], "nothing recorded"
    assert (bundle / "ceremony.toml").read_bytes() == reviewed.read_bytes()


def test_missing_hsm_is_shown_and_fixed_on_the_preflight_page(
    driver: WizardDriver,
    window: CeremonyWindow,
    qtbot: QtBot,
    tmp_path: Path,
) -> None:
    # an exception noted before any log exists is kept until the ceremony opens
    driver.click(window.exception_button)
    dialog = window.exception_dialog
    assert dialog is not None
    driver.type(dialog.description, "The HSM's tamper bag serial was read twice")
    driver.click(dialog.ok)
    qtbot.waitUntil(lambda: "when the ceremony log opens" in window.status.text())

    driver.choose("root", rehearsal=True)
    driver.setup(tmp_path / "bundle", threshold=2, shares=2, module="/nonexistent/libpkcs11.so")
    driver.sign_in()
    driver.preflight(open_ceremony=False)
    page = driver.page
    assert "HSM not available" in page.hsm_status.text()
    assert "not found" in page.hsm_status.text()
    assert not window.primary.isEnabled()

    driver.type(page.module, default_module_path())
    driver.click(page.recheck)
    qtbot.waitUntil(lambda: not page.busy and page.report.hsm.ok)
    driver.shot("preflight-hsm-found")
    driver.click(window.primary)
    qtbot.waitUntil(lambda: page.opened, timeout=30_000)
    driver.next("step:token.init")

    _abort(driver, qtbot)
    probe = probe_bundle(tmp_path / "bundle", default_plans()["root"], rehearsal=True)
    assert probe.resumable and probe.done == ("ceremony.open", "preflight")
    events = (probe.open_transcript / "events.jsonl").read_text()  # type: ignore[operator]
    assert "tamper bag serial was read twice" in events


def test_resume_after_a_crash_with_a_wrong_share_then_the_orphan_key(
    driver: WizardDriver,
    window: CeremonyWindow,
    qtbot: QtBot,
    tmp_path: Path,
) -> None:
    bundle = tmp_path / "bundle"
    crashed = run_cli(
        "demo",
        "--out",
        bundle,
        "--threshold",
        "2",
        "--shares",
        "3",
        env={FAULT_ENV: "root.key:action"},
    )
    assert crashed.returncode == FAULT_EXIT, crashed.stderr
    secrets = json.loads((bundle / "rehearsal/secrets.json").read_text())
    good = secrets["activation_shares"]
    for i, share in enumerate(good, 1):
        driver.cards[("activation", f"Custodian {i}")] = share

    driver.choose("root", rehearsal=True)
    driver.setup(bundle, expect="resume")
    assert "token.init" in driver.page.facts.values()["Steps recorded"]
    driver.resume()
    driver.sign_in()
    assert window.current_page.action_label() == "&Reopen the ceremony"
    driver.preflight()
    assert driver.key == "step:root.key"

    refusals: list[str] = []
    stopped = {"done": False}
    foreign = shamir_mnemonic.generate_mnemonics(1, [(2, 3)], bytes(32))[0][0]

    def wrong_first(panel: object) -> bool:
        if not isinstance(panel, CollectPanel) or stopped["done"]:
            return False
        words = good[0].split()
        words[10] = "acid" if words[10] != "acid" else "acne"
        for bad in (" ".join(words), foreign):
            driver.type(panel.words, bad)
            driver.click(panel.accept_button)
            refusals.append(panel.message.text())
            driver.shot("collect-refused")
        assert panel.entry.count == 0, "a refused share is not kept"
        driver.click(panel.abort_button)
        stopped["done"] = True
        return True

    state = driver.run_step(answer=wrong_first)
    assert state == "failed"
    assert "checksum" in refusals[0] and "Custodian 1" in refusals[0]
    assert "another share set" in refusals[1]
    page = driver.page
    assert "Refused" in page.error_box.text() and "stopped" in page.error_box.text()
    assert window.primary.text() == "Try a&gain"

    seen: list[object] = []
    driver.click(window.primary)
    while page.state != "done":
        qtbot.waitUntil(
            lambda: window.panel is not None or page.state in ("done", "failed"), timeout=60_000
        )
        if window.panel is not None:
            seen.append(type(window.panel))
            driver.answer(window.panel)
    assert seen == [CollectPanel, OrphanPanel]
    driver.shot("step-root-key-after-retry")
    driver.next()
    driver.run_steps()
    assert driver.summary() is True, driver.page.report.toPlainText()
    assert run_cli("verify", bundle).returncode == 0

    events = [
        json.loads(x)
        for x in (bundle / "transcripts/001-root/events.jsonl").read_text().splitlines()
    ]
    notes = [e["payload"]["description"] for e in events if e["event"] == "exception"]
    assert any("interrupted after step activation.proof" in n for n in notes)
    assert any("left by an interrupted key generation" in n for n in notes)
    assert [e["step"] for e in events if e["event"] == "step"].count("root.key") == 1


def test_abort_during_the_share_hand_out_leaves_a_resumable_ceremony(
    driver: WizardDriver, window: CeremonyWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    driver.choose("root", rehearsal=True)
    driver.setup(tmp_path / "bundle", threshold=1, shares=1)
    driver.sign_in()
    driver.preflight()
    page = driver.page
    driver.tick(page.agree)
    driver.click(window.primary)
    qtbot.waitUntil(lambda: window.panel is not None, timeout=30_000)
    driver.shot("handout-before-abort")
    _abort(driver, qtbot)
    assert page.state == "failed" and "aborted" in str(page.error)
    probe = probe_bundle(tmp_path / "bundle", default_plans()["root"], rehearsal=True)
    assert probe.resumable and probe.done == ("ceremony.open", "preflight")
