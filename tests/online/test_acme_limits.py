"""ACME resource limits: validations are scheduled fairly (one account's hanging
validations do not starve another's), rate limits per IP, account and registered domain
answer ``rateLimited`` with Retry-After, and caps bound names and pending work."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ceremony.errors import ConfigError
from ceremony.online.acme.va_scheduler import ValidationScheduler
from ceremony.online.bench.acme_load import Http01Responder
from ceremony.online.config import load_config
from ceremony.online.limits import Rate, RateLimited, check_rate, registered_domain
from ceremony.online.service import OnlineService
from tests.online.acme_client import RawAcme
from tests.online.conftest import Server, free_port, start_server


def _with_limits(data: Path, limits: str) -> None:
    """Edit ``[limits]`` of the folder's ``online.toml`` (which lists every key) as an
    operator would: the given keys' lines replace those of the same keys."""
    config = data / "online.toml"
    given = {line.split("=")[0].strip() for line in limits.splitlines() if "=" in line}
    kept = [
        line
        for line in config.read_text().splitlines()
        if "=" not in line or line.split("=")[0].strip() not in given
    ]
    text = "\n".join(kept) + "\n"
    assert "\n[limits]\n" in text
    config.write_text(text.replace("\n[limits]\n", "\n[limits]\n" + limits.rstrip("\n") + "\n", 1))


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP listener that never accepts: connections open, handshakes never answer."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@pytest.fixture
def limited_server(
    tmp_path: Path, bootstrapped: Path, black_hole: int
) -> Iterator[tuple[Server, Http01Responder]]:
    data = tmp_path / "data"
    shutil.copytree(bootstrapped, data, symlinks=True)
    _with_limits(
        data,
        "validation_workers = 4\nvalidation_per_account = 2\nvalidation_timeout_seconds = 10\n"
        "new_accounts_per_ip = { count = 4, minutes = 60 }\n"
        "new_orders_per_account = { count = 3, minutes = 60 }\n"
        "max_names_per_order = 20\nmax_pending_orders_per_account = 2\n"
        "max_pending_authorizations_per_account = 25\n",
    )
    port = free_port()
    responder = Http01Responder(port)
    srv = start_server(
        data,
        extra=[
            "--acme-http01-port",
            str(port),
            "--acme-tlsalpn01-port",
            str(black_hole),
            "--acme-resolve-to",
            "127.0.0.1",
        ],
    )
    try:
        yield srv, responder
    finally:
        srv.stop()
        responder.close()


def test_hanging_validations_of_one_account_do_not_delay_another(
    limited_server: tuple[Server, Http01Responder],
) -> None:
    srv, responder = limited_server
    slow = RawAcme(srv.url("/acme/directory"))
    fast = RawAcme(srv.url("/acme/directory"))
    assert slow.register().status == 201 and fast.register().status == 201
    order = slow.new_order(*[f"hang{i}.a.test" for i in range(20)])
    assert order.status == 201, order.body
    for authz_url in order.json()["authorizations"]:
        chall = next(c for c in slow.authz(authz_url)["challenges"] if c["type"] == "tls-alpn-01")
        assert slow.post(chall["url"], {}).status == 200
    time.sleep(0.5)  # the slow account's validations now hold their threads

    r = fast.new_order("quick.a.test")
    authz_url = r.json()["authorizations"][0]
    chall = next(c for c in fast.authz(authz_url)["challenges"] if c["type"] == "http-01")
    responder.tokens[chall["token"]] = fast.key_authz(chall["token"])
    started = time.monotonic()
    assert fast.post(chall["url"], {}).status == 200
    while (status := fast.authz(authz_url)["status"]) == "pending":
        assert time.monotonic() - started < 60
        time.sleep(0.05)
    waited = time.monotonic() - started
    print(f"http-01 of another account valid after {waited:.2f} s beside 20 hanging validations")
    assert status == "valid"
    assert waited < 2.0, f"another account's http-01 waited {waited:.1f} s"


def test_rate_limits_and_caps(limited_server: tuple[Server, Http01Responder]) -> None:
    srv, _responder = limited_server
    directory = srv.url("/acme/directory")
    a = RawAcme(directory)
    assert a.register().status == 201
    r = a.new_order(*[f"n{i}.a.test" for i in range(21)])
    assert r.problem == "malformed" and "at most 20" in r.json()["detail"]

    # a cap on pending orders: no Retry-After, it lifts when orders complete or expire
    assert a.new_order("p1.a.test").status == 201
    assert a.new_order("p2.a.test").status == 201
    r = a.new_order("p3.a.test")
    assert r.status == 429 and r.problem == "rateLimited" and "retry-after" not in r.headers

    # the rate of new orders per account: Retry-After within the window
    b = RawAcme(directory)
    assert b.register().status == 201
    for i in range(3):
        r = b.new_order(f"r{i}.a.test")
        assert r.status == 201
        deactivate = b.post(r.json()["authorizations"][0], {"status": "deactivated"})
        assert deactivate.status == 200  # the order is no longer pending
    r = b.new_order("r3.a.test")
    assert r.status == 429 and r.problem == "rateLimited"
    assert 0 < int(r.headers["retry-after"]) <= 3600

    # pending authorizations
    c = RawAcme(directory)
    assert c.register().status == 201
    r = c.new_order(*[f"z{i}.a.test" for i in range(20)])
    assert r.status == 201
    r = c.new_order(*[f"y{i}.a.test" for i in range(6)])
    assert r.problem == "rateLimited" and "pending authorizations" in r.json()["detail"]

    # new accounts per IP: the fourth went through, the fifth does not
    assert RawAcme(directory).register().status == 201
    r = RawAcme(directory).register()
    assert r.status == 429 and r.problem == "rateLimited" and int(r.headers["retry-after"]) > 0


def test_rate_per_registered_domain(sqlite_service: OnlineService) -> None:
    svc = sqlite_service
    rate = Rate(2, 60)
    now = svc.clock()
    for name in ("a.shop.example.co.uk", "b.shop.example.co.uk"):
        with svc.db.write() as session:
            check_rate(session, "order-domain", registered_domain(name), rate, now, "orders")
    with svc.db.write() as session:
        check_rate(session, "order-domain", registered_domain("other.co.uk"), rate, now, "x")
    with pytest.raises(RateLimited) as refused, svc.db.write() as session:
        check_rate(
            session, "order-domain", registered_domain("c.example.co.uk"), rate, now, "orders"
        )
    assert refused.value.retry_after == 3600
    later = now + timedelta(minutes=61)
    with svc.db.write() as session:
        check_rate(session, "order-domain", "example.co.uk", rate, later, "orders")


def test_registered_domain_rules() -> None:
    assert registered_domain("www.shop.example.com") == "example.com"
    assert registered_domain("*.x.example.co.uk") == "example.co.uk"
    assert registered_domain("host.corp.internal") == "corp.internal"
    assert registered_domain("a.b.a.test") == "a.test"
    assert registered_domain("192.0.2.7") == "192.0.2.7"
    assert registered_domain("someone.github.io") == "someone.github.io"


def test_limits_config_is_strict(tmp_path: Path) -> None:
    base = "[profiles.a]\n"
    p = tmp_path / "online.toml"
    p.write_text(
        base
        + "[limits]\nmax_names_per_order = 5\n"
        + "new_orders_per_account = { count = 9, minutes = 30 }\n"
    )
    limits = load_config(p).limits
    assert limits.max_names_per_order == 5 and limits.new_orders_per_account == Rate(9, 30)
    for bad in (
        "colour = 1",
        "max_names_per_order = 0",
        "new_orders_per_account = 5",
        "new_orders_per_account = { count = 1 }",
        "validation_workers = 2\nvalidation_per_account = 3",
    ):
        p.write_text(base + "[limits]\n" + bad + "\n")
        with pytest.raises(ConfigError, match=r"\[limits\]"):
            load_config(p)


def test_scheduler_is_fair_and_bounded() -> None:
    import threading

    release = threading.Event()
    running: dict[str, int] = {"slow": 0, "peak": 0}
    lock = threading.Lock()
    done: list[str] = []

    def slow_job() -> None:
        with lock:
            running["slow"] += 1
            running["peak"] = max(running["peak"], running["slow"])
        release.wait(10)
        with lock:
            running["slow"] -= 1

    sched = ValidationScheduler(workers=3, per_account=2)
    try:
        for _ in range(10):
            sched.submit("slow", slow_job)
        for i in range(5):
            sched.submit("fast", lambda i=i: done.append(f"f{i}"))
        deadline = time.monotonic() + 5
        while len(done) < 5:
            assert time.monotonic() < deadline, "the fast account starved"
            time.sleep(0.01)
        assert running["peak"] == 2 and sched.queued("slow") == 10
    finally:
        release.set()
        sched.close()
