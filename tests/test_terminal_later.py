"""Every ceremony for real on a terminal: a bundle made by ``ceremony root`` from a ceremony
file and a locator (a real ceremony: no rehearsal, the token outside the bundle), then
``sign-csr``, ``crl`` and ``restore`` from the same two files, answered by the people at
the keyboard (shares typed without echo, one custodian at a time), and a secrets scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from ceremony.config import ceremonyfile
from tests.helpers import assert_refused, make_csr, run_cli
from tests.terminal import Room, run_on_terminal


def _files(tmp_path: Path) -> tuple[Path, Path]:
    cfile = tmp_path / "ceremony.toml"
    cfile.write_bytes(ceremonyfile.render(ceremonyfile.rehearsal_definition()))
    loc = tmp_path / "locator.toml"
    loc.write_text(f'[hsm]\nsofthsm_home = "{tmp_path / "hsm"}"\n')
    return cfile, loc


def _windows(secret: str) -> list[bytes]:
    """Four words in a row of a share, as anything that copied it would hold them."""
    words = secret.split()
    return [" ".join(words[i : i + 4]).encode() for i in range(0, max(len(words) - 3, 1), 4)]


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Room]:
    tmp = tmp_path_factory.mktemp("real")
    cfile, loc = _files(tmp)
    room = Room()
    out = tmp / "bundle"
    run = run_on_terminal(
        ["root", "--ceremony", str(cfile), "--locator", str(loc), "--out", str(out)], tmp, room
    )
    assert run.returncode == 0, run.output[-3000:]
    assert not (out / "rehearsal").exists(), "a real bundle"
    return out, room


def test_sign_csr_crl_and_restore_for_real_on_a_terminal(
    real_bundle: tuple[Path, Room], tmp_path: Path
) -> None:
    root_tmp = real_bundle[0].parent
    bundle, room = real_bundle
    cfile, loc = root_tmp / "ceremony.toml", root_tmp / "locator.toml"
    both = ["--ceremony", str(cfile), "--locator", str(loc)]
    csr = make_csr(tmp_path / "ops.csr", "Ops Issuing CA")
    media = tmp_path / "usb"
    media.mkdir()
    outputs = []

    run = run_on_terminal(
        ["sign-csr", str(bundle), str(csr), "--name", "ops", "--media", str(media), *both],
        tmp_path,
        room,
    )
    assert run.returncode == 0, run.output[-3000:]
    assert "activation share 1 of 3, Custodian 1 (words, not shown" in run.output
    assert ceremonyfile.file_digest(cfile.read_bytes())[0] in run.output
    outputs.append(run.output)
    serial = x509.load_pem_x509_certificate((bundle / "issued/ops.pem").read_bytes())
    assert [p.name for p in media.iterdir()], "exported to the operator's media"

    run = run_on_terminal(
        [
            "crl",
            str(bundle),
            "--revoke",
            f"{serial.serial_number:x}",
            "--reason",
            "superseded",
            *both,
        ],
        tmp_path,
        room,
    )
    assert run.returncode == 0, run.output[-3000:]
    outputs.append(run.output)

    restore = ["restore", str(bundle), "--to-token", "restored", "--old-token", "kept"]
    run = run_on_terminal([*restore, *both], tmp_path, room)
    assert run.returncode == 0, run.output[-3000:]
    assert "recovery share 1 of 3, Custodian 1 (words, not shown" in run.output
    outputs.append(run.output)

    # the token the recovery made is the one the next ceremony activates, with its new shares
    run = run_on_terminal(["crl", str(bundle), *both], tmp_path, room)
    assert run.returncode == 0, run.output[-3000:]
    outputs.append(run.output)

    v = run_cli("verify", bundle)
    assert v.returncode == 0, v.stdout
    [recovery] = (bundle / "transcripts").glob("*-recovery")
    events = [json.loads(x) for x in (recovery / "events.jsonl").read_text().splitlines()]
    shares = next(e for e in events if e["step"] == "recovery.shares")
    assert shares["payload"]["presented_by"] == ["Custodian 1", "Custodian 2", "Custodian 3"]
    kinds = sorted(p.name[4:] for p in (bundle / "transcripts").iterdir())
    assert kinds == ["crl", "crl", "recovery", "root", "sign-csr"]

    needles = [w for card in room.cards.values() for w in _windows(card)]
    assert needles
    for path in [*bundle.rglob("*"), *media.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                assert needle not in data, f"{path} holds a share"
    shares_typed = [typed for typed in room.typed if len(typed.split()) > 4]
    assert shares_typed
    for output in outputs:
        for typed in shares_typed:
            for needle in _windows(typed):
                assert needle.decode() not in output, "a typed share was echoed"


def test_the_terminal_form_refuses_before_anything(
    real_bundle: tuple[Path, Room], tmp_path: Path
) -> None:
    bundle, room = real_bundle
    root_tmp = bundle.parent
    cfile, loc = root_tmp / "ceremony.toml", root_tmp / "locator.toml"
    before = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*"))
    csr = make_csr(tmp_path / "ops2.csr", "Second Issuing CA")
    other = tmp_path / "other.toml"
    other.write_bytes(cfile.read_bytes().replace(b"Custodian 5", b"Custodian 6"))
    both = ["--ceremony", str(cfile), "--locator", str(loc)]
    # a pipe, not a terminal: shares would go where the pipe goes
    assert_refused(run_cli("sign-csr", bundle, csr, *both), 2, "standard output is not a terminal")
    assert_refused(
        run_cli("sign-csr", bundle, csr, "--ceremony", other, "--locator", loc),
        2,
        "not the ceremony file of",
    )
    assert_refused(run_cli("crl", bundle, "--locator", loc), 2, "--locator goes with --ceremony")
    assert_refused(
        run_cli("restore", bundle, "--to-token", "x", "--shares", cfile, *both),
        2,
        "type their recovery shares",
    )
    assert_refused(run_cli("restore", bundle, "--to-token", "x"), 2, "--shares FILE")
    run = run_on_terminal(["restore", str(bundle), "--to-token", "x", *both], tmp_path)
    assert run.returncode == 2 and "error: usage: a real recovery records" in run.output
    assert_refused(run_cli("crl", bundle, "--absent", "Custodian 1", *both), 2, "--absent")
    rehearsal = tmp_path / "rehearsal.toml"
    rehearsal.write_text("rehearsal = true\n")
    assert_refused(
        run_cli("crl", bundle, "--ceremony", cfile, "--locator", rehearsal),
        2,
        "rehearsal = true",
        "a real bundle",
    )
    empty = tmp_path / "empty-hsm.toml"
    empty.write_text(f'[hsm]\nsofthsm_home = "{tmp_path / "no-tokens"}"\n')
    assert_refused(
        run_cli("crl", bundle, "--ceremony", cfile, "--locator", empty),
        2,
        "not found on",
        "is the HSM connected",
    )
    # two of the three custodians a recovery needs type their shares: refused before it opens
    short = Room(cards=dict(room.cards), withhold={"Custodian 1", "Custodian 2", "Custodian 3"})
    run = run_on_terminal(
        ["restore", str(bundle), "--to-token", "again", "--old-token", "kept", *both],
        tmp_path,
        short,
    )
    assert run.returncode == 2, run.output[-2000:]
    assert "error: recovery shares: 2 presented by the custodians present, 3 needed" in run.output
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")) == before
