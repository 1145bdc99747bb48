"""REST API through a real ``ceremony-online serve`` process (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from cryptography import x509

from tests.online.conftest import api, cli, http
from tests.online.helpers import make_csr


def test_rest_sign_fetch_list_revoke(server_factory: Any, database_url: str | None) -> None:
    srv = server_factory(database=database_url)
    token = srv.token("tls-server")
    other = srv.token("tls-client")
    pem, _ = make_csr(["api.a.test"])

    status, body = api(
        "POST",
        srv.url("/api/v1/certificates"),
        token,
        {"profile": "tls-server", "csr": pem.decode(), "ttl_hours": 48},
    )
    assert status == 201, body
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert body["names"] == ["api.a.test"]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() == (
        48 * 3600 + 300
    )
    serial = body["serial"]

    status, got = api("GET", srv.url(f"/api/v1/certificates/{serial}"), token)
    assert status == 200 and got["certificate"] == body["certificate"]
    status, page = api("GET", srv.url("/api/v1/certificates?limit=10"), token)
    assert status == 200 and [c["serial"] for c in page["certificates"]] == [serial]
    status, page = api("GET", srv.url("/api/v1/certificates"), other)
    assert status == 200 and page["certificates"] == []
    status, err = api("GET", srv.url(f"/api/v1/certificates/{serial}"), other)
    assert status == 404 and err["error"] == "notFound"

    status, rev = api(
        "POST", srv.url(f"/api/v1/certificates/{serial}/revoke"), token, {"reason": "keyCompromise"}
    )
    assert status == 200 and rev["status"] == "revoked"
    status, err = api("POST", srv.url(f"/api/v1/certificates/{serial}/revoke"), token, {})
    assert status == 400 and "already revoked" in err["detail"]


def test_rest_errors_are_one_line_json(server_factory: Any) -> None:
    srv = server_factory()
    token = srv.token("tls-client")
    pem, _ = make_csr(["x.example.com"])
    cases = [
        (
            "POST",
            "/api/v1/certificates",
            None,
            {"profile": "tls-server", "csr": "x"},
            401,
            "unauthorized",
        ),
        (
            "POST",
            "/api/v1/certificates",
            "cot_wrong",
            {"profile": "tls-server", "csr": "x"},
            401,
            "unauthorized",
        ),
        (
            "POST",
            "/api/v1/certificates",
            token,
            {"profile": "tls-server", "csr": pem.decode()},
            403,
            "forbidden",
        ),
        (
            "POST",
            "/api/v1/certificates",
            token,
            {"profile": "tls-client", "csr": pem.decode()},
            403,
            "policy",
        ),
        (
            "POST",
            "/api/v1/certificates",
            token,
            {"profile": "tls-client", "csr": "junk"},
            400,
            "badRequest",
        ),
        ("POST", "/api/v1/certificates", token, {"profile": "tls-client"}, 400, "badRequest"),
        (
            "POST",
            "/api/v1/certificates",
            token,
            {"profile": "tls-client", "csr": pem.decode(), "extra": 1},
            400,
            "badRequest",
        ),
        ("GET", "/api/v1/certificates/zz", token, None, 400, "badRequest"),
    ]
    for method, path, tok, obj, want_status, want_code in cases:
        headers = {"Content-Type": "application/json"}
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        status, _h, raw = http(
            method, srv.url(path), json.dumps(obj).encode() if obj else None, headers
        )
        assert status == want_status, (path, raw)
        assert raw.count(b"\n") == 0
        doc = json.loads(raw)
        assert doc["error"] == want_code and doc["detail"], doc
    status, _h, raw = http(
        "POST", srv.url("/api/v1/certificates"), b"{not json", {"Authorization": f"Bearer {token}"}
    )
    assert status == 400 and json.loads(raw)["error"] == "badRequest"


def test_openapi_health_metrics_and_ca(server_factory: Any) -> None:
    srv = server_factory()
    status, _h, raw = http("GET", srv.url("/openapi.json"))
    doc = json.loads(raw)
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {
        "/api/v1/certificates",
        "/api/v1/certificates/{serial}",
        "/api/v1/certificates/{serial}/revoke",
        "/api/v1/profiles",
    } <= set(doc["paths"])
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["operationId"] and op["responses"], path
    assert http("GET", srv.url("/healthz"))[0] == 200
    token = srv.token()
    pem, _ = make_csr(["m.test"])
    api(
        "POST",
        srv.url("/api/v1/certificates"),
        token,
        {"profile": "tls-server", "csr": pem.decode()},
    )
    status, headers, raw = http("GET", srv.url("/metrics"))
    text = raw.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert "ceremony_online_issued_total{" in text and 'profile="tls-server"' in text
    assert "ceremony_online_issue_seconds_bucket" in text
    status, issuers = api("GET", srv.url("/api/v1/issuers"), None)
    assert status == 200 and issuers["active"]
    assert http("GET", srv.url(f"/ca/{issuers['active']}.der"))[0] == 200
    assert http("GET", srv.url("/crl/nope/full.crl"))[0] == 404
    assert http("GET", srv.url(f"/crl/{issuers['active']}/999.crl"))[0] == 404


def test_rest_list_parameters_and_request_nits(server_factory: Any) -> None:
    srv = server_factory()
    token = srv.token("tls-server")
    serials = []
    for name in ("one.a.test", "two.a.test", "three.a.test"):
        pem, _ = make_csr([name])
        status, body = api(
            "POST",
            srv.url("/api/v1/certificates"),
            token,
            {
                "profile": "tls-server",
                "csr": pem.decode(),
                "ttl_hours": 24 if name == "two.a.test" else 240,
            },
        )
        assert status == 201, body
        serials.append(body["serial"])

    def listing(query: str, auth: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": auth or f"Bearer {token}"}
        status, _h, raw = http("GET", srv.url(f"/api/v1/certificates{query}"), None, headers)
        assert raw.count(b"\n") == 0, raw
        return status, json.loads(raw)

    for bad in (
        "?after=99999999999999999999999",
        "?after=-1",
        "?limit=0",
        "?limit=-1",
        "?limit=1001",
        "?limit=x",
        "?status=gone",
        "?expiring_days=0",
        "?serial=zz",
        "?colour=red",
    ):
        status, err = listing(bad)
        assert status == 400 and err["error"] == "badRequest", (bad, err)
    status, page = listing("?limit=2")
    assert status == 200 and [c["serial"] for c in page["certificates"]] == serials[:2]
    status, rest = listing(page["next"].removeprefix("/api/v1/certificates"))
    assert [c["serial"] for c in rest["certificates"]] == serials[2:] and "next" not in rest
    assert [c["serial"] for c in listing("?name=TWO.a.test")[1]["certificates"]] == [serials[1]]
    assert [c["serial"] for c in listing(f"?serial={serials[2].upper()}")[1]["certificates"]] == [
        serials[2]
    ]
    assert [c["serial"] for c in listing("?expiring_days=2")[1]["certificates"]] == [serials[1]]

    # the bearer scheme is case-insensitive (RFC 7235 2.1)
    for scheme in ("bearer", "BEARER", "Bearer"):
        assert listing("", f"{scheme} {token}")[0] == 200, scheme
    assert listing("", f"Basic {token}")[0] == 401

    revoke = srv.url(f"/api/v1/certificates/{serials[0]}/revoke")
    for bad_body in ({"reason": "keyCompromise", "comment": "x"}, {"reason": "certificateHold"}):
        status, err = api("POST", revoke, token, bad_body)
        assert status == 400 and err["error"] == "badRequest", err
    status, _ = api("POST", revoke, token, {"reason": "superseded"})
    assert status == 200
    assert [c["serial"] for c in listing("?status=revoked")[1]["certificates"]] == [serials[0]]
    assert [c["serial"] for c in listing("?status=valid")[1]["certificates"]] == serials[1:]

    def certs(*args: str) -> list[str]:
        r = cli("certs", "list", "--data", str(srv.data), *args)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].split("\t") == ["serial", "profile", "not_after", "status", "names"]
        return [line.split("\t")[0] for line in lines[1:]]

    assert certs() == serials
    assert certs("--revoked") == serials[:1] and certs("--valid") == serials[1:]
    assert certs("--name", "three.a.test") == serials[2:]
    assert certs("--expiring", "2") == [serials[1]]
    assert certs("--profile", "tls-client") == []
    assert certs("--serial", serials[1]) == [serials[1]]
    r = cli("certs", "list", "--data", str(srv.data), "--expiring", "soon")
    assert r.returncode == 2 and r.stderr.startswith("error: --expiring 'soon'"), r.stderr
