"""``ceremony-online`` command line: bad input is one ``error:`` line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from ceremony.online import audit
from ceremony.online.service import ServiceOptions, open_service
from tests.online.conftest import cli


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["serve", "--data", "{d}", "--listen", "nonsense"], "--listen 'nonsense'"),
        (["serve", "--data", "{d}", "--listen", "127.0.0.1:99999"], "--listen"),
        (
            ["serve", "--data", "{d}", "--listen", "127.0.0.1:1", "--database", "mysql://x/y"],
            "unsupported database",
        ),
        (["serve", "--data", "{f}", "--listen", "127.0.0.1:1"], "not a folder"),
        (["serve", "--data", "{j}", "--listen", "127.0.0.1:1"], "not empty"),
        (["serve"], "usage:"),
        (["frobnicate"], "usage:"),
        (["token", "create", "--data", "{e}", "--name", "x", "--profile", "p"], "empty"),
        (["revoke", "--data", "{e}", "abc"], "empty"),
        (["serve", "--data", "{f}/x", "--listen", "127.0.0.1:1"], "cannot be created"),
        (["init-intermediate", "--data", "{f}/x", "--out", "{j}"], "cannot be created"),
        (["init-intermediate", "--data", "{d}", "--out", "{e}"], "must exist"),
        (["init-intermediate", "--data", "{d}", "--out", "{f}"], "not a folder"),
        (["init-intermediate", "--data", "{d}", "--out", "{m}"], "exists already"),
    ],
)
def test_bad_input_one_error_line(tmp_path: Path, args: list[str], needle: str) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "something").write_text("x")
    media = tmp_path / "media"
    media.mkdir()
    (media / "online-intermediate.csr").write_text("an earlier request")
    subs = {
        "{d}": str(tmp_path / "d"),
        "{f}": str(f),
        "{j}": str(junk),
        "{e}": str(tmp_path / "empty"),
        "{f}/x": str(f / "x"),
        "{m}": str(media),
    }
    r = cli(*[subs.get(a, a) for a in args])
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "d").exists(), "a refused command left a data folder behind"
    assert sorted(p.name for p in media.iterdir()) == ["online-intermediate.csr"]


def test_admin_commands(tmp_path: Path, data_dir: Path) -> None:
    data = data_dir
    r = cli("token", "create", "--data", str(data), "--name", "ops", "--profile", "nope")
    assert r.returncode == 2 and "no such profile" in r.stderr
    r = cli("token", "create", "--data", str(data), "--name", "ops", "--admin")
    assert r.returncode == 0 and r.stdout.startswith("cot_")
    r = cli("token", "create", "--data", str(data), "--name", "ops", "--admin")
    assert r.returncode == 2 and "exists already" in r.stderr
    r = cli("eab", "create", "--data", str(data))
    assert r.returncode == 0 and r.stdout.startswith("kid ")
    r = cli("revoke", "--data", str(data), "abcdef")
    assert r.returncode == 2 and "no such certificate" in r.stderr
    r = cli("urls", "set", "--data", str(data), "--base", "http://pki.a.test")
    assert r.returncode == 0, r.stderr
    r = cli("crl", "--data", str(data))
    assert r.returncode == 0 and "full number 1" in r.stdout
    r = cli("audit", "verify", "--data", str(data))
    assert r.returncode == 0, r.stdout
    out = tmp_path / "events.jsonl"
    r = cli("audit", "export", "--data", str(data), "--out", str(out))
    assert r.returncode == 0 and out.exists()
    r = cli("audit", "export", "--data", str(data), "--out", str(out))
    assert r.returncode == 2 and "already exists" in r.stderr
    svc = open_service(ServiceOptions(data=data, bootstrap=False))
    assert audit.verify(svc.db) == []
    svc.close()


def test_listen_address_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("serve", "--data", str(tmp_path / "d"), "--listen", f"127.0.0.1:{port}")
    assert r.returncode == 2 and r.stderr.startswith("error: --listen") and "in use" in r.stderr
    assert not (tmp_path / "d").exists()
