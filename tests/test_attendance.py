"""M of N in the room: every later ceremony proceeds with the people its quorum needs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ceremony.config.ceremonyfile import Role, rehearsal_definition
from ceremony.errors import InputError, PolicyError
from ceremony.flow import attendance
from ceremony.hsm.module import SoftHsmHome
from tests.helpers import assert_refused, run_cli


def _names() -> tuple[str, str, list[str]]:
    cf = rehearsal_definition()
    admin, witness = cf.by_role(Role.ADMINISTRATOR).name, cf.by_role(Role.WITNESS).name
    return admin, witness, [c.name for c in cf.custodians]


ADMIN, WITNESS, _ = _names()


def test_later_ceremonies_need_m_custodians_and_both_officers() -> None:
    cf = rehearsal_definition(threshold=3, shares=5)
    admin, witness, custodians = _names()
    for kind in ("sign-csr", "crl", "recovery"):
        three = [admin, witness, *custodians[:3]]
        assert attendance.shortfall(cf, kind, three) is None
        room = attendance.check(cf, kind, three)
        assert room.absent == tuple(custodians[3:])
        assert room.payload() == {"present": three, "absent": custodians[3:]}
        two = attendance.shortfall(cf, kind, [admin, witness, *custodians[:2]])
        assert two is not None and "2 of 5 custodians present" in two and "needs 3" in two
        with pytest.raises(PolicyError, match="Witness"):
            attendance.check(cf, kind, [admin, *custodians])


def test_the_root_ceremony_needs_every_custodian() -> None:
    cf = rehearsal_definition(threshold=3, shares=5)
    admin, witness, custodians = _names()
    problem = attendance.shortfall(cf, "root", [admin, witness, *custodians[:4]])
    assert problem is not None and "hands a share to every custodian" in problem
    with pytest.raises(InputError, match="Mallory"):
        attendance.check(cf, "root", [admin, witness, *custodians, "Mallory"])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("attendance") / "bundle"
    r = run_cli("demo", "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def _copy(demo: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(demo, dst)
    SoftHsmHome(dst / "rehearsal").ensure()
    return dst


def _events(bundle: Path, kind: str) -> list[dict[str, object]]:
    folder = sorted((bundle / "transcripts").glob(f"*-{kind}"))[-1]
    return [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]


def test_a_crl_ceremony_with_three_of_five_records_who_was_there(
    demo: Path, tmp_path: Path
) -> None:
    bundle = _copy(demo, tmp_path)
    r = run_cli("crl", bundle, "--absent", "Custodian 1", "--absent", "Custodian 4")
    assert r.returncode == 0, r.stderr
    events = _events(bundle, "crl")
    opened = next(e for e in events if e["step"] == "ceremony.open")["payload"]
    assert opened["attendance"] == {  # type: ignore[index]
        "present": [ADMIN, WITNESS, "Custodian 2", "Custodian 3", "Custodian 5"],
        "absent": ["Custodian 1", "Custodian 4"],
    }
    activation = next(e for e in events if e["step"] == "activation")["payload"]
    assert activation["presented_by"] == ["Custodian 2", "Custodian 3", "Custodian 5"]  # type: ignore[index]
    assert run_cli("verify", bundle).returncode == 0


def test_too_few_custodians_are_refused_before_anything_is_written(
    demo: Path, tmp_path: Path
) -> None:
    bundle = _copy(demo, tmp_path)
    before = sorted(p.name for p in (bundle / "transcripts").iterdir())
    r = run_cli("crl", bundle, *[a for i in (1, 2, 3) for a in ("--absent", f"Custodian {i}")])
    assert_refused(r, 2, "2 of 5 custodians present", "needs 3")
    assert sorted(p.name for p in (bundle / "transcripts").iterdir()) == before
    r = run_cli("crl", bundle, "--absent", "Nobody")
    assert_refused(r, 2, "Nobody", "not in the ceremony file")


def test_a_recovery_hands_new_activation_shares_to_those_present(
    demo: Path, tmp_path: Path
) -> None:
    bundle = _copy(demo, tmp_path)
    shares = (bundle / "rehearsal/backup-shares.txt").read_text().splitlines()
    (tmp_path / "three.txt").write_text("\n".join(shares[1:4]) + "\n")
    r = run_cli(
        "restore",
        bundle,
        "--shares",
        tmp_path / "three.txt",
        "--to-token",
        "root-ca-2",
        "--absent",
        "Custodian 1",
        "--absent",
        "Custodian 5",
    )
    assert r.returncode == 0, r.stderr
    token = next(e for e in _events(bundle, "recovery") if e["step"] == "token.init")
    act = token["payload"]["activation"]  # type: ignore[index]
    assert act["holders"] == ["Custodian 2", "Custodian 3", "Custodian 4"] and act["shares"] == 3
    assert run_cli("verify", bundle).returncode == 0
