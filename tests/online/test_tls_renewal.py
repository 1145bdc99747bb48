"""``serve --tls self`` over months: the running service renews its certificate when a
start would (a third of its life left, revoked) and serves the new one on the next
handshake, without a restart."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from ceremony.audit.eventlog import Actor
from ceremony.online import served_tls, tls
from ceremony.online.app import MAINTENANCE_SECONDS
from ceremony.online.service import ServiceOptions, open_service
from tests.online.conftest import cli
from tests.online.test_tls_serve import HttpsServer, _s_client, _served_leaf, start_https


def _served_serial(server: ssl.SSLContext, root: Path) -> str:
    """The serial of the certificate a client sees in a handshake with ``server``."""
    client = ssl.create_default_context(cafile=str(root))
    client.check_hostname = False
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, obj in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    der = c.getpeercert(binary_form=True)
    assert der is not None
    return format(x509.load_der_x509_certificate(der).serial_number, "x")


def test_running_service_renews_and_serves_its_certificate(data_dir: Path, tmp_path: Path) -> None:
    svc = open_service(
        ServiceOptions(data=data_dir, bootstrap=False, public_url="https://127.0.0.1:8443")
    )
    try:
        root = svc.folder.root_cert
        names = tls.parse_names(["127.0.0.1"])
        first = tls.ensure_self_issued(svc, names, svc.clock()).files
        old_cert, old_key = tmp_path / "old.pem", tmp_path / "old.key"
        old_cert.write_bytes(first.cert.read_bytes())
        old_key.write_bytes(first.key.read_bytes())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(old_cert, old_key)  # what uvicorn loads at start
        served_tls.note_context(context)  # the first connection notes it
        live = tls.LiveRenewal(svc, names)

        assert live.run(svc.clock()) is None  # not due: nothing changes
        assert _served_serial(context, root) == first.serial

        due = live.run(first.renew_from + timedelta(minutes=1))
        assert due is not None and due.renewed and "third" in due.renewed
        assert due.files.serial != first.serial
        assert _served_serial(context, root) == due.files.serial  # no restart

        # revoked by the operator: replaced on the next run
        svc.issuance.revoke(due.files.serial, "superseded", Actor("ops", "operator"))
        again = live.run(svc.clock())
        assert again is not None and again.renewed == "the served certificate was revoked"
        assert _served_serial(context, root) == again.files.serial

        # another process renewed the stored one: this one serves it too, without issuing
        other = tls.LiveRenewal(svc, names)
        svc.issuance.revoke(again.files.serial, "superseded", Actor("ops", "operator"))
        newest = other.run(svc.clock())
        assert newest is not None
        seen = live.run(svc.clock())
        assert seen is not None and seen.renewed is None
        assert seen.files.serial == newest.files.serial == _served_serial(context, root)

        # a process serving other names (another --listen) never replaces a good one
        elsewhere = tls.LiveRenewal(svc, tls.parse_names(["localhost"]))
        assert elsewhere.run(svc.clock()) is None and live.run(svc.clock()) is None
        assert _served_serial(context, root) == newest.files.serial

        # a context first seen after a renewal (a worker's first connection) is brought up
        late = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        late.load_cert_chain(old_cert, old_key)  # the files as they were at its start
        served_tls.note_context(late)
        assert _served_serial(late, root) == newest.files.serial
    finally:
        svc.close()


@pytest.fixture
def servers() -> Iterator[list[HttpsServer]]:
    started: list[HttpsServer] = []
    yield started
    for s in started:
        s.stop()


def test_serve_replaces_a_revoked_certificate_while_running(
    data_dir: Path, servers: list[HttpsServer]
) -> None:
    srv = start_https(data_dir, ["--tls", "self", "--workers", "2"])
    servers.append(srv)
    root = data_dir / "ca" / "root.pem"
    first = _served_leaf(_s_client(srv.port, root).stdout)
    r = cli("revoke", "--data", str(data_dir), format(first.serial_number, "x"))
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 2.5 * MAINTENANCE_SECONDS
    while time.monotonic() < deadline:
        out = _s_client(srv.port, root)
        if out.returncode == 0 and _served_leaf(out.stdout).serial_number != first.serial_number:
            break
        time.sleep(2)
    else:
        raise AssertionError(f"still serving the revoked certificate: {srv.log.read_text()}")
    assert "Verify return code: 0 (ok)" in out.stdout
    assert srv.log.read_text().count("(the served certificate was revoked)") == 1  # one renewal
