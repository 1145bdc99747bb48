"""``ceremony-online``: serve the online CA and administer its data folder.

Subcommands::

    serve --data DIR --listen 127.0.0.1:PORT [--database URL] [--public-url URL] [--workers N]
          [--tls self | --tls-cert FILE --tls-key FILE]      HTTPS (see ceremony.online.tls)
    token create --data DIR --name NAME (--profile P ... | --admin) [--expires-days N]
    token list|revoke --data DIR [--name NAME]
    eab create --data DIR [--expires-days N]
    eab list|revoke --data DIR [--kid KID]
    revoke --data DIR SERIAL [--reason R]
    crl --data DIR                       rebuild every CRL now
    urls show --data DIR                 the public URLs of each issuer, every generation
    urls set --data DIR --base URL [--issuer ID]   new URLs for new certificates (audited)
    check --data DIR                     fetch each live certificate's CRL, compare its IDP
    certs list --data DIR [--profile P] [--name N] [--serial S] [--valid | --revoked]
               [--expiring DAYS]         issued certificates, oldest first
    audit verify|export --data DIR [--out FILE]
    init-intermediate --data DIR --out MEDIA_DIR [--subject CN] [--key ecdsa-p256]
    import-intermediate --data DIR --cert FILE --root FILE [--chain FILE]

Bad input: one ``error:`` line on stderr, exit 2; faults exit 3.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ceremony.audit.eventlog import utc_now
from ceremony.errors import CeremonyError, InputError
from ceremony.online import audit, tls
from ceremony.online.acme_settings import AcmeTestOverrides
from ceremony.online.api.tokens import CACHE_SECONDS, create_token, list_tokens, revoke_token
from ceremony.online.api.tokens import DEFAULT_LIFETIME as TOKEN_LIFETIME
from ceremony.online.certlist import (
    MAX_LIMIT,
    CertificateFilter,
    Page,
    list_certificates,
    parse_int,
)
from ceremony.online.eab import DEFAULT_LIFETIME as EAB_LIFETIME
from ceremony.online.eab import create_eab, list_eab, revoke_eab
from ceremony.online.service import OnlineService, ServiceOptions, open_service
from ceremony.online.urls import (
    RELOAD_SECONDS,
    check_base,
    operator,
    unreachable_for_relying_parties,
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``error:`` line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"usage: {message}")


def _host_port(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{what} {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError(f"{what} {text!r}: expected a port number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ceremony-online", description="Online issuing CA: ACME, REST, CRL, OCSP")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def data_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data", required=True, help="data folder")
        sp.add_argument("--database", help="postgresql://... (default: SQLite in the data folder)")

    s = sub.add_parser("serve", help="run the service")
    data_opts(s)
    s.add_argument("--listen", required=True, help="HOST:PORT, e.g. 127.0.0.1:8443")
    s.add_argument(
        "--public-url", help="base URL written into certificates (default from --listen)"
    )
    s.add_argument("--workers", default="1", help="worker processes (default 1)")
    s.add_argument(
        "--tls",
        metavar="self",
        help="serve HTTPS with a certificate the service issues itself from its issuing CA",
    )
    s.add_argument("--tls-cert", help="serve HTTPS: PEM certificate (leaf first, chain may follow)")
    s.add_argument("--tls-key", help="serve HTTPS: the certificate's unencrypted PEM private key")
    s.add_argument("--acme-http01-port", help="TEST ONLY: port the VA uses for http-01")
    s.add_argument("--acme-tlsalpn01-port", help="TEST ONLY: port the VA uses for tls-alpn-01")
    s.add_argument("--acme-resolve-to", help="TEST ONLY: connect every identifier to this address")
    s.add_argument("--acme-dns-server", help="TEST ONLY: HOST:PORT of the DNS server for dns-01")

    t = sub.add_parser("token", help="REST API bearer tokens")
    tsub = t.add_subparsers(dest="token_command", required=True, parser_class=_Parser)
    tc = tsub.add_parser("create", help="create a token (printed once)")
    data_opts(tc)
    tc.add_argument("--name", required=True)
    tc.add_argument("--profile", action="append", default=[], help="profile (repeatable); * = all")
    tc.add_argument("--admin", action="store_true")
    tc.add_argument(
        "--expires-days",
        help=f"days until it expires (default {TOKEN_LIFETIME.days}; 0 = never)",
    )
    tl = tsub.add_parser("list", help="every token: scope, expiry, last use, status")
    data_opts(tl)
    tr = tsub.add_parser("revoke", help="revoke a token (every process within seconds)")
    data_opts(tr)
    tr.add_argument("--name", required=True)

    e = sub.add_parser("eab", help="ACME external account binding keys")
    esub = e.add_subparsers(dest="eab_command", required=True, parser_class=_Parser)
    ec = esub.add_parser("create", help="create an EAB kid and HMAC key (printed once)")
    data_opts(ec)
    ec.add_argument(
        "--expires-days",
        help=f"days an unused key stays usable (default {EAB_LIFETIME.days}; 0 = never)",
    )
    el = esub.add_parser("list", help="every key: expiry, bound account, status")
    data_opts(el)
    er = esub.add_parser("revoke", help="revoke a key and the account it bound")
    data_opts(er)
    er.add_argument("--kid", required=True)

    r = sub.add_parser("revoke", help="revoke a certificate by serial")
    data_opts(r)
    r.add_argument("serial")
    r.add_argument("--reason", default="unspecified")

    c = sub.add_parser("crl", help="rebuild every CRL now")
    data_opts(c)

    u = sub.add_parser("urls", help="the public URLs written into certificates and CRLs")
    usub = u.add_subparsers(dest="urls_command", required=True, parser_class=_Parser)
    us = usub.add_parser("show", help="every generation of each issuer's URLs")
    data_opts(us)
    uset = usub.add_parser("set", help="new URLs for certificates issued from now on")
    data_opts(uset)
    uset.add_argument("--base", required=True, help="base URL, e.g. http://pki.example.com")
    uset.add_argument("--issuer", help="only this issuer (default: every issuer)")

    ck = sub.add_parser("check", help="compare each live certificate's CDP with the CRL there")
    data_opts(ck)

    ce = sub.add_parser("certs", help="issued certificates")
    cesub = ce.add_subparsers(dest="certs_command", required=True, parser_class=_Parser)
    cl = cesub.add_parser("list", help="list issued certificates, oldest first")
    data_opts(cl)
    cl.add_argument("--profile", help="only this profile")
    cl.add_argument("--name", help="only certificates carrying this DNS name or IP address")
    cl.add_argument("--serial", help="only this serial (hexadecimal)")
    status = cl.add_mutually_exclusive_group()
    status.add_argument("--valid", action="store_true", help="only those not revoked")
    status.add_argument("--revoked", action="store_true", help="only revoked ones")
    cl.add_argument("--expiring", metavar="DAYS", help="not expired, ending within DAYS days")

    a = sub.add_parser("audit", help="the issuance/revocation audit log")
    asub = a.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    av = asub.add_parser("verify", help="check the hash chain (exit 1 if broken)")
    data_opts(av)
    ae = asub.add_parser("export", help="write the log as events.jsonl")
    data_opts(ae)
    ae.add_argument("--out", required=True)

    ii = sub.add_parser("init-intermediate", help="new intermediate key; CSR to a media folder")
    ii.add_argument("--data", required=True)
    ii.add_argument("--out", required=True, help="folder (removable media) for the CSR")
    ii.add_argument("--subject", default="Ceremony Online Issuing CA", help="subject CN")
    ii.add_argument("--key", default="ecdsa-p256", help="ecdsa-p256, ecdsa-p384, rsa-3072, ...")

    im = sub.add_parser("import-intermediate", help="install the signed intermediate certificate")
    im.add_argument("--data", required=True)
    im.add_argument("--cert", required=True, help="signed intermediate certificate (PEM)")
    im.add_argument("--root", required=True, help="root certificate (PEM)")
    im.add_argument("--chain", help="certificates between intermediate and root (PEM)")
    return p


def _options(args: argparse.Namespace, public_url: str = "http://127.0.0.1:8443") -> ServiceOptions:
    return ServiceOptions(
        data=Path(args.data),
        database=getattr(args, "database", None),
        public_url=public_url,
        bootstrap=args.command == "serve",
        record_urls=False,
        db_pool_size=4,
    )


def _serve(args: argparse.Namespace) -> int:
    host, port = _host_port(args.listen, "--listen")
    workers = _port(args.workers, "--workers")
    if workers > 64:
        raise InputError(f"--workers {workers}: at most 64")
    tls.check_mode(args.tls, args.tls_cert, args.tls_key)
    tls_on = args.tls is not None or args.tls_cert is not None
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if tls_on else "http"
    public_url = (args.public_url or f"{scheme}://{shown}:{port}").rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise InputError(f"--public-url {public_url!r}: must start with http:// or https://")
    if tls_on and not public_url.startswith("https://"):
        raise InputError(f"--public-url {public_url!r}: TLS is on, so it must start with https://")
    tls_files: tls.TlsFiles | None = None
    names: tls.ServerNames | None = None
    if args.tls_cert is not None:
        tls_files = tls.load_files(Path(args.tls_cert), Path(args.tls_key), utc_now())
    elif args.tls is not None:
        names = tls.server_names(host, args.public_url)
    dns = _host_port(args.acme_dns_server, "--acme-dns-server") if args.acme_dns_server else None
    overrides = AcmeTestOverrides(
        http01_port=_port(args.acme_http01_port, "--acme-http01-port")
        if args.acme_http01_port
        else 80,
        tlsalpn01_port=_port(args.acme_tlsalpn01_port, "--acme-tlsalpn01-port")
        if args.acme_tlsalpn01_port
        else 443,
        resolve_to=args.acme_resolve_to,
        dns_server=dns,
    )
    options = ServiceOptions(
        data=Path(args.data),
        database=args.database,
        public_url=public_url,
        acme_test=overrides,
        db_pool_size=8,
        tls_self_names=names.all if names is not None else (),
    )
    _check_can_listen(host, port, args.listen)
    if workers > 1:
        from ceremony.online.config import DataFolder
        from ceremony.online.workers import multiprocess_dir, remove_multiprocess_dir

        folder = DataFolder(Path(args.data))
        folder.check_usable()
        folder.create()
        shared = multiprocess_dir(folder.metrics)
        try:
            return _run_server(args, options, host, port, workers, names, tls_files)
        finally:
            remove_multiprocess_dir(shared)
    return _run_server(args, options, host, port, workers, names, tls_files)


def _run_server(
    args: argparse.Namespace,
    options: ServiceOptions,
    host: str,
    port: int,
    workers: int,
    names: tls.ServerNames | None,
    tls_files: tls.TlsFiles | None,
) -> int:
    public_url = options.public_url
    import uvicorn

    from ceremony.online.http_server import uvicorn_options

    service = open_service(options)
    if names is not None:
        try:
            own = tls.ensure_self_issued(service, names, utc_now())
        except BaseException:
            service.close()
            raise
        tls_files = own.files
        how = f"issued now: {own.renewed}" if own.renewed else "reused"
        print(
            f"ceremony-online: TLS certificate {own.files.cert} serial {own.files.serial} "
            f"for {', '.join(names.all)}, valid until {own.files.not_after:%Y-%m-%d %H:%M} UTC "
            f"({how}); renewed while serving from {own.files.renew_from:%Y-%m-%d %H:%M} UTC",
            file=sys.stderr,
            flush=True,
        )
    ssl_args: dict[str, Any] = (
        {"ssl_certfile": str(tls_files.cert), "ssl_keyfile": str(tls_files.key)}
        if tls_files is not None
        else {}
    )
    print(
        f"ceremony-online: serving {public_url} (issuer {service.loaded.active.id}, "
        f"database {service.db.url.redacted()}, {workers} worker(s))",
        file=sys.stderr,
        flush=True,
    )
    published = service.urls.current(service.loaded.active.id)
    print(
        f"ceremony-online: certificates point to {published.base} for CRLs, OCSP and the CA "
        f"certificate (generation {published.generation}; change: ceremony-online urls set)",
        file=sys.stderr,
        flush=True,
    )
    unreachable = unreachable_for_relying_parties(published.base)
    if unreachable is not None:
        print(
            f"ceremony-online: warning: {published.base} {unreachable}; record a plain "
            "base where a serve without TLS (or a proxy) answers: ceremony-online urls set "
            f"--data {args.data} --base http://HOST:PORT",
            file=sys.stderr,
            flush=True,
        )
    if not service.config.acme.eab_required and service.config.acme_profiles:
        print(
            "ceremony-online: ACME needs no external account binding ([acme] eab_required = "
            f"false): anyone who reaches {public_url} may order certificates for the names the "
            f"ACME profiles allow ({', '.join(service.config.acme_profiles)})",
            file=sys.stderr,
            flush=True,
        )
    if workers == 1:
        from ceremony.online.app import create_app

        uvicorn.run(
            create_app(service),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            **uvicorn_options(),
            **ssl_args,
        )
        return 0
    service.close()
    from ceremony.online.asgi import ENV, options_to_env

    os.environ[ENV] = options_to_env(options)
    uvicorn.run(
        "ceremony.online.asgi:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        **uvicorn_options(),
        **ssl_args,
    )
    return 0


def _check_can_listen(host: str, port: int, text: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as ex:
        raise InputError(f"--listen {text}: cannot listen there: {ex.strerror or ex}") from ex


def _with_service(args: argparse.Namespace) -> OnlineService:
    return open_service(_options(args))


def _lifetime(text: str | None, default: timedelta) -> timedelta | None:
    if text is None:
        return default
    days = parse_int(text, "--expires-days", 0, 3650, 0)
    return None if days == 0 else timedelta(days=days)


def _when(t: datetime | None, empty: str = "-") -> str:
    return empty if t is None else f"{t:%Y-%m-%d %H:%M}"


def _token(args: argparse.Namespace) -> int:
    svc = _with_service(args)
    try:
        if args.token_command == "create":
            profiles = list(args.profile)
            if not profiles and not args.admin:
                raise InputError("token create: give --profile P (repeatable) or --admin")
            for name in profiles:
                if name != "*" and name not in svc.config.profiles:
                    raise InputError(f"--profile {name!r}: no such profile")
            lifetime = _lifetime(args.expires_days, TOKEN_LIFETIME)
            print(
                create_token(svc.db, args.name, profiles, args.admin, utc_now, lifetime, operator())
            )
        elif args.token_command == "revoke":
            revoke_token(svc.db, args.name, operator(), utc_now)
            print(f"revoked token {args.name} (refused everywhere within {CACHE_SECONDS:.0f} s)")
        else:
            now = utc_now()
            print("name\tstatus\tscope\tcreated\texpires\tlast_used")
            for t in list_tokens(svc.db):
                scope = "admin" if t.admin else ",".join(t.profiles)
                print(
                    f"{t.name}\t{t.status(now)}\t{scope}\t{_when(t.created_at)}\t"
                    f"{_when(t.expires_at, 'never')}\t{_when(t.last_used_at, 'never')}"
                )
    finally:
        svc.close()
    return 0


def _eab(args: argparse.Namespace) -> int:
    svc = _with_service(args)
    try:
        if args.eab_command == "create":
            lifetime = _lifetime(args.expires_days, EAB_LIFETIME)
            kid, key = create_eab(svc.db, utc_now, operator(), lifetime)
            print(f"kid {kid}")
            print(f"hmac-key {key}")
        elif args.eab_command == "revoke":
            account = revoke_eab(svc.db, args.kid, operator(), utc_now)
            print(f"revoked {args.kid}" + (f" and account {account}" if account else ""))
        else:
            now = utc_now()
            print("kid\tstatus\tcreated\texpires\taccount\tbound")
            for k in list_eab(svc.db):
                print(
                    f"{k.kid}\t{k.status(now)}\t{_when(k.created_at)}\t"
                    f"{_when(k.expires_at, 'never')}\t{k.account_id or '-'}\t{_when(k.bound_at)}"
                )
    finally:
        svc.close()
    return 0


def _revoke(args: argparse.Namespace) -> int:
    svc = _with_service(args)
    try:
        done = svc.issuance.revoke(args.serial, args.reason, operator())
        print(f"revoked {done.serial} ({args.reason})")
    finally:
        svc.close()
    return 0


def _crl(args: argparse.Namespace) -> int:
    svc = _with_service(args)
    try:
        for issuer_id in svc.loaded.all:
            for scope in svc.crls.scopes(issuer_id):
                crl = svc.crls.build(issuer_id, scope)
                print(f"{issuer_id} {scope} number {crl.number} entries {crl.entries}")
    finally:
        svc.close()
    return 0


def _urls(args: argparse.Namespace) -> int:
    svc = _with_service(args)
    try:
        if args.urls_command == "set":
            base = check_base(args.base, "--base")
            if args.issuer is not None and args.issuer not in svc.loaded.all:
                raise InputError(f"--issuer {args.issuer}: no such issuer")
            targets = [args.issuer] if args.issuer else list(svc.loaded.all)
            for issuer_id in targets:
                urls = svc.urls.record(issuer_id, base, operator(), utc_now())
                assert urls is not None
                print(
                    f"{issuer_id} generation {urls.generation}: {urls.crl_shard_template} "
                    f"(certificates issued from now on; running services switch within "
                    f"{RELOAD_SECONDS:.0f} s)"
                )
            unreachable = unreachable_for_relying_parties(base)
            if unreachable is not None:
                print(f"warning: {base} {unreachable}", file=sys.stderr)
            return 0
        for issuer_id in svc.loaded.all:
            gens = svc.urls.generations(issuer_id)
            if not gens:
                print(f"{issuer_id}: no URLs recorded")
            for g in gens:
                state = (
                    "current"
                    if g.retired_at is None
                    else f"retired {g.retired_at:%Y-%m-%d %H:%M} UTC, CRLs published until "
                    + (
                        f"{g.last_not_after:%Y-%m-%d %H:%M} UTC"
                        if g.last_not_after
                        else "its last certificate expires"
                    )
                )
                print(f"{issuer_id} generation {g.generation} ({state})")
                print(f"  crl distribution point  {g.crl_shard_template}")
                print(f"  full / delta CRL        {g.crl_full}  {g.crl_delta}")
                print(f"  ocsp                    {g.ocsp}")
                print(f"  ca issuers              {g.ca_issuers}")
        return 0
    finally:
        svc.close()


def _check(args: argparse.Namespace) -> int:
    from ceremony.online.check import check_crl_urls, https_fetcher

    svc = _with_service(args)
    try:
        report = check_crl_urls(svc, https_fetcher(str(svc.folder.root_cert)), utc_now())
    finally:
        svc.close()
    for line in report.problems:
        print(line)
    print(
        f"checked {report.certificates} live certificate(s) against {report.urls} CRL URL(s): "
        + (f"{len(report.problems)} problem(s)" if report.problems else "all match")
    )
    return 1 if report.problems else 0


def _certs(args: argparse.Namespace) -> int:
    days = parse_int(args.expiring, "--expiring", 1, 36500, 0) if args.expiring else None
    f = CertificateFilter(
        profile=args.profile,
        name=args.name,
        serial=args.serial,
        status="valid" if args.valid else "revoked" if args.revoked else None,
        expiring_within=timedelta(days=days) if days else None,
    )
    svc = _with_service(args)
    try:
        now = utc_now()
        page = Page(after=0, limit=MAX_LIMIT)
        print("serial\tprofile\tnot_after\tstatus\tnames")
        while True:
            with svc.db.read() as session:
                rows = list_certificates(session, f, page, now)
            for r in rows:
                print(
                    f"{r['serial']}\t{r['profile']}\t{r['not_after']}\t{r['status']}\t"
                    + ",".join(r["names"])
                )
            if len(rows) < page.limit:
                return 0
            page = Page(after=int(rows[-1]["id"]), limit=MAX_LIMIT)
    finally:
        svc.close()


def _audit(args: argparse.Namespace) -> int:
    svc = _with_service(args)
    try:
        if args.audit_command == "verify":
            problems = audit.verify(svc.db)
            for line in problems:
                print(line)
            if not problems:
                print("audit log intact")
            return 1 if problems else 0
        n = audit.export(svc.db, Path(args.out))
        print(f"wrote {n} events to {args.out}")
        return 0
    finally:
        svc.close()


def _init_intermediate(args: argparse.Namespace) -> int:
    from ceremony.online.intermediate import init_intermediate

    csr_path = init_intermediate(Path(args.data), Path(args.out), args.subject, args.key)
    print(f"wrote {csr_path}")
    from ceremony.online.intermediate import key_protection_summary

    summary = key_protection_summary(Path(args.data))
    if summary:
        print(f"issuing key in the token: {summary}")
    return 0


def _import_intermediate(args: argparse.Namespace) -> int:
    from ceremony.online.intermediate import import_intermediate

    chain = Path(args.chain) if args.chain else None
    issuer_id = import_intermediate(Path(args.data), Path(args.cert), Path(args.root), chain)
    print(f"installed issuer {issuer_id} (active)")
    print(
        "restart every serve of this data folder: a running one goes on issuing from the "
        "issuer it started with and knows nothing of the new one's CRLs and OCSP"
    )
    return 0


COMMANDS = {
    "serve": _serve,
    "token": _token,
    "eab": _eab,
    "revoke": _revoke,
    "crl": _crl,
    "urls": _urls,
    "check": _check,
    "certs": _certs,
    "audit": _audit,
    "init-intermediate": _init_intermediate,
    "import-intermediate": _import_intermediate,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except CeremonyError as ex:
        print(f"error: {ex.message}", file=sys.stderr)
        return ex.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 3
