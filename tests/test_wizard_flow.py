"""The wizard's navigation state machine and session, without Qt (Electrum's test_wizard)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import shamir_mnemonic
from cryptography import x509

from ceremony.audit.eventlog import Actor, EventLog
from ceremony.bundle import Bundle
from ceremony.config import ceremonyfile
from ceremony.errors import ConfigError, InputError, PolicyError, ShareError
from ceremony.flow.ceremonies import start_bundle
from ceremony.flow.engine import Context, Step
from ceremony.flow.prompts import RehearsalPrompter
from ceremony.flow.wizard import (
    OWNED_STEPS,
    CeremonyPlan,
    CeremonySession,
    Choices,
    Navigator,
    Page,
    ShareEntry,
    View,
    default_plans,
    draft_for,
    open_ceremony,
    probe_bundle,
    rehearsal_draft,
)
from ceremony.flow.wizard.review import flatten, qr_matrix

STEP_NAMES = ("ceremony.open", "preflight", "a.first", "b.commit", "ceremony.close")


def _noop(ctx: Context) -> dict[str, object]:
    return {}


def _steps(names: Sequence[str] = STEP_NAMES) -> list[Step]:
    return [Step(n, f"Do {n}", _noop, commit=n.endswith("commit")) for n in names]


def _plans(names: Sequence[str] = STEP_NAMES) -> dict[str, CeremonyPlan]:
    return {
        "root": CeremonyPlan("root", "Root", "", lambda: _steps(names), creates_bundle=True),
        "sign-csr": CeremonyPlan("sign-csr", "Sign", "", lambda: _steps(names), inputs=(View.CSR,)),
        "crl": CeremonyPlan("crl", "CRL", "", lambda: _steps(names), inputs=(View.REVOCATION,)),
        "recovery": CeremonyPlan("recovery", "Recovery", "", None),
    }


def _walk(nav: Navigator, data: Choices, done_as_we_go: bool = True) -> list[str]:
    """Follow the navigator to the last page, marking steps done; the page keys seen."""
    seen = [nav.current.key]
    while not nav.is_last():
        page = nav.resolve_next(data)
        seen.append(page.key)
        if page.view is View.PREFLIGHT and done_as_we_go:
            data = Choices(
                **{**data.__dict__, "started": True, "done": data.done | set(OWNED_STEPS)}
            )
            nav.update(data)
        if page.view is View.STEP and done_as_we_go:
            assert page.step is not None
            data = data.with_done(page.step)
            nav.update(data)
    return seen


def _choices(kind: str = "root", **kw: object) -> Choices:
    return Choices(kind=kind, steps=STEP_NAMES, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------- navigation


def test_new_root_ceremony_visits_every_page_in_order() -> None:
    nav = Navigator(_plans())
    nav.start(_choices())
    assert _walk(nav, _choices()) == [
        "choose",
        "setup",
        "participants",
        "preflight",
        "step:a.first",
        "step:b.commit",
        "step:ceremony.close",
        "summary",
    ]


def test_resume_offers_the_resume_page_and_skips_recorded_steps() -> None:
    nav = Navigator(_plans())
    data = _choices(resume=True, done=frozenset({"ceremony.open", "preflight", "a.first"}))
    nav.start(data)
    assert _walk(nav, data) == [
        "choose",
        "setup",
        "resume",
        "participants",
        "preflight",
        "step:b.commit",
        "step:ceremony.close",
        "summary",
    ]


@pytest.mark.parametrize("kind, view", [("sign-csr", "csr"), ("crl", "revocation")])
def test_later_ceremonies_ask_their_input_before_the_sign_in(kind: str, view: str) -> None:
    nav = Navigator(_plans())
    nav.start(_choices(kind))
    assert _walk(nav, _choices(kind))[:4] == ["choose", "setup", view, "participants"]
    nav.start(_choices(kind, resume=True))
    assert _walk(nav, _choices(kind, resume=True))[:5] == [
        "choose",
        "setup",
        "resume",
        view,
        "participants",
    ]


def test_a_step_added_to_the_flow_gets_its_page_without_other_changes() -> None:
    names = (*STEP_NAMES[:3], "x.new", *STEP_NAMES[3:])
    nav = Navigator(_plans(names))
    data = Choices(steps=names)
    nav.start(data)
    assert "step:x.new" in _walk(nav, data)


def test_opening_steps_are_owned_by_the_sign_in_and_preflight_pages() -> None:
    data = _choices()
    assert data.pending_pages() == ["a.first", "b.commit", "ceremony.close"]
    assert set(OWNED_STEPS.values()) == {View.PARTICIPANTS, View.PREFLIGHT}


def test_back_is_allowed_until_the_ceremony_log_opens() -> None:
    nav = Navigator(_plans())
    data = _choices()
    nav.start(data)
    assert not nav.can_go_back()
    nav.resolve_next(data)
    nav.resolve_next(data)
    assert nav.current.view is View.PARTICIPANTS and nav.can_go_back()
    assert nav.resolve_prev().view is View.SETUP
    nav.resolve_next(data)
    nav.resolve_next(data)
    assert nav.current.view is View.PREFLIGHT and nav.can_go_back()
    nav.update(Choices(**{**data.__dict__, "started": True}))
    assert not nav.can_go_back()
    with pytest.raises(ValueError):
        nav.resolve_prev()


def test_no_back_from_a_step_page_even_before_any_step_ran() -> None:
    nav = Navigator(_plans())
    data = _choices()
    nav.start(data)
    for _ in range(4):
        nav.resolve_next(data)
    assert nav.current == Page(View.STEP, "a.first")
    assert not nav.can_go_back()


def test_commit_pages_are_the_irreversible_steps_and_summary_is_last() -> None:
    nav = Navigator(_plans())
    data = _choices()
    nav.start(data)
    assert not nav.is_commit(Page(View.STEP, "a.first"))
    assert nav.is_commit(Page(View.STEP, "b.commit"))
    assert not nav.is_commit(Page(View.PREFLIGHT))
    assert nav.is_last(Page(View.SUMMARY))
    _walk(nav, data)
    assert nav.current.view is View.SUMMARY
    with pytest.raises(ValueError, match="last page"):
        nav.resolve_next(data)


def test_history_is_a_stack_of_snapshots() -> None:
    nav = Navigator(_plans())
    first = _choices()
    nav.start(first)
    nav.resolve_next(Choices(kind="crl", steps=STEP_NAMES))
    assert nav.history() == ["choose", "setup"]
    assert nav.data.kind == "crl"
    nav.resolve_prev()
    assert nav.data == first, "Back restores what the earlier page knew"


def test_default_plans_take_their_steps_from_the_flow_scripts() -> None:
    plans = default_plans()
    assert list(plans) == ["root", "sign-csr", "crl", "recovery"]
    root = [s.name for s in plans["root"].steps()]
    assert root[:2] == ["ceremony.open", "preflight"] and root[-1] == "ceremony.close"
    assert "token.init" in root and plans["root"].step("root.key").commit
    assert all(p.available for p in plans.values())
    recovery = [s.name for s in plans["recovery"].steps()]
    assert recovery[2] == "recovery.shares" and plans["recovery"].step("recovery.unwrap").commit


# ----------------------------------------------------------------- probes


def _bundle_with_open_log(folder: Path, steps: Sequence[str]) -> Bundle:
    cf = rehearsal_draft()
    bundle = start_bundle(folder, ceremonyfile.render(cf))
    bundle.path("rehearsal").mkdir()
    log = EventLog(bundle.new_transcript("root") / "events.jsonl", "test", "root")
    for s in steps:
        log.append(s, "step", Actor("Ada", "ceremony-administrator"), {})
    return bundle


def test_probe_of_new_and_unusable_folders(tmp_path: Path) -> None:
    root = default_plans()["root"]
    fresh = probe_bundle(tmp_path / "new", root, rehearsal=True)
    assert fresh.problem is None and not fresh.resumable and not fresh.has_definition
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("x")
    assert "not empty" in str(probe_bundle(tmp_path / "junk", root, True).problem)
    (tmp_path / "file").write_text("x")
    assert "not a folder" in str(probe_bundle(tmp_path / "file", root, True).problem)
    crl = default_plans()["crl"]
    assert "no bundle" in str(probe_bundle(tmp_path / "new", crl, True).problem)


def test_probe_finds_an_open_ceremony_to_resume(tmp_path: Path) -> None:
    _bundle_with_open_log(tmp_path / "b", ["ceremony.open", "preflight", "token.init"])
    probe = probe_bundle(tmp_path / "b", default_plans()["root"], rehearsal=True)
    assert probe.resumable and probe.last_step == "token.init"
    assert probe.done == ("ceremony.open", "preflight", "token.init")
    assert probe.open_transcript is not None and probe.open_transcript.name == "001-root"
    assert open_ceremony(tmp_path / "b") == "root", "a restart offers to resume it"
    assert open_ceremony(tmp_path / "nothing") is None
    real = probe_bundle(tmp_path / "b", default_plans()["root"], rehearsal=False)
    assert "rehearsal bundle" in str(real.problem)
    crl = probe_bundle(tmp_path / "b", default_plans()["crl"], rehearsal=True)
    assert "not complete" in str(crl.problem)


# ----------------------------------------------------------------- drafts


def test_rehearsal_sign_in_renames_participants_and_changes_the_hash(tmp_path: Path) -> None:
    data = Choices(bundle=tmp_path / "b", threshold=2, shares=3)
    draft = draft_for(data, default_plans()["root"])
    assert draft.editable and draft.new
    assert [p.role.value for p in draft.definition.custodians] == ["custodian"] * 3
    names = [p.name for p in draft.definition.participants]
    renamed = draft.renamed(["Alice", *names[1:]])
    assert renamed.definition.participants[0].name == "Alice"
    assert renamed.digest != draft.digest
    assert ceremonyfile.parse(renamed.data) == renamed.definition
    with pytest.raises(ConfigError):
        draft.renamed(["", *names[1:]])
    with pytest.raises(ConfigError):
        draft.renamed([names[1], *names[1:]])


def test_real_ceremony_reads_the_reviewed_file_and_its_participants_are_fixed(
    tmp_path: Path,
) -> None:
    reviewed = tmp_path / "ceremony.toml"
    reviewed.write_bytes(ceremonyfile.render(rehearsal_draft()))
    data = Choices(rehearsal=False, bundle=tmp_path / "b", definition_file=reviewed)
    draft = draft_for(data, default_plans()["root"])
    assert draft.data == reviewed.read_bytes() and not draft.editable and draft.new
    with pytest.raises(InputError):
        draft.renamed(["x"] * len(draft.definition.participants))
    with pytest.raises(InputError):
        draft_for(Choices(rehearsal=False, bundle=tmp_path / "b"), default_plans()["root"])


# ------------------------------------------------------------ share entry


def _set(m: int, n: int) -> list[str]:
    return list(shamir_mnemonic.generate_mnemonics(1, [(m, n)], b"k" * 16)[0])


def test_share_entry_refuses_a_share_of_another_recorded_set_first() -> None:
    shares, foreign = _set(2, 3), _set(2, 3)
    from ceremony.backup.shares import format_set_id

    ident = shamir_mnemonic.Share.from_mnemonic(shares[0]).identifier
    entry = ShareEntry(2, format_set_id(ident))
    with pytest.raises(ShareError, match="another share set"):
        entry.add("Ann", foreign[0])
    assert entry.count == 0
    entry.add("Ann", shares[0])


def test_share_entry_refuses_bad_shares_by_custodian_and_keeps_good_ones() -> None:
    shares, foreign = _set(2, 3), _set(2, 3)
    entry = ShareEntry(2)
    assert "1 of 2" in entry.add("Ann", shares[0])
    words = shares[1].split()
    words[5] = "academic" if words[5] != "academic" else "acid"
    with pytest.raises(ShareError, match="Bob: share 2: checksum"):
        entry.add("Bob", " ".join(words))
    with pytest.raises(ShareError, match=r"Bob: .*another share set"):
        entry.add("Bob", foreign[1])
    with pytest.raises(ShareError, match=r"Bob: .*duplicate"):
        entry.add("Bob", shares[0])
    with pytest.raises(ShareError, match="Ann: has presented"):
        entry.add("Ann", shares[1])
    assert not entry.complete
    entry.add("Bob", shares[1].upper())
    assert entry.complete and entry.count == 2
    assert shamir_mnemonic.combine_mnemonics(entry.mnemonics()) == b"k" * 16
    assert "abandon" not in repr(entry) and shares[0] not in repr(entry)


# ---------------------------------------------------------------- results


def test_flatten_turns_a_payload_into_readable_rows() -> None:
    rows = flatten(
        {
            "activity": "hidden",
            "outputs": [{"path": "x"}],
            "key": {"label": "root", "extractable": True},
            "list": ["a", "b"],
            "people": [{"name": "A", "role": "witness"}, {"seat": 2}],
            "custodians": [{"custodian": "Custodian 1", "positions": [3, 7]}],
            "attributes": {"CKA_SENSITIVE": True},
        }
    )
    values = dict(rows)
    assert values["key · label"] == "root"
    assert values["key · extractable"].startswith("true: ")
    assert values["attributes · CKA_SENSITIVE"].startswith("true: "), "the custody sentence"
    assert ("list", "a, b") in rows and ("A · role", "witness") in rows
    assert ("people 2 · seat", "2") in rows and ("Custodian 1 · positions", "3, 7") in rows
    assert not any("[" in name for name, _ in rows)
    assert all(name not in ("activity", "outputs") for name, _ in rows)


def test_qr_matrix_is_square() -> None:
    m = qr_matrix("SHA256:" + "AB" * 32)
    assert len(m) == len(m[0]) >= 21


# ---------------------------------------------------------------- session


def _fake_net(tmp_path: Path, **up: bool) -> Path:
    net = tmp_path / "net"
    for name, is_up in {"lo": True, **up}.items():
        (net / name).mkdir(parents=True)
        flags = (0x1 if is_up else 0) | (0x8 if name == "lo" else 0)
        (net / name / "flags").write_text(f"0x{flags:x}\n")
    return net


def test_session_runs_a_whole_rehearsal_root_ceremony_headless(tmp_path: Path) -> None:
    """What the wizard does, page by page, with the rehearsal prompter answering."""
    folder = tmp_path / "bundle"
    plan = default_plans()["root"]
    prompter = RehearsalPrompter(folder / "rehearsal")
    session = CeremonySession(plan, True, folder, prompter, sys_net=_fake_net(tmp_path))
    assert not session.note_exception("the witness arrived late", "signed in on arrival")
    draft = draft_for(Choices(bundle=folder, threshold=2, shares=3), plan)
    session.prepare_bundle(draft.data)
    report = session.preflight_report()
    assert report.ready and report.hsm.ok and not report.network_up
    assert report.software_words.split()[0].isalpha()
    everyone = [p.name for p in draft.definition.participants]
    with pytest.raises(PolicyError, match="every custodian"):
        session.open(everyone[:-1])
    assert session.ctx is None, "a refused sign-in opens no log"
    opened = session.open(everyone)
    assert [e["step"] for e in opened] == ["ceremony.open", "preflight"]
    assert opened[0]["payload"]["attendance"] == {"present": everyone, "absent": []}
    data = Choices(steps=tuple(s.name for s in plan.steps()), done=session.done_steps())
    previews = {}
    for name in data.pending_pages():
        preview = session.preview(name)
        if preview is not None:
            previews[name] = preview
        session.run(name)
    assert set(previews) == {"root.certificate", "signer.certificate", "crl.issue"}
    root = x509.load_pem_x509_certificate((folder / "root/root-ca.pem").read_bytes())
    assert hashlib.sha256(root.tbs_certificate_bytes).hexdigest() == (
        previews["root.certificate"].tbs_sha256
    ), "the root signs exactly the TBS previewed to the room"
    fields = dict(previews["root.certificate"].fields)
    assert fields["Subject"] == fields["Issuer"] and "Serial number" in fields
    event = session.ctx.log.find("root.certificate")  # type: ignore[union-attr]
    assert event is not None and event["payload"]["previewed_to_the_room"] is True
    results = {n: session.result(session.run(n)) for n in ("root.certificate", "token.init")}
    review = results["root.certificate"].certificates[0]
    assert review.path == "root/root-ca.pem" and len(review.fingerprint_hex) == 95
    assert any(name.startswith("basicConstraints") for name, _, _ in review.extensions)
    session.finish()
    assert all(ok for ok, _ in session.verify()), [t for ok, t in session.verify() if not ok]
    events = [
        json.loads(x)
        for x in (session.transcript / "events.jsonl")
        .read_text()  # type: ignore[operator]
        .splitlines()
    ]
    noted = [e for e in events if e["event"] == "exception"]
    assert noted[0]["payload"]["description"] == "the witness arrived late"
    assert noted[0]["actor"]["role"] == "witness"


def test_session_preflight_refuses_a_real_ceremony_with_the_network_up(tmp_path: Path) -> None:
    plan = default_plans()["root"]
    net = _fake_net(tmp_path, eth0=True, wlan0=False)
    real = CeremonySession(plan, False, tmp_path / "b", RehearsalPrompter(tmp_path), sys_net=net)
    report = real.preflight_report("/nonexistent/libpkcs11.so")
    assert report.network_up == ("eth0",)
    assert "eth0" in str(report.network_refusal) and not report.ready
    assert not report.hsm.ok and "not found" in str(report.hsm.problem)
    rehearsal = CeremonySession(
        plan, True, tmp_path / "b", RehearsalPrompter(tmp_path), sys_net=net
    )
    report = rehearsal.preflight_report("/nonexistent/libpkcs11.so")
    assert report.network_refusal is None and "eth0" in str(report.network_warning)


def test_session_refuses_to_open_before_bundle_and_hsm(tmp_path: Path) -> None:
    plan = default_plans()["root"]
    session = CeremonySession(plan, True, tmp_path / "b", RehearsalPrompter(tmp_path))
    with pytest.raises(InputError):
        session.open([])
    with pytest.raises(InputError):
        session.run("token.init")


def test_a_rehearsal_key_softhsm2_cannot_back_up_is_refused_before_the_bundle(
    tmp_path: Path,
) -> None:
    """Ed25519 on the embedded SoftHSM2 (it signs but cannot wrap such keys): the wizard's
    new rehearsal is refused before its folder exists, as ceremony demo is."""
    from ceremony.errors import HsmError
    from ceremony.hsm.keys import KeyAlgorithm

    folder = tmp_path / "bundle"
    plan = default_plans()["root"]
    prompter = RehearsalPrompter(folder / "rehearsal")
    session = CeremonySession(plan, True, folder, prompter, sys_net=_fake_net(tmp_path))
    draft = draft_for(Choices(bundle=folder, key=KeyAlgorithm.ED25519), plan)
    with pytest.raises(HsmError, match="cannot wrap Ed25519 keys"):
        session.prepare_bundle(draft.data)
    assert not folder.exists()
