"""The hsm-native backup method: the root key non-extractable from birth, backed up by the
HSM vendor's own means in a witnessed step, the drill proving the backup device holds it.

On SoftHSM2 the rehearsal models the backup device as a copy of the token folder in
``rehearsal/backup-device/`` (a token-side copy no real HSM allows; the record says so).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ceremony.config import ceremonyfile
from ceremony.config.ceremonyfile import BackupMethod
from ceremony.errors import ConfigError
from ceremony.flow.prompts import RehearsalPrompter
from ceremony.flow.quorum import recover_pins
from ceremony.hsm.module import Hsm, SoftHsmHome, default_module_path
from tests.helpers import assert_refused, pkcs11_tool, run_cli, tree

NATIVE = ceremonyfile.render(
    ceremonyfile.rehearsal_definition(backup=BackupMethod.HSM_NATIVE)
).decode()


@pytest.fixture(scope="module")
def native_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("native") / "bundle"
    r = run_cli("demo", "--out", out, "--backup", "hsm-native")
    assert r.returncode == 0, r.stderr
    return out


def _events(bundle: Path, folder: str = "001-root") -> list[dict[str, Any]]:
    lines = (bundle / "transcripts" / folder / "events.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def _step(bundle: Path, step: str) -> dict[str, Any]:
    return next(e for e in _events(bundle) if e["step"] == step)["payload"]


def _user_pin(bundle: Path) -> str:
    secrets = json.loads((bundle / "rehearsal/secrets.json").read_text())
    return recover_pins(secrets["activation_shares"][:3]).user_pin


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_the_ceremony_file_round_trips_the_native_backup() -> None:
    cf = ceremonyfile.parse(NATIVE.encode(), "native.toml")
    assert cf.backup_method is BackupMethod.HSM_NATIVE
    assert cf.native_backup is not None
    assert cf.native_backup.credential_holders == ("Ada Administrator", "Custodian 1")
    assert ceremonyfile.render(cf).decode() == NATIVE
    split = ceremonyfile.parse(ceremonyfile.render(ceremonyfile.rehearsal_definition()), "s")
    assert split.backup_method is BackupMethod.SPLIT_WRAP and split.native_backup is None


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('method = "hsm-native"', 'method = "clone"', "backup.method 'clone' is not one of"),
        ('method = "hsm-native"', 'method = "hsm-native"\nthreshold = 2', "backup.threshold"),
        ('"Custodian 1"]', '"Custodian 9"]', "'Custodian 9' is not one of the participants"),
        ('drill_token = "root-ca-backup"', 'drill_token = "root-ca"', "root key's own token"),
        ('device_serial = "REHEARSAL-0001"', 'device_serial = ""', "backup.device_serial"),
        ("credential_holders = [", "credential_holders = [] #", "credential_holders"),
    ],
)
def test_the_ceremony_file_refuses_a_bad_native_backup(old: str, new: str, message: str) -> None:
    assert old in NATIVE
    with pytest.raises(ConfigError) as err:
        ceremonyfile.parse(NATIVE.replace(old, new, 1).encode(), "native.toml")
    assert message in err.value.message


def test_the_procedure_must_be_given_without_control_characters() -> None:
    cf = ceremonyfile.parse(NATIVE.encode(), "native.toml")
    assert cf.native_backup is not None
    for procedure, message in (("  \n", "procedure is required"), ("a\x1b[2Jb", "control")):
        with pytest.raises(ConfigError, match=message):
            ceremonyfile.NativeBackup(**{**cf.native_backup.__dict__, "procedure": procedure})


def test_the_native_rehearsal_verifies_and_says_what_it_modelled(native_bundle: Path) -> None:
    r = run_cli("verify", native_bundle)
    assert r.returncode == 0, r.stdout
    assert "hsm-native backup on rehearsal backup device" in r.stdout
    assert not (native_bundle / "backup/root-key.wrapped").exists()
    facts = json.loads((native_bundle / "backup/backup.json").read_text())
    assert facts["method"] == "hsm-native" and facts["device_serial"] == "REHEARSAL-0001"
    assert "token-side copy no real HSM allows" in facts["rehearsal_device"]
    exceptions = [e for e in _events(native_bundle) if e["step"] == "exception"]
    assert any("token folder was copied" in e["payload"]["description"] for e in exceptions)
    create = _step(native_bundle, "backup.create")
    assert create["backup"]["witnessed"] is True
    assert "vendor's procedure" in create["activity"]
    assert "1. Connect the backup device" in create["backup"]["procedure"]
    assert _step(native_bundle, "backup.proof")["credential_holders"] == [
        "Ada Administrator",
        "Custodian 1",
    ]


def test_the_root_key_is_born_non_extractable_and_stays_so(native_bundle: Path) -> None:
    born = _step(native_bundle, "root.key")["key"]
    assert born["extractable"] is False
    sealed = _step(native_bundle, "root.seal")["key"]["attributes"]
    for attrs in (born["attributes"], sealed):
        assert attrs["CKA_EXTRACTABLE"] is False
        assert attrs["CKA_NEVER_EXTRACTABLE"] is True
        assert attrs["CKA_MODIFIABLE"] is False
        assert attrs["CKA_WRAP_WITH_TRUSTED"] is True


def test_pkcs11_tool_reads_the_root_key_never_extractable(native_bundle: Path) -> None:
    """An independent reader (OpenSC) on the root key's token and on the backup device."""
    for conf in ("rehearsal/softhsm2.conf", "rehearsal/backup-device/softhsm2.conf"):
        listing = pkcs11_tool(
            native_bundle / conf,
            "--token-label",
            "root-ca",
            "--login",
            "--pin",
            _user_pin(native_bundle),
            "--list-objects",
            "--type",
            "privkey",
        )
        block = next(b for b in listing.split("Private Key Object")[1:] if "root-ca-key" in b)
        access = next(line for line in block.splitlines() if "Access:" in line)
        assert "never extractable" in access and "sensitive" in access, access


def test_the_drill_signed_on_the_backup_device(native_bundle: Path) -> None:
    drill = _step(native_bundle, "backup.drill")["drill"]
    assert drill["signature_verified_with_root_certificate"] is True
    assert drill["rehearsal_device"] is True
    assert drill["device_serial"] == "REHEARSAL-0001"
    assert len(drill["challenge_sha256"]) == 64


def test_transcript_and_cps_state_the_native_backup(native_bundle: Path) -> None:
    cps = _pdf_text(native_bundle / "cps/cps-appendix.pdf")
    assert "HSM-native" in cps and "REHEARSAL-0001" in cps
    assert "never left the HSM" in " ".join(cps.split())
    transcript = " ".join(_pdf_text(native_bundle / "transcripts/001-root/transcript.pdf").split())
    assert "vendor's procedure" in transcript


def test_restore_is_refused_before_anything_is_written(native_bundle: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(native_bundle, bundle)
    SoftHsmHome(bundle / "rehearsal").ensure()
    shares = tmp_path / "shares.txt"
    shares.write_text(
        "\n".join(
            json.loads((bundle / "rehearsal/secrets.json").read_text())["activation_shares"][:3]
        )
        + "\n"
    )
    before = tree(bundle)
    r = run_cli("restore", bundle, "--shares", shares, "--to-token", "new-root")
    assert_refused(r, 2, "hsm-native", "vendor's procedure")
    assert tree(bundle) == before


def test_the_drill_fails_when_the_backup_device_lacks_the_key(tmp_path: Path) -> None:
    """Interrupted before the drill; the backup device's copy is gone: the drill refuses,
    naming the backup device, and the ceremony resumes once the device is back."""
    out = tmp_path / "bundle"
    r = run_cli(
        "demo",
        "--out",
        out,
        "--backup",
        "hsm-native",
        env={"CEREMONY_FAULT_INJECT": "backup.drill:before"},
    )
    assert r.returncode == 86, r.stderr
    device = out / "rehearsal/backup-device/tokens"
    kept = tmp_path / "device-tokens"
    shutil.move(device, kept)
    device.mkdir()
    r = run_cli("demo", "--out", out, "--backup", "hsm-native")
    assert_refused(r, 3, "backup device", "root-ca")
    assert not any(e["step"] == "backup.drill" for e in _events(out))
    shutil.rmtree(device)
    shutil.move(kept, device)
    r = run_cli("demo", "--out", out, "--backup", "hsm-native")
    assert r.returncode == 0, r.stderr
    assert run_cli("verify", out).returncode == 0


@pytest.mark.parametrize("step", ["backup.create", "root.seal"])
def test_a_crash_in_the_native_backup_resumes(tmp_path: Path, step: str) -> None:
    out = tmp_path / "bundle"
    r = run_cli(
        "demo",
        "--out",
        out,
        "--backup",
        "hsm-native",
        env={"CEREMONY_FAULT_INJECT": f"{step}:action"},
    )
    assert r.returncode == 86, r.stderr
    r = run_cli("demo", "--out", out, "--backup", "hsm-native")
    assert r.returncode == 0, r.stderr
    v = run_cli("verify", out)
    assert v.returncode == 0, v.stdout


def test_ed25519_is_offered_with_the_native_backup_on_softhsm2(tmp_path: Path) -> None:
    """SoftHSM2 cannot wrap Ed25519 keys, so only the hsm-native backup can keep one."""
    refused = run_cli("demo", "--out", tmp_path / "split", "--key", "ed25519")
    assert_refused(refused, 3, "Ed25519", "hsm-native")
    assert not (tmp_path / "split").exists()
    out = tmp_path / "native"
    r = run_cli("demo", "--out", out, "--key", "ed25519", "--backup", "hsm-native")
    assert r.returncode == 0, r.stderr
    assert _step(out, "root.key")["key"]["algorithm"] == "ed25519"
    assert run_cli("verify", out).returncode == 0


def test_the_insider_with_the_user_pin_cannot_take_the_native_root_key_out(
    native_bundle: Path, tmp_path: Path
) -> None:
    from tests.test_key_protection import _attack_with_the_user_pin

    bundle = tmp_path / "bundle"
    shutil.copytree(native_bundle, bundle)
    SoftHsmHome(bundle / "rehearsal").ensure()
    hsm = Hsm(softhsm_home=bundle / "rehearsal")
    with hsm.session("root-ca", _user_pin(bundle)) as s:
        _attack_with_the_user_pin(s, "root-ca-key")


def test_demo_on_another_module_refuses_the_native_backup(tmp_path: Path) -> None:
    so = tmp_path / "so.pin"
    so.write_text("87654321\n")
    module = default_module_path()
    r = run_cli(
        "demo",
        "--out",
        tmp_path / "b",
        "--backup",
        "hsm-native",
        "--pkcs11-module",
        module,
        "--so-pin-file",
        so,
    )
    assert_refused(r, 2, "--backup hsm-native", "embedded SoftHSM2")
    assert not (tmp_path / "b").exists()


def test_verify_refuses_an_hsm_native_claim_the_log_does_not_back(
    native_bundle: Path, bundle_copy: Path
) -> None:
    """A split-wrap bundle whose backup.json is swapped for hsm-native facts: the log shows
    a root key born extractable, so verify fails naming it (beside the changed file)."""
    (bundle_copy / "backup/backup.json").write_bytes(
        (native_bundle / "backup/backup.json").read_bytes()
    )
    (bundle_copy / "backup/root-key.wrapped").unlink()
    r = run_cli("verify", bundle_copy)
    assert r.returncode == 1
    assert "does not record the root key generated non-extractable" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_the_room_reads_the_native_backup_steps() -> None:
    """The wizard's step pages and the printed script read the vendor's backup, not shares."""
    from ceremony.flow import roomscript, scripts

    native = ceremonyfile.parse(NATIVE.encode(), "native.toml")
    split = ceremonyfile.rehearsal_definition()
    by_name = {s.name: s for s in scripts.ROOT}
    assert set(roomscript.NATIVE_SCRIPTS) <= set(by_name)
    create = by_name["backup.create"]
    assert "vendor's procedure" in roomscript.script_for(create, native).read_aloud
    assert "recovery shares" in roomscript.script_for(create, split).read_aloud
    assert "vendor's procedure" in create.activity_for(native)
    assert "shares" in create.activity_for(split)
    assert roomscript.script_for(create) == roomscript.script_for(create, split)


def test_nothing_secret_outside_rehearsal(native_bundle: Path) -> None:
    """The PINs and the activation shares appear nowhere but in rehearsal/ (the native
    backup makes no recovery shares: no backup-shares.txt exists)."""
    secrets = json.loads((native_bundle / "rehearsal/secrets.json").read_text())
    pins = recover_pins(secrets["activation_shares"][:3])
    needles = [pins.user_pin, pins.so_pin]
    needles += [" ".join(s.split()[:4]) for s in secrets["activation_shares"]]
    assert not (native_bundle / "rehearsal/backup-shares.txt").exists()
    scanned = 0
    for path in native_bundle.rglob("*"):
        if path.is_file() and "rehearsal" not in path.relative_to(native_bundle).parts:
            data = path.read_bytes()
            scanned += 1
            for n in needles:
                assert n.encode() not in data, (path, "holds a secret")
    assert scanned > 10


class VendorClone(RehearsalPrompter):
    """The room's answers, and the vendor's procedure at ``backup.create``: the token is cloned
    onto a "backup device", a second SoftHSM2 token of label ``root-ca-backup`` made by
    copying the token's folder with its label and serial changed (SoftHSM2 keeps both,
    padded, in ``token.object``)."""

    def __init__(self, home: Path, secrets: Path) -> None:
        super().__init__(secrets)
        self.home = home

    def confirm(self, step: str, summary: Sequence[str], phrase: str) -> bool:
        if step == "backup.create":
            (source,) = [p for p in (self.home / "tokens").iterdir() if p.is_dir()]
            clone = self.home / "tokens" / str(uuid.uuid4())
            shutil.copytree(source, clone)
            obj = clone / "token.object"
            data = obj.read_bytes()
            serial = source.name.replace("-", "")[-16:].encode()
            assert data.count(b"root-ca".ljust(32)) == 1 and data.count(serial) == 1
            data = data.replace(b"root-ca".ljust(32), b"root-ca-backup".ljust(32))
            obj.write_bytes(data.replace(serial, b"0123456789abcdef"))
        return super().confirm(step, summary, phrase)


def test_a_real_ceremony_drills_on_the_backup_device_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a rehearsal: the drill signs on the token the backup device presents
    (backup.drill_token), found after the module is re-read, and names its serial."""
    from ceremony.flow.wizard import CeremonySession, Choices, default_plans
    from tests.test_wizard_flow import _fake_net

    home = SoftHsmHome(tmp_path / "hsm")
    home.ensure()
    monkeypatch.setenv("SOFTHSM2_CONF", str(home.conf_path))
    folder = tmp_path / "bundle"
    plan = default_plans()["root"]
    prompter = VendorClone(home.root, tmp_path / "room")
    session = CeremonySession(plan, False, folder, prompter, sys_net=_fake_net(tmp_path))
    session.prepare_bundle(NATIVE.encode())
    assert session.preflight_report().hsm.ok
    cf = ceremonyfile.parse(NATIVE.encode(), "native.toml")
    session.open([p.name for p in cf.participants])
    data = Choices(steps=tuple(s.name for s in plan.steps()), done=session.done_steps())
    for name in data.pending_pages():
        session.run(name)
    session.finish()
    assert all(ok for ok, _ in session.verify()), session.verify()
    drill = _step(folder, "backup.drill")["drill"]
    assert drill["backup_token"] == "root-ca-backup" and drill["rehearsal_device"] is False
    assert drill["backup_token_serial"] == "0123456789abcdef"
    assert not (folder / "rehearsal").exists()
    assert not any(
        "token folder was copied" in e["payload"].get("description", "") for e in _events(folder)
    )
