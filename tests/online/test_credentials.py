"""Credentials with a life cycle: API tokens and EAB keys are listed, expire, are revoked
(in every process within seconds), record their use, and every change is audited; the
token cache stays bounded under a flood of random tokens."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from acme import messages

from ceremony.audit.eventlog import Actor
from ceremony.online import audit
from ceremony.online.api import tokens
from ceremony.online.api.tokens import (
    CACHE_KNOWN,
    CACHE_SECONDS,
    CACHE_UNKNOWN,
    PREFIX,
    TokenVerifier,
    create_token,
    list_tokens,
)
from ceremony.online.eab import create_eab, list_eab
from ceremony.online.service import OnlineService, ServiceOptions, open_service
from tests.online.acme_client import RawAcme
from tests.online.conftest import VENV_BIN, api, cli

OPERATOR = Actor("ops", "operator")


def _lines(out: str) -> list[list[str]]:
    return [line.split("\t") for line in out.splitlines()[1:]]


def test_token_list_revoke_and_last_use(server_factory: Any) -> None:
    srv = server_factory()
    data = ["--data", str(srv.data)]
    r = cli("token", "create", *data, "--name", "deploy", "--profile", "tls-server")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    r = cli("token", "create", *data, "--name", "old", "--admin", "--expires-days", "0")
    assert r.returncode == 0, r.stderr
    rows = {row[0]: row for row in _lines(cli("token", "list", *data).stdout)}
    assert rows["deploy"][1:3] == ["active", "tls-server"] and rows["deploy"][5] == "never"
    assert rows["old"][1:3] == ["active", "admin"] and rows["old"][4] == "never"
    assert token not in cli("token", "list", *data).stdout

    assert api("GET", srv.url("/api/v1/profiles"), token)[0] == 200
    rows = {row[0]: row for row in _lines(cli("token", "list", *data).stdout)}
    assert rows["deploy"][5] != "never"  # last used: now

    r = cli("token", "revoke", *data, "--name", "deploy")
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + CACHE_SECONDS + 10
    while api("GET", srv.url("/api/v1/profiles"), token)[0] != 401:
        assert time.monotonic() < deadline, "a revoked token still works in the running service"
        time.sleep(0.5)
    rows = {row[0]: row for row in _lines(cli("token", "list", *data).stdout)}
    assert rows["deploy"][1] == "revoked"
    r = cli("token", "revoke", *data, "--name", "deploy")
    assert r.returncode == 2 and "revoked already" in r.stderr
    r = cli("token", "revoke", *data, "--name", "nobody")
    assert r.returncode == 2 and "no such token" in r.stderr
    r = cli("token", "create", *data, "--name", "x", "--admin", "--expires-days", "-3")
    assert r.returncode == 2 and r.stderr.startswith("error: --expires-days")


def test_audit_names_the_operator_account(data_dir: Path) -> None:
    """Administrative commands record the login name of the account that ran them, even
    where the environment names none (a service unit, cron, sudo -i)."""
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME", "LNAME", "USERNAME")}
    data = ["--data", str(data_dir)]
    for extra, expected in (
        ({}, pwd.getpwuid(os.getuid()).pw_name),
        ({"LOGNAME": "alice"}, "alice"),
    ):
        r = subprocess.run(
            [str(VENV_BIN / "ceremony-online"), "eab", "create", *data],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**env, **extra},
        )
        assert r.returncode == 0, r.stderr
        svc = open_service(ServiceOptions(data=data_dir, bootstrap=False, record_urls=False))
        try:
            last = list(audit.events(svc.db))[-1]
        finally:
            svc.close()
        assert last["step"] == "eab.create" and last["actor"] == {
            "name": expected,
            "role": "operator",
        }, last


def test_token_expiry_and_audit(sqlite_service: OnlineService) -> None:
    svc = sqlite_service
    now = [svc.clock()]
    token = create_token(
        svc.db, "short", ["*"], False, lambda: now[0], timedelta(hours=1), OPERATOR
    )
    verifier = TokenVerifier(svc.db, lambda: now[0])
    assert verifier.verify(f"Bearer {token}") is not None
    now[0] += timedelta(hours=2)
    assert TokenVerifier(svc.db, lambda: now[0]).verify(f"Bearer {token}") is None
    assert [t.status(now[0]) for t in list_tokens(svc.db)] == ["expired"]
    steps = [(e["step"], e["actor"]["name"]) for e in audit.events(svc.db)]
    assert ("token.create", "ops") in steps
    created = next(e for e in audit.events(svc.db) if e["step"] == "token.create")
    assert token not in str(created)  # the secret never reaches the log


def test_token_cache_stays_bounded(
    sqlite_service: OnlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = sqlite_service
    monkeypatch.setattr(tokens, "CACHE_SECONDS", 3600.0)  # eviction, not expiry, is tested
    good = create_token(svc.db, "real", ["*"], False, svc.clock)
    verifier = TokenVerifier(svc.db)
    assert verifier.verify(f"Bearer {good}") is not None
    for _ in range(30_000):
        assert verifier.verify(f"Bearer {PREFIX}{secrets.token_urlsafe(32)}") is None
    assert verifier.cache_size <= CACHE_UNKNOWN + 1 < CACHE_KNOWN
    assert verifier.cached(f"Bearer {good}")[0]  # the flood did not evict the real token


def test_eab_list_expiry_revoke(server_factory: Any) -> None:
    srv = server_factory()
    data = ["--data", str(srv.data)]
    r = cli("eab", "create", *data)
    assert r.returncode == 0, r.stderr
    kid, hmac_key = r.stdout.split()[1], r.stdout.split()[3]
    r_spare = cli("eab", "create", *data)
    spare = r_spare.stdout.split()[1]
    rows = {row[0]: row for row in _lines(cli("eab", "list", *data).stdout)}
    assert rows[kid][1] == "unused" and rows[kid][4] == "-"
    assert hmac_key not in cli("eab", "list", *data).stdout

    client = RawAcme(srv.url("/acme/directory"))

    def binding(kid: str, key: str, who: RawAcme) -> messages.ExternalAccountBinding:
        return messages.ExternalAccountBinding.from_data(
            account_public_key=who.jwk.public_key(),
            kid=kid,
            hmac_key=key,
            directory=messages.Directory.from_json(who.directory),
        )

    assert client.register(externalAccountBinding=binding(kid, hmac_key, client)).status == 201
    account_id = client.kid.rsplit("/", 1)[1] if client.kid else ""
    rows = {row[0]: row for row in _lines(cli("eab", "list", *data).stdout)}
    assert rows[kid][1] == "bound" and rows[kid][4] == account_id
    assert client.new_order("eab.a.test").status == 201

    r = cli("eab", "revoke", *data, "--kid", kid)
    assert r.returncode == 0 and account_id in r.stdout, r.stderr
    refused = client.new_order("eab.a.test")
    assert refused.problem == "unauthorized" and "revoked" in refused.json()["detail"]
    spare_key = r_spare.stdout.split()[3]
    r = cli("eab", "revoke", *data, "--kid", spare)
    assert r.returncode == 0
    rows = {row[0]: row for row in _lines(cli("eab", "list", *data).stdout)}
    assert rows[spare][1] == "revoked"
    other = RawAcme(srv.url("/acme/directory"))
    refused = other.register(externalAccountBinding=binding(spare, spare_key, other))
    assert refused.problem == "unauthorized" and "revoked" in refused.json()["detail"]
    svc = open_service(ServiceOptions(data=srv.data, record_urls=False, bootstrap=False))
    try:
        stale_kid, stale_key = create_eab(svc.db, svc.clock, OPERATOR, timedelta(0))
    finally:
        svc.close()
    refused = other.register(externalAccountBinding=binding(stale_kid, stale_key, other))
    assert refused.problem == "unauthorized" and "expired" in refused.json()["detail"]
    r = cli("eab", "revoke", *data, "--kid", "kid-nope")
    assert r.returncode == 2 and "no such external account key" in r.stderr
    steps = [
        line
        for line in cli(
            "audit", "export", *data, "--out", str(srv.data.parent / "e.jsonl")
        ).stdout.splitlines()
    ]
    assert steps
    events = (srv.data.parent / "e.jsonl").read_text()
    for step in ("eab.create", "eab.bind", "eab.revoke"):
        assert f'"step":"{step}"' in events, step


def test_eab_expiry_and_audit(sqlite_service: OnlineService) -> None:
    svc = sqlite_service
    kid, _key = create_eab(svc.db, svc.clock, OPERATOR, timedelta(days=1))
    (info,) = list_eab(svc.db)
    assert info.kid == kid and info.status(svc.clock()) == "unused"
    assert info.status(svc.clock() + timedelta(days=2)) == "expired"
    steps = [e["step"] for e in audit.events(svc.db)]
    assert "eab.create" in steps
