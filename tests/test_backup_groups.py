"""Two-level SLIP-39 groups from the ceremony file through backup, drill and recovery."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

from ceremony.config import ceremonyfile
from ceremony.config.ceremonyfile import Quorum
from ceremony.flow import scripts
from ceremony.flow.ceremonies import open_context, run_ceremony, start_bundle
from ceremony.flow.documents import CLOSERS
from ceremony.flow.prompts import RehearsalPrompter
from ceremony.hsm.module import Hsm
from tests.helpers import assert_refused, run_cli

GROUPS = ((2, 3), (2, 2))  # both groups needed: 2 of custodians 1-3, and custodians 4 and 5


def test_groups_round_trip_through_the_ceremony_file() -> None:
    cf = dataclasses.replace(
        ceremonyfile.rehearsal_definition(),
        backup_groups=GROUPS,
        backup_group_threshold=2,
        backup=Quorum(4, 5),
    )
    text = ceremonyfile.render(cf)
    assert b"groups = [[2, 3], [2, 2]]" in text
    assert ceremonyfile.parse(text) == cf
    bad = text.replace(b"groups = [[2, 3], [2, 2]]", b"groups = [[2, 3], [1, 1]]")
    try:
        ceremonyfile.parse(bad)
    except Exception as ex:
        assert "backup" in str(ex)
    else:
        raise AssertionError("a group layout that does not match the custodians is refused")


def test_grouped_backup_drill_and_recovery(tmp_path: Path) -> None:
    cf = dataclasses.replace(
        ceremonyfile.rehearsal_definition(),
        backup_groups=GROUPS,
        backup_group_threshold=2,
        backup=Quorum(4, 5),
    )
    out = tmp_path / "bundle"
    bundle = start_bundle(out, ceremonyfile.render(cf))
    (out / "rehearsal").mkdir()
    hsm = Hsm(softhsm_home=out / "rehearsal")
    ctx, folder = open_context(bundle, "root", hsm, RehearsalPrompter(out / "rehearsal"), True)
    run_ceremony(ctx, folder, scripts.ROOT, CLOSERS)
    facts = json.loads((out / "backup/backup.json").read_text())
    assert facts["groups"] == [[2, 3], [2, 2]] and facts["group_threshold"] == 2
    assert run_cli("verify", out).returncode == 0

    shares = (out / "rehearsal/backup-shares.txt").read_text().splitlines()
    one_group = tmp_path / "one-group.txt"
    one_group.write_text("\n".join(shares[:3]) + "\n")
    r = run_cli("restore", out, "--shares", one_group, "--to-token", "restored")
    assert_refused(r, 2, "group")
    subprocess.run(
        ["softhsm2-util", "--delete-token", "--token", "root-ca"],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(out / "rehearsal/softhsm2.conf")},
    )
    two_groups = tmp_path / "two-groups.txt"
    two_groups.write_text("\n".join([shares[0], shares[2], shares[3], shares[4]]) + "\n")
    r = run_cli("restore", out, "--shares", two_groups, "--to-token", "root-ca")
    assert r.returncode == 0, r.stderr
    assert run_cli("crl", out).returncode == 0
    assert run_cli("verify", out).returncode == 0
