"""The auditor's one-command check of an evidence bundle.

:func:`verify_bundle` returns one :class:`Check` per line of the report;
the bundle is valid when every check passed. Checks never raise on bad
evidence: what is wrong becomes a failed check naming the file and event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ceremony.audit.eventlog import check_chain, read_events
from ceremony.bundle import (
    BACKUP_FACTS,
    BACKUP_WRAPPED,
    CPS,
    MANIFEST,
    REHEARSAL,
    ROOT_CERT,
    ROOT_CRL,
    Bundle,
)
from ceremony.errors import CeremonyError, InputError
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


def _event_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _crl_objects(b: Bundle) -> list[x509.CertificateRevocationList]:
    out = []
    for p in sorted(b.path("root").glob("root-ca-*.crl")) if b.path("root").is_dir() else []:
        try:
            out.append(x509.load_der_x509_crl(p.read_bytes()))
        except ValueError:
            continue
    return out


def _documents(b: Bundle) -> Iterator[Check]:
    """Every transcript PDF: signature to the bundle's root, embedded log equals events.jsonl."""
    from ceremony.audit.pdfverify import embedded_events, validate_pdf

    root = _load_root(b)
    if root is None:
        return
    for folder in b.transcripts():
        rel = f"transcripts/{folder.name}/transcript.pdf"
        pdf = folder / "transcript.pdf"
        if not pdf.exists():
            yield Check(rel, False, "missing: every closed ceremony has a signed transcript")
            continue
        try:
            events = list(read_events(folder / "events.jsonl"))
            at = _event_time(events[-1]["time"])
        except (CeremonyError, OSError, IndexError, KeyError, ValueError):
            at = None
        problems = validate_pdf(pdf, root, at=at)
        embedded = embedded_events(pdf)
        if embedded is None:
            problems.append("no embedded events.jsonl")
        elif (folder / "events.jsonl").exists() and embedded != (
            folder / "events.jsonl"
        ).read_bytes():
            problems.append("the embedded event log differs from events.jsonl")
        for problem in problems:
            yield Check(rel, False, problem)
        if not problems:
            yield Check(rel, True, "signature valid to the bundle's root; embedded log matches")


def _cps(b: Bundle) -> Iterator[Check]:
    """The CPS appendix: signature, and its fingerprints against the files."""
    import json

    from ceremony.audit.pdfverify import embedded_file, validate_pdf
    from ceremony.audit.x509text import fingerprint

    root = _load_root(b)
    pdf = b.path(CPS)
    if root is None:
        return
    if not pdf.exists():
        yield Check(CPS, False, "missing")
        return
    problems = validate_pdf(pdf, root, at=_newest_event_time(b))
    attached = embedded_file(pdf, "fingerprints.json")
    if attached is None:
        problems.append("no embedded fingerprints.json")
    else:
        doc = json.loads(attached)
        files = {}
        for p in [b.path(ROOT_CERT), *sorted(b.path("issued").glob("*.pem"))]:
            if p.is_file():
                files[fingerprint(x509.load_pem_x509_certificate(p.read_bytes()))] = p.name
        for c in doc.get("certificates", []):
            if c.get("sha256") not in files:
                problems.append(f"fingerprint of {c.get('subject')} matches no certificate file")
        if len(doc.get("certificates", [])) != len(files):
            problems.append("the appendix does not list every certificate of the bundle")
        crl = doc.get("crl")
        if crl and b.path(ROOT_CRL).is_file():
            if crl.get("sha256") != fingerprint(x509.load_der_x509_crl(b.read(ROOT_CRL))):
                problems.append("the CRL fingerprint does not match root/root-ca.crl")
        for t in doc.get("transcripts", []):
            p = b.path(t.get("path", ""))
            if not p.is_file() or sha256_file(p) != t.get("sha256"):
                problems.append(f"transcript {t.get('path')} does not match its listed SHA-256")
    for problem in problems:
        yield Check(CPS, False, problem)
    if not problems:
        yield Check(
            CPS, True, "signature valid; fingerprints match the certificates, CRL and transcripts"
        )


def _newest_event_time(b: Bundle) -> datetime | None:
    times = []
    for folder in b.transcripts():
        try:
            events = list(read_events(folder / "events.jsonl"))
            times.append(_event_time(events[-1]["time"]))
        except (CeremonyError, OSError, IndexError, KeyError, ValueError):
            continue
    return max(times, default=None)


def _backup(b: Bundle) -> Iterator[Check]:
    import hashlib
    import json

    from ceremony.hsm.signers import spki_der

    if not b.path(BACKUP_FACTS).exists():
        yield Check(BACKUP_FACTS, False, "missing: the root ceremony makes an M-of-N backup")
        return
    try:
        facts = json.loads(b.path(BACKUP_FACTS).read_bytes())
        problems = []
        root = _load_root(b)
        if (
            root is not None
            and facts["root_spki_sha256"]
            != hashlib.sha256(
                spki_der(root.public_key())  # type: ignore[arg-type]
            ).hexdigest()
        ):
            problems.append("root_spki_sha256 is not the root certificate's key")
        wrapped = b.path(BACKUP_WRAPPED)
        if not wrapped.is_file() or sha256_file(wrapped) != facts["wrapped_sha256"]:
            problems.append(f"{BACKUP_WRAPPED} does not match wrapped_sha256")
        if not 1 <= int(facts["threshold"]) <= int(facts["shares"]) <= 16:
            problems.append("threshold and share count out of range")
        if not re.fullmatch(r"[0-9a-f]{16}", str(facts["check_value"])):
            problems.append("check_value is not 8 bytes of hex")
    except (ValueError, KeyError, TypeError):
        problems = ["not valid backup facts"]
    for problem in problems:
        yield Check(BACKUP_FACTS, False, problem)
    if not problems:
        yield Check(
            BACKUP_FACTS,
            True,
            f"{facts['threshold']} of {facts['shares']} shares, set {facts['set_id']}, "
            f"wrapped key matches, check value {facts['check_value']}",
        )


from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

_DER = Encoding.DER

CHECKERS: list[Checker] = [_manifest, _event_logs, _root, _crls, _issued, _backup, _documents, _cps]


def verify_pdf(pdf: Path, root_pem: Path) -> list[Check]:
    """``ceremony verify --pdf FILE --root ROOT.pem``: one signed document on its own."""
    from ceremony.audit.pdfverify import validate_pdf

    try:
        root = x509.load_pem_x509_certificate(root_pem.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{root_pem}: file not found") from None
    except ValueError:
        raise InputError(f"{root_pem}: not a PEM certificate") from None
    if not pdf.is_file():
        raise InputError(f"{pdf}: file not found")
    problems = validate_pdf(pdf, root)
    if not problems:
        return [
            Check(str(pdf), True, f"signature valid, chains to {root.subject.rfc4514_string()}")
        ]
    return [Check(str(pdf), False, p) for p in problems]


def verify_bundle(root: Path, extra: list[Checker] | None = None) -> list[Check]:
    b = Bundle(Path(root))
    checks: list[Check] = []
    for checker in CHECKERS + (extra or []):
        checks.extend(checker(b))
    return checks


__all__ = ["CHECKERS", "REHEARSAL", "Check", "verify_bundle"]
