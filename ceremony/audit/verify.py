"""The auditor's one-command check of an evidence bundle.

:func:`verify_bundle` returns one :class:`Check` per line of the report;
the bundle is valid when every check passed. Checks never raise on bad
evidence: what is wrong becomes a failed check naming the file and event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ceremony.audit.eventlog import check_chain, read_events
from ceremony.bundle import MANIFEST, REHEARSAL, ROOT_CERT, ROOT_CRL, Bundle
from ceremony.errors import CeremonyError
from ceremony.media.atomic import sha256_file
from ceremony.x509 import lint

CRL_RE = re.compile(r"^root-ca-(\d+)\.crl$")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


Checker = Callable[[Bundle], Iterator[Check]]


def _manifest(b: Bundle) -> Iterator[Check]:
    path = b.path(MANIFEST)
    if not path.exists():
        yield Check("manifest", False, f"{MANIFEST} is missing")
        return
    listed: dict[str, str] = {}
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        m = re.match(r"^([0-9a-f]{64})  (.+)$", line)
        if not m:
            yield Check("manifest", False, f"{MANIFEST} line {n} is malformed")
            continue
        listed[m.group(2)] = m.group(1)
    bad = 0
    for rel, digest in sorted(listed.items()):
        p = b.path(rel)
        if not p.is_file():
            bad += 1
            yield Check("manifest", False, f"{rel} is listed but missing")
        elif sha256_file(p) != digest:
            bad += 1
            yield Check("manifest", False, f"{rel} does not match its SHA-256 in {MANIFEST}")
    for _digest, rel in b.manifest_entries():
        if rel not in listed:
            bad += 1
            yield Check("manifest", False, f"{rel} is in the bundle but not in {MANIFEST}")
    if not bad:
        yield Check("manifest", True, f"{len(listed)} files match {MANIFEST}")


def _event_logs(b: Bundle) -> Iterator[Check]:
    folders = b.transcripts()
    if not folders:
        yield Check("event log", False, "no transcripts/*/events.jsonl in the bundle")
    for folder in folders:
        name = f"transcripts/{folder.name}/events.jsonl"
        try:
            events = list(read_events(folder / "events.jsonl"))
        except CeremonyError as ex:
            yield Check(name, False, ex.message)
            continue
        except FileNotFoundError:
            yield Check(name, False, "missing")
            continue
        problems = check_chain(events)
        for p in problems:
            yield Check(name, False, p)
        if problems:
            continue
        if not events or events[-1].get("step") != "ceremony.close":
            yield Check(name, False, "the ceremony was not closed (interrupted?)")
            continue
        yield Check(
            name, True, f"{len(events)} events, chain intact, head {events[-1]['hash'][:16]}"
        )
        yield from _artifacts(b, name, events)


def _artifacts(b: Bundle, name: str, events: list[dict[str, Any]]) -> Iterator[Check]:
    count = 0
    for e in events:
        payload = e.get("payload", {})
        for kind in ("inputs", "outputs"):
            for item in payload.get(kind, []):
                rel = item.get("path", "")
                p = b.path(rel)
                if not p.is_file():
                    yield Check(name, False, f"event {e['seq']}: {rel} is missing")
                elif sha256_file(p) != item.get("sha256"):
                    yield Check(name, False, f"event {e['seq']}: {rel} does not match its hash")
                else:
                    count += 1
    yield Check(f"{name} artifacts", True, f"{count} inputs and outputs match their hashes")


def _load_root(b: Bundle) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(b.path(ROOT_CERT).read_bytes())
    except (OSError, ValueError):
        return None


def _root(b: Bundle) -> Iterator[Check]:
    root = _load_root(b)
    if root is None:
        yield Check("root certificate", False, f"{ROOT_CERT} is missing or not a PEM certificate")
        return
    problems = []
    try:
        root.verify_directly_issued_by(root)
    except (InvalidSignature, ValueError, TypeError):
        problems.append("self-signature does not verify")
    ext = root.extensions
    try:
        bc = ext.get_extension_for_class(x509.BasicConstraints)
        if not (bc.critical and bc.value.ca):
            problems.append("basicConstraints must be critical with CA true")
    except x509.ExtensionNotFound:
        problems.append("basicConstraints missing")
    try:
        ku = ext.get_extension_for_class(x509.KeyUsage)
        if not (ku.critical and ku.value.key_cert_sign and ku.value.crl_sign):
            problems.append("keyUsage must be critical with keyCertSign and cRLSign")
    except x509.ExtensionNotFound:
        problems.append("keyUsage missing")
    try:
        ext.get_extension_for_class(x509.ExtendedKeyUsage)
        problems.append("a root must not carry extendedKeyUsage")
    except x509.ExtensionNotFound:
        pass
    try:
        ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        problems.append("subjectKeyIdentifier missing")
    problems += [f"lint {f}" for f in lint.blocking(lint.lint_certificate(root.public_bytes(_DER)))]
    for p in problems:
        yield Check("root certificate", False, p)
    if not problems:
        yield Check(
            "root certificate",
            True,
            f"self-signed, profile and lint pass: {root.subject.rfc4514_string()}",
        )


def _crls(b: Bundle) -> Iterator[Check]:
    root = _load_root(b)
    folder = b.path("root")
    numbered = (
        sorted(
            (int(m.group(1)), p)
            for p in folder.glob("root-ca-*.crl")
            if (m := CRL_RE.match(p.name))
        )
        if folder.is_dir()
        else []
    )
    if not numbered:
        yield Check("root CRL", False, "no root/root-ca-<number>.crl in the bundle")
        return
    expected = 1
    for number, path in numbered:
        name = f"root/{path.name}"
        try:
            crl = x509.load_der_x509_crl(path.read_bytes())
        except ValueError:
            yield Check(name, False, "not a DER CRL")
            continue
        problems = []
        if root is None or not crl.is_signature_valid(root.public_key()):  # type: ignore[arg-type]
            problems.append("signature does not verify with the root certificate")
        try:
            n = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            if n != number:
                problems.append(f"CRL number is {n}, the file name says {number}")
        except x509.ExtensionNotFound:
            problems.append("CRL number missing")
        if number != expected:
            problems.append(f"CRL number {expected} is missing before it")
        expected = number + 1
        problems += [f"lint {f}" for f in lint.blocking(lint.lint_crl(path.read_bytes()))]
        for p in problems:
            yield Check(name, False, p)
        if not problems:
            yield Check(name, True, f"signed by the root, CRL number {number}, {len(crl)} revoked")
    newest = numbered[-1][1]
    if not b.path(ROOT_CRL).is_file() or b.path(ROOT_CRL).read_bytes() != newest.read_bytes():
        yield Check("root CRL", False, f"{ROOT_CRL} is not the newest CRL (root/{newest.name})")
    else:
        yield Check("root CRL", True, f"{ROOT_CRL} is the newest CRL (number {numbered[-1][0]})")


def _issued(b: Bundle) -> Iterator[Check]:
    root = _load_root(b)
    folder = b.path("issued")
    outputs: dict[str, int] = {}
    for t in b.transcripts():
        try:
            for e in read_events(t / "events.jsonl"):
                for o in e.get("payload", {}).get("outputs", []):
                    outputs[o.get("path", "")] = outputs.get(o.get("path", ""), 0) + 1
        except (CeremonyError, OSError):
            continue
    for path in sorted(folder.glob("*.pem")) if folder.is_dir() else []:
        rel = f"issued/{path.name}"
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            yield Check(rel, False, "not a PEM certificate")
            continue
        try:
            assert root is not None
            cert.verify_directly_issued_by(root)
            chained = True
        except (AssertionError, InvalidSignature, ValueError, TypeError):
            chained = False
        seen = outputs.get(rel, 0)
        if not chained:
            yield Check(rel, False, "not signed by the bundle's root")
        elif seen != 1:
            yield Check(
                rel, False, f"named as output by {seen} ceremony events, expected exactly 1"
            )
        else:
            yield Check(
                rel, True, f"signed by the root, recorded once: {cert.subject.rfc4514_string()}"
            )


from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

_DER = Encoding.DER

CHECKERS: list[Checker] = [_manifest, _event_logs, _root, _crls, _issued]


def verify_bundle(root: Path, extra: list[Checker] | None = None) -> list[Check]:
    b = Bundle(Path(root))
    checks: list[Check] = []
    for checker in CHECKERS + (extra or []):
        checks.extend(checker(b))
    return checks


__all__ = ["CHECKERS", "REHEARSAL", "Check", "verify_bundle"]
