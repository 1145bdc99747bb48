"""``ceremony``: the headless command line.

Exit codes (CONTRACT.md): 0 done, 1 evidence invalid, 2 input refused,
3 fault outside our control. Every refusal is one ``error:`` line.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ceremony import __version__
from ceremony.errors import CeremonyError, InputError

if TYPE_CHECKING:
    from ceremony.bundle import Bundle
    from ceremony.hsm.module import Hsm
    from ceremony.later import LaterCeremonies


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise InputError(f"usage: {message} (see {self.prog} --help)")


def _recording(value: str) -> str:
    from ceremony import text

    return text.check(text.typed(value), "--recording", 200)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ceremony", description="Offline root CA key ceremonies on PKCS#11 HSMs.")
    p.add_argument("--version", action="version", version=f"ceremony {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("demo", help="full unattended rehearsal on SoftHSM2 into a new bundle")
    d.add_argument("--out", required=True, type=Path, help="new bundle folder")
    d.add_argument(
        "--key",
        default="ecdsa-p384",
        choices=["ecdsa-p384", "ecdsa-p256", "rsa-3072", "rsa-4096", "ed25519"],
    )
    d.add_argument(
        "--backup",
        default="split-wrap",
        choices=["split-wrap", "hsm-native"],
        help="split-wrap: the root key wrapped under a key split into SLIP-39 shares (default);"
        " hsm-native: the root key non-extractable from birth, backed up by the HSM's own means"
        " (rehearsed on SoftHSM2 as a copy of its token)",
    )
    d.add_argument("--threshold", type=int, default=3, help="M: custodians needed (default 3)")
    d.add_argument("--shares", type=int, default=5, help="N: custodians (default 5)")
    d.add_argument("--verbose", action="store_true", help="print each step")
    d.add_argument(
        "--pkcs11-module", help="rehearse on this module's free token instead of SoftHSM2"
    )
    d.add_argument(
        "--so-pin-file",
        type=Path,
        help="with --pkcs11-module: file holding the SO PIN the token came with",
    )

    o = sub.add_parser("root", help="the root ceremony on this terminal, from a ceremony file")
    o.add_argument("--ceremony", required=True, type=Path, help="the reviewed ceremony file")
    o.add_argument("--locator", type=Path, help="where the HSM is (default: SoftHSM2)")
    o.add_argument("--out", required=True, type=Path, help="new bundle folder (or one to resume)")
    o.add_argument(
        "--so-pin-file",
        type=Path,
        help="file holding the SO PIN the new token came with (replaced at initialization)",
    )

    v = sub.add_parser("verify", help="the auditor's check of a bundle")
    v.add_argument("bundle", type=Path, nargs="?")
    v.add_argument("--pdf", type=Path, help="verify one signed PDF instead of a bundle")
    v.add_argument(
        "--root", type=Path, help="the root certificate (PEM) to trust; a bundle must be under it"
    )
    v.add_argument(
        "--signer", metavar="SHA256", help="with --pdf: the transcript signer's fingerprint"
    )
    v.add_argument(
        "--expect-head",
        metavar="HEX",
        help="the final event hash kept from the last ceremony; fails a bundle behind or ahead",
    )
    v.add_argument("--quiet", action="store_true", help="print only failed checks")

    s = sub.add_parser("sign-csr", help="intermediate signing ceremony")
    s.add_argument("bundle", type=Path)
    s.add_argument("csr", type=Path, help="CSR file (PEM or DER)")
    s.add_argument("--name", help="file name in issued/ (default: from the CSR's common name)")
    s.add_argument(
        "--profile",
        default="intermediate",
        choices=["intermediate", "cross-certificate"],
        help="cross-certificate: CSR is an existing CA certificate to cross-sign",
    )
    s.add_argument("--media", type=Path, help="removable media folder to write the outputs to")

    r = sub.add_parser("restore", help="recovery ceremony: rebuild the root key into a new token")
    r.add_argument("bundle", type=Path)
    r.add_argument("--shares", type=Path, help="rehearsal bundle: M shares, one mnemonic per line")
    r.add_argument(
        "--passphrase-file", type=Path, help="rehearsal bundle: file holding the backup passphrase"
    )
    r.add_argument("--to-token", required=True, help="label of the new token")
    r.add_argument(
        "--old-token",
        choices=["destroyed", "kept", "lost"],
        help="what became of the token the new one replaces (a rehearsal's is kept)",
    )

    c = sub.add_parser("crl", help="CRL ceremony: next root CRL")
    c.add_argument("bundle", type=Path)
    c.add_argument("--revoke", metavar="SERIAL_HEX", help="serial of an intermediate to revoke")
    c.add_argument("--reason", default=None, help="RFC 5280 reason, e.g. key-compromise")
    c.add_argument("--media", type=Path, help="removable media folder to write the CRL to")
    for kind in (o, s, r, c):
        kind.add_argument(
            "--recording",
            metavar="REF",
            type=_recording,
            help="reference of the ceremony's audio or video recording, for the transcript",
        )
    for later in (s, r, c):
        later.add_argument(
            "--ceremony",
            type=Path,
            help="the bundle's reviewed ceremony file: run on this terminal, shares typed",
        )
        later.add_argument(
            "--locator", type=Path, help="with --ceremony: where the HSM is (default: SoftHSM2)"
        )
        later.add_argument(
            "--absent",
            action="append",
            default=[],
            metavar="NAME",
            help="rehearsal bundle: a participant not in the room (repeat); the quorum still"
            " has to be met",
        )

    sc = sub.add_parser("script", help="print a ceremony's script (PDF) before the day")
    sc.add_argument("--ceremony", required=True, type=Path, help="the reviewed ceremony file")
    sc.add_argument(
        "--kind", required=True, choices=["root", "sign-csr", "crl", "recovery"], help="ceremony"
    )
    sc.add_argument("--out", required=True, type=Path, help="new PDF file (never overwritten)")
    sc.add_argument("--rehearsal", action="store_true", help="mark every page REHEARSAL")

    h = sub.add_parser("tokens", help="list the tokens of a PKCS#11 module")
    h.add_argument("--pkcs11-module", help="module path (default: SoftHSM2)")
    h.add_argument("--softhsm-home", type=Path, help="SoftHSM2 folder with softhsm2.conf")
    return p


def _cmd_demo(args: argparse.Namespace) -> int:
    from ceremony.config.ceremonyfile import BackupMethod
    from ceremony.demo import DemoModule, run_demo
    from ceremony.hsm.keys import KeyAlgorithm

    module = None
    if (args.pkcs11_module is None) != (args.so_pin_file is None):
        raise InputError("usage: --pkcs11-module and --so-pin-file go together")
    if args.pkcs11_module is not None:
        from ceremony.config.locator import check_module

        check_module(Path(args.pkcs11_module), "--pkcs11-module")
        module = DemoModule(args.pkcs11_module, _factory_so_pin(args.so_pin_file))
    bundle = run_demo(
        args.out,
        KeyAlgorithm.parse(args.key),
        args.threshold,
        args.shares,
        quiet=not args.verbose,
        module=module,
        backup=BackupMethod(args.backup),
    )
    print(
        f"rehearsal bundle written to {bundle.root}; check it with: ceremony verify {bundle.root}"
    )
    return 0


def _factory_so_pin(path: Path) -> str:
    """The SO PIN a new token came with, from ``path`` (one line)."""
    from ceremony.flow.recovery import read_text_file

    so_pin = read_text_file(path, "SO PIN file").strip()
    if not so_pin or not so_pin.isprintable():
        raise InputError(f"{path}: holds no SO PIN (one line of printable text)")
    return so_pin


def _cmd_root(args: argparse.Namespace) -> int:
    from ceremony import terminal
    from ceremony.bundle import CEREMONY_FILE, REHEARSAL, Bundle
    from ceremony.config import ceremonyfile, locator
    from ceremony.flow import scripts, validate
    from ceremony.flow.ceremonies import open_context, run_ceremony, start_bundle
    from ceremony.flow.documents import CLOSERS
    from ceremony.hsm.module import Hsm

    definition, data = ceremonyfile.load(args.ceremony)
    where = locator.load(args.locator)
    terminal.require_terminal(where.rehearsal)
    if not where.rehearsal:
        problem = terminal.printer_problem()
        if problem is not None:
            raise InputError(f"share cards: {problem}")
    earlier = Bundle(args.out) if (args.out / CEREMONY_FILE).is_file() else None
    if earlier is not None:
        earlier.lock()
        if earlier.latest_transcript("root") is not None and _complete(earlier, "root"):
            raise InputError(f"{args.out}: its root ceremony ({definition.name}) is complete")
    hsm = None
    if not where.rehearsal or where.module is not None:
        hsm = Hsm(where.module, softhsm_home=where.softhsm_home if where.module is None else None)
    validate.root_ceremony(definition, where.rehearsal, hsm, earlier)
    hexd, words = ceremonyfile.file_digest(data)
    print(f"ceremony file SHA-256 {hexd}\n  {words}\nread it aloud and compare.")
    bundle = start_bundle(args.out, data)
    if where.rehearsal:
        bundle.path(REHEARSAL).mkdir(exist_ok=True)
        if where.module is None:
            hsm = Hsm(softhsm_home=bundle.path(REHEARSAL))
    assert hsm is not None
    folder = bundle.open_transcript("root") or bundle.latest_transcript("root")
    prompter = terminal.TerminalPrompter(
        cards_to=bundle.path(REHEARSAL) if where.rehearsal else None
    )
    ctx, folder = open_context(bundle, "root", hsm, prompter, where.rehearsal, folder)
    if args.so_pin_file is not None:
        ctx.state["factory_so_pin"] = _factory_so_pin(args.so_pin_file)
    ctx.state["recording"] = args.recording
    run_ceremony(ctx, folder, scripts.ROOT, CLOSERS)
    print(f"root ceremony complete: {bundle.root}; check it with: ceremony verify {bundle.root}")
    return 0


def _complete(bundle: Bundle, kind: str) -> bool:
    """The newest ceremony of ``kind`` closed and its closing documents are all written."""
    return bundle.open_transcript(kind) is None and bundle.manifest_current()


def _cmd_verify(args: argparse.Namespace) -> int:
    from ceremony.audit import verify

    if args.pdf is not None:
        if args.expect_head is not None:
            raise InputError("usage: --expect-head goes with a bundle folder, not --pdf")
        if args.root is None and args.bundle is None:
            raise InputError(
                "usage: verify --pdf FILE --root ROOT.pem [--signer SHA256], or verify BUNDLE"
                " --pdf FILE"
            )
        if args.bundle is not None and not args.bundle.is_dir():
            raise InputError(f"{args.bundle}: not a bundle folder")
        checks = verify.verify_pdf(args.pdf, args.root, signer=args.signer, bundle=args.bundle)
        lines = verify.Report(checks).lines(args.quiet)
        failed = any(not c.ok for c in checks)
    elif args.bundle is None:
        raise InputError("usage: verify needs a bundle folder (or --pdf FILE --root ROOT.pem)")
    elif not args.bundle.is_dir():
        raise InputError(f"{args.bundle}: not a bundle folder")
    elif args.signer is not None:
        raise InputError("usage: --signer goes with --pdf FILE")
    else:
        head = verify.parse_head(args.expect_head) if args.expect_head is not None else None
        root = verify.read_root_pem(args.root) if args.root is not None else None
        report = verify.verify_report(args.bundle, root_pem=root, expect_head=head)
        lines = report.lines(args.quiet)
        failed = bool(report.failed)
    for line in lines:
        print(line)
    return 1 if failed else 0


def _cmd_tokens(args: argparse.Namespace) -> int:
    from ceremony.hsm.module import Hsm

    if args.softhsm_home is not None and not (args.softhsm_home / "softhsm2.conf").is_file():
        raise InputError(f"{args.softhsm_home}: not a SoftHSM2 folder (no softhsm2.conf in it)")
    if args.pkcs11_module is not None:
        from ceremony.config.locator import check_module

        check_module(Path(args.pkcs11_module), "--pkcs11-module")
    hsm = Hsm(args.pkcs11_module, softhsm_home=args.softhsm_home)
    print(f"module {hsm.module_path}: {hsm.description}")
    for line in token_lines(hsm):
        print(line)
    return 0


def token_lines(hsm: Hsm) -> list[str]:
    """Every token of the module with what it offers a ceremony (``ceremony tokens``)."""
    from ceremony.hsm import capabilities
    from ceremony.hsm.module import field_text
    from ceremony.hsm.probe import wrappable_families

    out = []
    for token, initialized in hsm.tokens_present():
        label = field_text(token.label) if initialized else ""
        name = f"token {label!r}" if initialized else f"free token in slot {token.slot.slot_id}"
        caps = capabilities.of_token(hsm.module_path, token, name)
        facts = caps.as_dict()
        head = label if initialized else f"(not initialized, slot {token.slot.slot_id})"
        out.append(
            f"{head}: {field_text(token.manufacturer_id)} {field_text(token.model)} serial"
            f" {field_text(token.serial)} firmware {field_text(token.firmware_version)}"
        )
        pins = facts["generated_pins"]
        pin_text = (
            f"{pins['format']}, {pins['entropy_bits']} bits"
            if "format" in pins
            else pins["refused"]
        )
        out.append(f"  PIN length {caps.min_pin} to {caps.max_pin}; generated PINs: {pin_text}")
        out.append(
            "  login: "
            + (
                "on the token's PIN pad (protected authentication path); no PIN from this host"
                if caps.protected_authentication_path
                else "PIN from this host"
            )
        )
        out.append(f"  key types: {', '.join(facts['key_types']) or 'none'}")
        wrap = caps.wrap_mechanism
        families = wrappable_families(token, caps) if initialized else None
        if wrap is None:
            out.append("  split-wrap backup: impossible (no AES wrap mechanism); hsm-native only")
        else:
            known = (
                f"; wraps {', '.join(sorted(families)) or 'no key type'}"
                if families is not None
                else "; which key types it wraps is tried once the token is initialized"
            )
            out.append(f"  split-wrap backup: {wrap.value}{known}")
    return out


def _later(args: argparse.Namespace, kind: str) -> LaterCeremonies:
    """The rehearsal bundle's answers, or with ``--ceremony`` the people at this terminal."""
    from ceremony.later import LaterCeremonies

    if args.ceremony is None:
        if args.locator is not None:
            raise InputError("usage: --locator goes with --ceremony FILE")
        return LaterCeremonies.rehearsed(args.bundle, args.absent)
    if args.absent:
        raise InputError(
            "usage: --absent is for rehearsal bundles; with --ceremony the sign-in at the"
            " terminal asks who is absent"
        )
    return LaterCeremonies.at_terminal(args.bundle, args.ceremony, args.locator, kind)


def _finished(later: LaterCeremonies, kind: str, same: Callable[[Path], bool]) -> Path | None:
    """Finish interrupted closings; the folder of ``kind`` among them whose request
    ``same`` recognises (the command run again: nothing more to do)."""
    from ceremony.flow.ceremonies import kind_of

    done = later.finish_closings()
    for folder in done:
        print(f"{folder.name}: its closing documents are written; the bundle is complete")
    return next((f for f in reversed(done) if kind_of(f) == kind and same(f)), None)


def _cmd_sign_csr(args: argparse.Namespace) -> int:
    from ceremony.flow import signcsr

    later = _later(args, "sign-csr")
    data = signcsr.read_csr_file(args.csr)
    if _finished(later, "sign-csr", lambda f: signcsr.recorded_csr(f) == sha256(data)):
        return 0
    request = signcsr.prepare_request(
        later.bundle, data, str(args.csr), args.name, args.profile, args.media
    )
    ctx, folder = later.open("sign-csr")
    ctx.state["recording"] = args.recording
    ctx.state["request"] = request
    if args.media is not None:
        ctx.state["media"] = args.media
    later.run(ctx, folder, signcsr.SIGN_STEPS)
    print(f"{request.output} written to {later.bundle.root}")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    from ceremony.flow import recovery, validate

    at_terminal = args.ceremony is not None
    if at_terminal and (args.shares is not None or args.passphrase_file is not None):
        raise InputError(
            "usage: with --ceremony the custodians type their recovery shares and the"
            " passphrase at the terminal; --shares and --passphrase-file are for rehearsal"
            " bundles"
        )
    if not at_terminal and args.shares is None:
        raise InputError(
            "usage: restore BUNDLE --shares FILE --to-token LABEL on a rehearsal bundle, or"
            " restore BUNDLE --ceremony FILE --locator FILE --to-token LABEL on a terminal"
        )
    later = _later(args, "recovery")
    if args.old_token is None and not later.rehearsal:
        raise InputError(
            "usage: a real recovery records what became of the token it replaces:"
            " --old-token destroyed, kept or lost"
        )
    shares = passphrase = ""
    if not at_terminal:
        shares = recovery.read_text_file(args.shares, "shares file")
    if args.passphrase_file is not None:
        passphrase = recovery.read_text_file(args.passphrase_file, "passphrase file").rstrip("\n")
    target = args.to_token
    if _finished(later, "recovery", lambda f: recovery.recorded_target(f) == target):
        return 0
    bundle = later.bundle
    open_folder = bundle.open_transcript("recovery")
    recorded = recovery.recorded_target(open_folder) if open_folder is not None else None
    if recorded is not None and recorded != target:
        raise InputError(
            f"{open_folder.name if open_folder else ''}: the interrupted recovery restores into"
            f" token {recorded!r}; run it again with --to-token {recorded}"
        )
    validate.recovery_target(later.hsm, target, resuming=recorded is not None)
    room = later.sign_in("recovery")
    presented: tuple[str, ...] = ()
    if at_terminal:
        shares, passphrase, presented = recovery.ask_shares(later.bundle, later.prompter, room)
    request = recovery.check_shares(
        bundle,
        later.hsm,
        shares,
        passphrase,
        target,
        resuming=recorded is not None,
        presented_by=presented,
    )
    ctx, folder = later.open("recovery", room)
    ctx.state["recording"] = args.recording
    ctx.state.update(recovery=request, token_label=target, old_token_fate=args.old_token)
    later.run(ctx, folder, recovery.RECOVERY_STEPS)
    print(f"root key restored into token {target!r} and proven against root/root-ca.pem")
    return 0


def _cmd_crl(args: argparse.Namespace) -> int:
    from ceremony.flow import crl
    from ceremony.x509.serial import serial_text

    if args.reason is not None and args.revoke is None:
        raise InputError("usage: --reason goes with --revoke SERIAL_HEX")
    if args.revoke is not None and args.reason is None:
        raise InputError(f"usage: --revoke needs --reason, one of {', '.join(crl.REASONS)}")
    request = None
    if args.revoke is not None:
        request = (crl.parse_serial(args.revoke), crl.parse_reason(args.reason))
    later = _later(args, "crl")
    wanted = None if request is None else (serial_text(request[0]), request[1].value)
    if _finished(later, "crl", lambda f: crl.recorded_request(f) == wanted):
        return 0
    crl.prepare(later.bundle, request, args.media)
    ctx, folder = later.open("crl")
    ctx.state["recording"] = args.recording
    if args.media is not None:
        ctx.state["media"] = args.media
    if request is not None:
        ctx.state["revoke"] = request
    later.run(ctx, folder, crl.CRL_STEPS)
    number = ctx.log.find("crl.issue")
    assert number is not None
    print(
        f"root CRL {number['payload']['crl']['number']} written to "
        f"{later.bundle.path('root/root-ca.crl')}"
    )
    return 0


def _cmd_script(args: argparse.Namespace) -> int:
    import hashlib

    from ceremony.config import ceremonyfile
    from ceremony.flow.scriptdoc import render_script
    from ceremony.media.atomic import write_new

    definition, data = ceremonyfile.load(args.ceremony)
    if args.out.exists():
        raise InputError(f"{args.out}: already exists; outputs are never overwritten")
    if not args.out.parent.is_dir():
        raise InputError(f"{args.out.parent}: no such folder")
    pdf = render_script(definition, data, args.kind, args.rehearsal)
    write_new(args.out, pdf)
    print(
        f"{args.kind} ceremony script written to {args.out}\n"
        f"SHA-256 {hashlib.sha256(pdf).hexdigest()}: the log records it when the ceremony opens"
    )
    return 0


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


COMMANDS = {
    "demo": _cmd_demo,
    "script": _cmd_script,
    "sign-csr": _cmd_sign_csr,
    "restore": _cmd_restore,
    "root": _cmd_root,
    "crl": _cmd_crl,
    "verify": _cmd_verify,
    "tokens": _cmd_tokens,
}


def run(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except CeremonyError as ex:
        print(f"error: {ex.message}", file=sys.stderr)
        return ex.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to resume", file=sys.stderr)
        return 3
    except OSError as ex:
        print(f"error: {ex.filename or 'file system'}: {ex.strerror or ex}", file=sys.stderr)
        return 3
    except Exception as ex:
        if os.environ.get("CEREMONY_DEBUG"):
            traceback.print_exc()
        print(f"error: internal fault {type(ex).__name__}: {ex}", file=sys.stderr)
        return 3


def main() -> NoReturn:
    sys.exit(run())
