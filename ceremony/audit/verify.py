"""The auditor's one-command check of an evidence bundle.

:func:`verify_report` returns one :class:`Check` per line of the report, the
bundle's head and whether it is a rehearsal; the bundle is valid when every
check passed. Checks never raise on bad evidence: what is wrong becomes a
failed check naming the file and event. Every file is read through
:class:`~ceremony.audit.bundlefiles.BundleFiles` (inside the bundle, regular,
size-capped).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.audit.bundlefiles import KIB, MIB, BundleFiles, UnsafeFile, safe_relative
from ceremony.audit.eventlog import check_chain
from ceremony.audit.record import (
    Ceremony,
    Head,
    Signer,
    current_signer,
    parse_log,
    recorded_crls,
    signers,
)
from ceremony.errors import InputError

MANIFEST = "SHA256SUMS"
CEREMONY_FILE = "ceremony.toml"
ROOT_CERT = "root/root-ca.pem"
ROOT_CRL = "root/root-ca.crl"
BACKUP_WRAPPED = "backup/root-key.wrapped"
BACKUP_FACTS = "backup/backup.json"
CPS = "cps/cps-appendix.pdf"
REHEARSAL = "rehearsal"
TRANSCRIPT = "transcript.pdf"
EVENTS = "events.jsonl"
FOLDER_RE = re.compile(r"^(\d{3})-([a-z-]+)$")
CRL_RE = re.compile(r"^root-ca-(\d+)\.crl$")

CAP_TEXT = 16 * MIB
CAP_LOG = 32 * MIB
CAP_CERT = 64 * KIB
CAP_CRL = 16 * MIB
CAP_SMALL = 64 * KIB
CAP_PDF = 64 * MIB

REHEARSAL_LINE = "REHEARSAL: this bundle is a rehearsal, not the record of a real ceremony"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    note: bool = False
    """Not a pass or a failure: something the check could not establish."""

    def line(self) -> str:
        status = "note" if self.note else "ok  " if self.ok else "FAIL"
        return f"{status}  {self.name}: {self.detail}"


@dataclass
class Evidence:
    """The bundle as verify sees it: its files, its logs, its trust anchor."""

    files: BundleFiles
    anchor: x509.Certificate | None
    """The root to trust: ``--root`` when given, else the bundle's own."""
    ceremonies: list[Ceremony] = field(default_factory=list)
    log_problems: dict[str, str] = field(default_factory=dict)
    """Transcript folder -> why its log could not be read."""
    pinned: bool = False

    def read(self, rel: str, cap: int) -> bytes:
        return self.files.read(rel, cap)

    def certificate(self, rel: str) -> x509.Certificate:
        """The PEM certificate at ``rel``; raises UnsafeFile naming the file otherwise."""
        try:
            return x509.load_pem_x509_certificate(self.read(rel, CAP_CERT))
        except ValueError:
            raise UnsafeFile(f"{rel}: not a PEM certificate") from None

    def crl(self, rel: str) -> x509.CertificateRevocationList:
        try:
            return x509.load_der_x509_crl(self.read(rel, CAP_CRL))
        except ValueError:
            raise UnsafeFile(f"{rel}: not a DER CRL") from None

    def ceremony(self, number: int) -> Ceremony | None:
        return next((c for c in self.ceremonies if c.number == number), None)


Checker = Callable[[Evidence], Iterator[Check]]


def _load(root: Path, anchor_pem: bytes | None) -> tuple[Evidence, list[Check]]:
    files = BundleFiles.walk(root)
    checks: list[Check] = []
    own: x509.Certificate | None = None
    try:
        own = x509.load_pem_x509_certificate(files.read(ROOT_CERT, CAP_CERT))
    except (UnsafeFile, ValueError):
        own = None
    anchor = own
    pinned = False
    if anchor_pem is not None:
        pinned = True
        anchor = x509.load_pem_x509_certificate(anchor_pem)
        if own is None or own.public_bytes(Encoding.DER) != anchor.public_bytes(Encoding.DER):
            checks.append(
                Check(
                    "root certificate",
                    False,
                    f"{ROOT_CERT} is not the root given with --root "
                    f"(SHA-256 {_fp(anchor)}); this bundle is under another root",
                )
            )
    ev = Evidence(files, anchor, pinned=pinned)
    for folder in sorted(
        f for f in files.folders if f.count("/") == 1 and f.startswith("transcripts/")
    ):
        m = FOLDER_RE.match(folder.split("/", 1)[1])
        if not m:
            continue
        rel = f"{folder}/{EVENTS}"
        try:
            parsed = parse_log(ev.read(rel, CAP_LOG))
        except UnsafeFile as ex:
            parsed = ex.message
        if isinstance(parsed, str):
            ev.log_problems[folder] = parsed
            parsed = []
        ev.ceremonies.append(Ceremony(int(m.group(1)), m.group(2), folder, tuple(parsed)))
    return ev, checks


def _fp(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _files(ev: Evidence) -> Iterator[Check]:
    """Nothing in the bundle that is not a plain file or folder."""
    for rel, what in ev.files.special:
        yield Check(rel, False, f"is {what}; a bundle holds only plain files (not opened)")
    if ev.files.truncated:
        yield Check("bundle", False, f"not walked completely: {ev.files.truncated}")


def _manifest(ev: Evidence) -> Iterator[Check]:
    try:
        text = ev.read(MANIFEST, CAP_TEXT).decode("utf-8")
    except UnsafeFile as ex:
        yield Check("manifest", False, ex.message)
        return
    except UnicodeDecodeError:
        yield Check("manifest", False, f"{MANIFEST} is not UTF-8 text")
        return
    listed: dict[str, str] = {}
    bad = 0
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^([0-9a-f]{64})  (.+)$", line)
        if not m:
            bad += 1
            yield Check("manifest", False, f"{MANIFEST} line {n} is malformed")
            continue
        rel = m.group(2)
        if safe_relative(rel) is None:
            bad += 1
            yield Check(
                "manifest",
                False,
                f"{MANIFEST} line {n} names {rel!r}, not a normalised path inside the bundle",
            )
            continue
        listed[rel] = m.group(1)
    for rel, digest in sorted(listed.items()):
        try:
            actual = ev.files.sha256(rel)
        except UnsafeFile as ex:
            bad += 1
            yield Check("manifest", False, f"{ex.message} (listed in {MANIFEST})")
            continue
        if actual != digest:
            bad += 1
            yield Check("manifest", False, f"{rel} does not match its SHA-256 in {MANIFEST}")
    for rel in sorted(ev.files.files):
        if rel == MANIFEST or rel.split("/")[0] == REHEARSAL or rel in listed:
            continue
        bad += 1
        yield Check("manifest", False, f"{rel} is in the bundle but not in {MANIFEST}")
    if not bad:
        yield Check("manifest", True, f"{len(listed)} files match {MANIFEST}")


def _event_logs(ev: Evidence) -> Iterator[Check]:
    if not ev.ceremonies:
        yield Check("event log", False, "no transcripts/NNN-kind/events.jsonl in the bundle")
    for c in ev.ceremonies:
        name = f"{c.folder}/{EVENTS}"
        if c.folder in ev.log_problems:
            yield Check(name, False, ev.log_problems[c.folder])
            continue
        problems = check_chain(list(c.events), str(c.events[0].get("prev", "")))  # type: ignore[arg-type]
        for p in problems:
            yield Check(name, False, p)
        if problems:
            continue
        if not c.closed:
            yield Check(name, False, "the ceremony was not closed (interrupted?)")
            continue
        yield Check(name, True, f"{len(c.events)} events, chain intact, head {c.final_hash[:16]}")
        yield from _artifacts(ev, name, c)


def _artifacts(ev: Evidence, name: str, c: Ceremony) -> Iterator[Check]:
    count, bad = 0, False
    for e, item in c.inputs() + c.outputs():
        rel = str(item.get("path", ""))
        if safe_relative(rel) is None:
            bad = True
            yield Check(
                name, False, f"event {e.get('seq')}: {rel!r} is not a path inside the bundle"
            )
            continue
        try:
            digest = ev.files.sha256(rel)
        except UnsafeFile as ex:
            bad = True
            yield Check(name, False, f"event {e.get('seq')}: {ex.message}")
            continue
        if digest != item.get("sha256"):
            bad = True
            yield Check(name, False, f"event {e.get('seq')}: {rel} does not match its hash")
        else:
            count += 1
    if not bad:
        yield Check(f"{name} artifacts", True, f"{count} inputs and outputs match their hashes")


KINDS = ("root", "sign-csr", "crl", "recovery")


def _chain(ev: Evidence) -> Iterator[Check]:
    """One chain across the bundle: folders 001..n, each named as its ceremony, each log
    opening on the final hash of the one before."""
    name = "ceremony chain"
    problems: list[str] = []
    for folder in sorted(ev.files.folders | {f for f in ev.files.files}):
        parts = folder.split("/")
        if len(parts) == 2 and parts[0] == "transcripts":
            m = FOLDER_RE.match(parts[1])
            if folder in ev.files.files or not m or m.group(2) not in KINDS:
                problems.append(f"{folder} is not a ceremony folder (NNN-kind)")
    try:
        definition = ev.read(CEREMONY_FILE, CAP_SMALL * 4)
    except UnsafeFile as ex:
        problems.append(ex.message)
        definition = None
    suffix = hashlib.sha256(definition).hexdigest()[:8] if definition is not None else None
    previous: Ceremony | None = None
    for expected, c in enumerate(ev.ceremonies, 1):
        if c.number != expected:
            problems.append(
                f"{c.folder}: ceremony {expected:03d} is missing before it (numbers must be"
                " contiguous)"
            )
        if expected == 1 and c.kind != "root":
            problems.append(f"{c.folder}: the first ceremony of a bundle is its root ceremony")
        if not c.events:
            previous = c
            continue
        want_id = f"{c.name}-{suffix}" if suffix is not None else None
        stray = next(
            (
                e
                for e in c.events
                if (want_id is not None and e.get("ceremony") != want_id) or e.get("kind") != c.kind
            ),
            None,
        )
        if stray is not None:
            problems.append(
                f"{c.folder}: event {stray.get('seq')} belongs to ceremony"
                f" {stray.get('ceremony')!r} ({stray.get('kind')}), not to this folder's"
                f" {want_id!r} ({c.kind}): a folder renumbered, renamed or moved"
            )
        problems += _link(ev, c, previous)
        previous = c
    for p in problems:
        yield Check(name, False, p)
    if not problems and ev.ceremonies:
        yield Check(
            name,
            True,
            f"{len(ev.ceremonies)} ceremonies 001 to {len(ev.ceremonies):03d}, each folder named as"
            " its ceremony, each log opening on the final hash of the one before",
        )


def _link(ev: Evidence, c: Ceremony, previous: Ceremony | None) -> list[str]:
    from ceremony.audit.eventlog import GENESIS

    first = c.events[0]
    opened = c.first("ceremony.open")
    recorded = (opened.get("payload") or {}).get("previous") if opened is not None else None
    if previous is None:
        if first.get("prev") != GENESIS:
            return [f"{c.folder}: the first ceremony's log must start from the all-zero hash"]
        return []
    if first.get("prev") != previous.final_hash:
        return [
            f"{c.folder}: its first event does not link to the final event of {previous.name}"
            " (a ceremony removed, reordered or rewritten)"
        ]
    if not isinstance(recorded, Mapping):
        return [f"{c.folder}: its opening event does not record the previous ceremony"]
    problems = []
    if (recorded.get("ceremony"), recorded.get("number"), recorded.get("final_hash")) != (
        previous.ceremony_id,
        previous.number,
        previous.final_hash,
    ):
        problems.append(f"{c.folder}: its opening event names another previous ceremony")
    rel = f"{previous.folder}/{TRANSCRIPT}"
    try:
        if ev.files.sha256(rel, CAP_PDF) != recorded.get("transcript_sha256"):
            problems.append(f"{rel} is not the transcript {c.name} recorded when it opened")
    except UnsafeFile as ex:
        problems.append(ex.message)
    return problems


def _evidence(ev: Evidence) -> Iterator[Check]:
    """Every ceremony's evidence facts: software, HSM library, attendance, shares presented."""
    from ceremony.audit.facts import problems

    threshold: int | None = None
    for c in ev.ceremonies:
        if not c.events:
            continue
        found = problems(c.events, threshold, real=not c.rehearsal)
        for p in found:
            yield Check(f"{c.folder} evidence", False, p)
        if not found:
            yield Check(
                f"{c.folder} evidence",
                True,
                "software, HSM library, attendance and shares presented recorded and consistent",
            )
        for e in c.steps("token.init"):
            activation = (e.get("payload") or {}).get("activation")
            if isinstance(activation, Mapping) and isinstance(activation.get("threshold"), int):
                threshold = activation["threshold"]


def _root(ev: Evidence) -> Iterator[Check]:
    from ceremony.x509 import lint

    try:
        root = ev.certificate(ROOT_CERT)
    except UnsafeFile as ex:
        yield Check("root certificate", False, ex.message)
        return
    problems = []
    try:
        root.verify_directly_issued_by(root)
    except (InvalidSignature, ValueError, TypeError):
        problems.append("self-signature does not verify")
    try:
        ext = root.extensions
    except ValueError:
        yield Check("root certificate", False, "its extensions cannot be parsed")
        return
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
    problems += [
        f"lint {f}" for f in lint.blocking(lint.lint_certificate(root.public_bytes(Encoding.DER)))
    ]
    for p in problems:
        yield Check("root certificate", False, p)
    if not problems:
        pinned = ", the root given with --root" if ev.pinned else ""
        yield Check(
            "root certificate",
            True,
            f"self-signed, profile and lint pass{pinned}: {root.subject.rfc4514_string()}",
        )


STRUCTURAL = (MANIFEST, "VERIFYING.txt", CPS, ROOT_CRL)
"""Files no event names: the manifest, the guide, the CPS appendix (signed, listing the
transcripts), the copy of the newest CRL (checked against it)."""


def _unrecorded(ev: Evidence) -> Iterator[Check]:
    """No file outside rehearsal/ that no recorded event produced."""
    known = set(STRUCTURAL)
    for c in ev.ceremonies:
        known |= {f"{c.folder}/{EVENTS}", f"{c.folder}/{TRANSCRIPT}"}
        known |= {str(item.get("path", "")) for _e, item in c.outputs() + c.inputs()}
    stray = [
        rel for rel in sorted(ev.files.files) if rel.split("/")[0] != REHEARSAL and rel not in known
    ]
    for rel in stray:
        yield Check(rel, False, "no ceremony of this bundle recorded this file")
    if not stray:
        yield Check(
            "recorded files", True, "every file outside rehearsal/ was produced by a recorded event"
        )


def _rehearsal(ev: Evidence) -> Iterator[Check]:
    """A real bundle never holds rehearsal/, and every ceremony says the same."""
    marks = {c.rehearsal for c in ev.ceremonies if c.first("ceremony.open") is not None}
    present = REHEARSAL in ev.files.folders or ev.files.is_file(REHEARSAL)
    if len(marks) > 1:
        yield Check(
            "rehearsal", False, "some ceremonies are recorded as rehearsals, others as real"
        )
    elif marks == {False} and present:
        yield Check(
            "rehearsal",
            False,
            f"the ceremonies are recorded as real, yet the bundle holds {REHEARSAL}/"
            " (rehearsal secrets have no place in a real bundle)",
        )


def _guide(ev: Evidence) -> Iterator[Check]:
    """The bundle carries VERIFYING.txt, the way to check it without this tool."""
    from ceremony.audit.guide import GUIDE_NAME, verifying_text

    if not ev.ceremonies:
        return
    if GUIDE_NAME not in ev.files.files:
        yield Check(GUIDE_NAME, False, "missing: how to check the bundle without this tool")
    elif ev.read(GUIDE_NAME, CAP_SMALL) == verifying_text():
        yield Check(GUIDE_NAME, True, "how to check the bundle without this tool")
    else:
        yield Check(
            GUIDE_NAME,
            True,
            "not the text this version writes (another version wrote it): compare its"
            " commands with the checks above before relying on them",
        )


def _recorded_outputs(ev: Evidence) -> dict[str, list[tuple[int, str]]]:
    """Bundle path -> (ceremony number, step) of every event that names it as output."""
    out: dict[str, list[tuple[int, str]]] = {}
    for c in ev.ceremonies:
        for e, item in c.outputs():
            out.setdefault(str(item.get("path", "")), []).append((c.number, str(e.get("step"))))
    return out


def _crls(ev: Evidence) -> Iterator[Check]:
    from ceremony.x509 import lint

    numbered = sorted(
        (int(m.group(1)), rel)
        for rel in ev.files.under("root", ".crl")
        if (m := CRL_RE.match(rel.split("/")[-1]))
    )
    if not numbered:
        yield Check("root CRL", False, "no root/root-ca-<number>.crl in the bundle")
        return
    expected = 1
    for number, rel in numbered:
        try:
            data = ev.read(rel, CAP_CRL)
            crl = x509.load_der_x509_crl(data)
        except UnsafeFile as ex:
            yield Check(rel, False, ex.message)
            continue
        except ValueError:
            yield Check(rel, False, "not a DER CRL")
            continue
        problems = []
        if ev.anchor is None or not crl.is_signature_valid(ev.anchor.public_key()):  # type: ignore[arg-type]
            problems.append("signature does not verify with the root certificate")
        try:
            n = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            if n != number:
                problems.append(f"CRL number is {n}, the file name says {number}")
        except x509.ExtensionNotFound:
            problems.append("CRL number missing")
        except ValueError:
            problems.append("its extensions cannot be parsed")
        if number != expected:
            problems.append(f"CRL number {expected} is missing before it")
        expected = number + 1
        problems += [f"lint {f}" for f in lint.blocking(lint.lint_crl(data))]
        for p in problems:
            yield Check(rel, False, p)
        if not problems:
            yield Check(rel, True, f"signed by the root, CRL number {number}, {len(crl)} revoked")
    newest = numbered[-1][1]
    try:
        same = ev.read(ROOT_CRL, CAP_CRL) == ev.read(newest, CAP_CRL)
    except UnsafeFile:
        same = False
    if not same:
        yield Check("root CRL", False, f"{ROOT_CRL} is not the newest CRL ({newest})")
    else:
        yield Check("root CRL", True, f"{ROOT_CRL} is the newest CRL (number {numbered[-1][0]})")


def _issued(ev: Evidence) -> Iterator[Check]:
    outputs = _recorded_outputs(ev)
    for rel in ev.files.under("issued", ".pem"):
        try:
            cert = ev.certificate(rel)
        except UnsafeFile as ex:
            yield Check(rel, False, ex.message)
            continue
        try:
            assert ev.anchor is not None
            cert.verify_directly_issued_by(ev.anchor)
            chained = True
        except (AssertionError, InvalidSignature, ValueError, TypeError):
            chained = False
        seen = len(outputs.get(rel, []))
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


def _spki_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _backup(ev: Evidence) -> Iterator[Check]:
    try:
        facts = json.loads(ev.read(BACKUP_FACTS, CAP_SMALL))
    except UnsafeFile as ex:
        yield Check(BACKUP_FACTS, False, f"{ex.message}: the root ceremony makes an M-of-N backup")
        return
    except (ValueError, UnicodeDecodeError):
        yield Check(BACKUP_FACTS, False, "not valid backup facts (not JSON)")
        return
    try:
        problems = []
        root = ev.anchor
        if (
            root is not None
            and facts["root_spki_sha256"] != hashlib.sha256(_spki_der(root)).hexdigest()
        ):
            problems.append("root_spki_sha256 is not the root certificate's key")
        if facts.get("method") == "hsm-native":
            yield from _native_backup(ev, facts, problems)
            return
        try:
            wrapped_ok = ev.files.sha256(BACKUP_WRAPPED, CAP_SMALL) == facts["wrapped_sha256"]
        except UnsafeFile:
            wrapped_ok = False
        if not wrapped_ok:
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


def _native_backup(ev: Evidence, facts: dict[str, Any], problems: list[str]) -> Iterator[Check]:
    """An hsm-native backup: the facts name the device, and no wrapped copy of the key exists."""
    for key in ("device", "device_serial", "procedure_sha256"):
        if not isinstance(facts.get(key), str) or not facts[key]:
            problems.append(f"{key} missing")
    holders = facts.get("credential_holders")
    if not isinstance(holders, list) or not holders:
        problems.append("credential_holders missing")
    if ev.files.is_file(BACKUP_WRAPPED):
        problems.append(f"{BACKUP_WRAPPED} exists beside an hsm-native backup")
    root = next((c for c in ev.ceremonies if c.kind == "root"), None)
    born = root.first("root.key") if root is not None else None
    attrs = _key_attributes(born)
    if attrs.get("CKA_EXTRACTABLE") is not False or attrs.get("CKA_NEVER_EXTRACTABLE") is not True:
        problems.append(
            "the root ceremony does not record the root key generated non-extractable"
            " (CKA_EXTRACTABLE false, CKA_NEVER_EXTRACTABLE true)"
        )
    drill = root.first("backup.drill") if root is not None else None
    proof = drill.get("payload", {}).get("drill", {}) if drill is not None else {}
    if (
        not isinstance(proof, Mapping)
        or proof.get("signature_verified_with_root_certificate") is not True
    ):
        problems.append("the root ceremony records no restore drill on the backup device")
    for problem in problems:
        yield Check(BACKUP_FACTS, False, problem)
    if not problems:
        yield Check(
            BACKUP_FACTS,
            True,
            f"hsm-native backup on {facts['device']} (serial {facts['device_serial']}),"
            f" credentials held by {', '.join(map(str, holders or ()))}",
        )


def _key_attributes(event: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The attributes a key step recorded as read back from the HSM (empty if none)."""
    payload = event.get("payload") if event is not None else None
    key = payload.get("key") if isinstance(payload, Mapping) else None
    attrs = key.get("attributes") if isinstance(key, Mapping) else None
    return attrs if isinstance(attrs, Mapping) else {}


def _revocations(ev: Evidence, upto: int | None) -> dict[int, tuple[int, int, str]]:
    """Serial -> (CRL number, ceremony, reason) from the root CRLs recorded up to ``upto``.

    Only CRLs that verify under the trust anchor count.
    """
    out: dict[int, tuple[int, int, str]] = {}
    if ev.anchor is None:
        return out
    for number, rel in recorded_crls(ev.ceremonies, upto):
        try:
            crl = ev.crl(rel)
            if not crl.is_signature_valid(ev.anchor.public_key()):  # type: ignore[arg-type]
                continue
            crl_number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except (UnsafeFile, ValueError, x509.ExtensionNotFound):
            continue
        for entry in crl:
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
            except (x509.ExtensionNotFound, ValueError):
                reason = "unspecified"
            out.setdefault(entry.serial_number, (crl_number, number, reason))
    return out


def _describe(cert: x509.Certificate) -> str:
    from ceremony.x509.serial import serial_text

    return (
        f"{cert.subject.rfc4514_string()} (serial {serial_text(cert.serial_number)},"
        f" SHA-256 {_fp(cert)})"
    )


def signer_problems(
    ev: Evidence,
    label: str,
    cert: x509.Certificate,
    allowed: Signer | None,
    upto: int | None,
    at: datetime | None,
) -> list[str]:
    """Why ``cert`` may not sign this document: not the bundle's signer, expired, revoked."""
    fp = _fp(cert)
    if allowed is None:
        return [f"{label}: signed by {_describe(cert)}; no ceremony recorded a transcript signer"]
    problems = []
    if fp != allowed.fingerprint:
        earlier = next((s for s in signers(ev.ceremonies) if s.fingerprint == fp), None)
        if earlier is None:
            return [
                f"{label}: signed by {_describe(cert)}, which is not a transcript signer this"
                " bundle recorded"
            ]
        problems.append(
            f"{label}: signed by the transcript signer of ceremony {earlier.ceremony:03d}"
            f" ({earlier.path}), replaced by ceremony {allowed.ceremony:03d}'s ({allowed.path})"
        )
    if at is not None and not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        problems.append(f"{label}: the signer certificate was not valid at {at:%Y-%m-%dT%H:%M:%SZ}")
    revoked = _revocations(ev, upto).get(cert.serial_number)
    if revoked is not None:
        crl_number, ceremony, reason = revoked
        problems.append(
            f"{label}: the signer {_describe(cert)} was revoked ({reason}) by root CRL"
            f" {crl_number} of ceremony {ceremony:03d}"
        )
    return problems


def _pdf_problems(ev: Evidence, rel: str, number: int | None, at: datetime | None) -> list[str]:
    """Signature of a bundle PDF: to the anchor, by the signer current at ceremony ``number``."""
    from ceremony.audit.pdfverify import check_pdf

    assert ev.anchor is not None
    data = ev.read(rel, CAP_PDF)
    result = check_pdf(data, rel, ev.anchor, at=at)
    problems = list(result.problems)
    allowed = current_signer(ev.ceremonies, number if number is not None else 10**9)
    for sig in result.signatures:
        problems += sig.problems
        if sig.signer is not None:
            problems += signer_problems(ev, sig.label, sig.signer, allowed, number, at)
        if at is not None and sig.signed_at is not None and sig.signed_at != at:
            problems.append(
                f"{sig.label}: claims signing time {sig.signed_at:%Y-%m-%dT%H:%M:%SZ}, the"
                f" record says {at:%Y-%m-%dT%H:%M:%SZ}"
            )
    return problems


def _documents(ev: Evidence) -> Iterator[Check]:
    """Every transcript PDF: signed by the signer of its time, embedded log equals events.jsonl."""
    from ceremony.audit.pdfverify import embedded_events

    if ev.anchor is None:
        return
    for c in ev.ceremonies:
        rel = f"{c.folder}/{TRANSCRIPT}"
        if not ev.files.is_file(rel):
            yield Check(rel, False, "missing: every closed ceremony has a signed transcript")
            continue
        at = c.close_time if c.closed else None
        try:
            problems = _pdf_problems(ev, rel, c.number, at)
            embedded = embedded_events(ev.read(rel, CAP_PDF))
            log = ev.read(f"{c.folder}/{EVENTS}", CAP_LOG)
        except UnsafeFile as ex:
            yield Check(rel, False, ex.message)
            continue
        if embedded is None:
            problems.append("no embedded events.jsonl")
        elif embedded != log:
            problems.append("the embedded event log differs from events.jsonl")
        for problem in problems:
            yield Check(rel, False, problem)
        if not problems:
            signer = current_signer(ev.ceremonies, c.number)
            assert signer is not None
            yield Check(
                rel,
                True,
                f"signed by the bundle's transcript signer {signer.path}; embedded log matches",
            )


def _cps(ev: Evidence) -> Iterator[Check]:
    """The CPS appendix: signature, and its fingerprints against the files."""
    from ceremony.audit.pdfverify import embedded_file
    from ceremony.audit.x509text import fingerprint

    if ev.anchor is None:
        return
    if not ev.files.is_file(CPS):
        yield Check(CPS, False, "missing")
        return
    times = [c.close_time for c in ev.ceremonies if c.close_time is not None]
    try:
        problems = _pdf_problems(ev, CPS, None, max(times, default=None))
        attached = embedded_file(ev.read(CPS, CAP_PDF), "fingerprints.json")
    except UnsafeFile as ex:
        yield Check(CPS, False, ex.message)
        return
    if attached is None:
        problems.append("no embedded fingerprints.json")
    else:
        try:
            doc = json.loads(attached)
            assert isinstance(doc, dict)
        except (ValueError, UnicodeDecodeError, AssertionError):
            doc = {}
            problems.append("the embedded fingerprints.json is not a JSON object")
        files = {}
        for rel in [ROOT_CERT, *ev.files.under("issued", ".pem")]:
            try:
                files[fingerprint(ev.certificate(rel))] = rel
            except UnsafeFile:
                continue
        listed = [c for c in doc.get("certificates", []) if isinstance(c, Mapping)]
        for c in listed:
            if c.get("sha256") not in files:
                problems.append(f"fingerprint of {c.get('subject')} matches no certificate file")
        if len(listed) != len(files):
            problems.append("the appendix does not list every certificate of the bundle")
        crl = doc.get("crl")
        if isinstance(crl, Mapping) and ev.files.is_file(ROOT_CRL):
            try:
                if crl.get("sha256") != fingerprint(ev.crl(ROOT_CRL)):
                    problems.append("the CRL fingerprint does not match root/root-ca.crl")
            except UnsafeFile as ex:
                problems.append(ex.message)
        for t in doc.get("transcripts", []):
            if not isinstance(t, Mapping):
                continue
            rel = str(t.get("path", ""))
            try:
                ok = safe_relative(rel) is not None and ev.files.sha256(rel) == t.get("sha256")
            except UnsafeFile:
                ok = False
            if not ok:
                problems.append(f"transcript {rel} does not match its listed SHA-256")
    for problem in problems:
        yield Check(CPS, False, problem)
    if not problems:
        yield Check(
            CPS, True, "signature valid; fingerprints match the certificates, CRL and transcripts"
        )


CHECKERS: list[Checker] = [
    _files,
    _rehearsal,
    _manifest,
    _event_logs,
    _chain,
    _unrecorded,
    _guide,
    _evidence,
    _root,
    _crls,
    _issued,
    _backup,
    _documents,
    _cps,
]


@dataclass(frozen=True)
class Report:
    """What ``ceremony verify`` prints: the checks, the head, the rehearsal mark."""

    checks: list[Check]
    head: Head | None = None
    rehearsal: bool = False

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def lines(self, quiet: bool = False) -> list[str]:
        out = [REHEARSAL_LINE] if self.rehearsal else []
        out += [c.line() for c in self.checks if not quiet or not c.ok or c.note]
        if self.head is not None:
            out += self.head.lines()
            out.append(
                "compare the root fingerprint with the one read aloud at the root ceremony,"
                " and the head with the one you kept from the last ceremony"
            )
        passed = sum(1 for c in self.checks if c.ok and not c.note)
        out.append(f"{passed} passed, {len(self.failed)} failed")
        if self.rehearsal:
            out.append(REHEARSAL_LINE)
        return out


def _head(ev: Evidence) -> Head | None:
    if ev.anchor is None or not ev.ceremonies:
        return None
    return Head(len(ev.ceremonies), ev.ceremonies[-1].final_hash, _fp(ev.anchor))


def parse_head(text: str) -> str:
    """An ``--expect-head`` value: 64 hex digits (spaces and colons allowed)."""
    cleaned = "".join(text.split()).replace(":", "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", cleaned):
        raise InputError(f"--expect-head {text!r}: not a final event hash (64 hexadecimal digits)")
    return cleaned


def _expect_head(ev: Evidence, expected: str) -> Iterator[Check]:
    name = "expected head"
    if not ev.ceremonies:
        yield Check(name, False, "the bundle has no ceremony")
        return
    last = ev.ceremonies[-1]
    if last.final_hash == expected:
        yield Check(name, True, f"the bundle ends at the expected head (ceremony {last.name})")
        return
    earlier = next((c for c in ev.ceremonies if c.final_hash == expected), None)
    if earlier is not None:
        added = ", ".join(c.name for c in ev.ceremonies if c.number > earlier.number)
        yield Check(
            name,
            False,
            f"the bundle is ahead of the expected head: that is the end of {earlier.name};"
            f" added since: {added}",
        )
    else:
        yield Check(
            name,
            False,
            "the expected head is not in this bundle: the bundle is behind it (rolled back,"
            f" ceremonies removed) or another bundle; it ends at {last.name} {last.final_hash}",
        )


def verify_report(
    bundle: Path,
    *,
    root_pem: bytes | None = None,
    expect_head: str | None = None,
    extra: list[Checker] | None = None,
) -> Report:
    """Verify the bundle at ``bundle``; ``root_pem`` pins the trust anchor (``--root``),
    ``expect_head`` the final event hash the auditor kept (:func:`parse_head`)."""
    ev, checks = _load(Path(bundle), root_pem)
    for checker in CHECKERS + (extra or []):
        checks.extend(checker(ev))
    if expect_head is not None:
        checks.extend(_expect_head(ev, expect_head))
    rehearsal = ev.files.is_file(REHEARSAL) or REHEARSAL in ev.files.folders
    rehearsal = rehearsal or any(c.rehearsal for c in ev.ceremonies)
    return Report(checks, _head(ev), rehearsal)


def verify_bundle(root: Path, extra: list[Checker] | None = None) -> list[Check]:
    return verify_report(root, extra=extra).checks


def read_input(path: Path, cap: int, what: str) -> bytes:
    """A file named on the command line: regular, at most ``cap`` bytes, else refused."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as ex:
        raise InputError(f"{path}: cannot be read: {ex.strerror or ex}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: not a regular file; not a {what}")
        if st.st_size > cap:
            raise InputError(f"{path}: larger than {cap} bytes; not a {what}")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(cap + 1)
    except OSError as ex:
        raise InputError(f"{path}: cannot be read: {ex.strerror or ex}") from None
    finally:
        os.close(fd)
    if len(data) > cap:
        raise InputError(f"{path}: larger than {cap} bytes; not a {what}")
    return data


def read_root_pem(path: Path) -> bytes:
    """The ``--root`` file, refused with an input error unless it is one PEM certificate."""
    data = read_input(path, CAP_CERT, "root certificate")
    try:
        x509.load_pem_x509_certificate(data)
    except ValueError:
        raise InputError(f"{path}: not a PEM certificate") from None
    return data


def verify_pdf(
    pdf: Path,
    root_pem: Path | None,
    *,
    signer: str | None = None,
    bundle: Path | None = None,
) -> list[Check]:
    """``ceremony verify --pdf FILE``: one signed document, against ``--root`` and
    either the signer's fingerprint (``--signer``) or the bundle that recorded it."""
    from ceremony.audit.pdfverify import MAX_PDF, check_pdf

    data = read_input(pdf, MAX_PDF, "signed PDF")
    pinned = read_root_pem(root_pem) if root_pem is not None else None
    if bundle is not None:
        ev, checks = _load(bundle, pinned)
        if ev.anchor is None:
            raise InputError(f"{bundle}: has no readable {ROOT_CERT}; give --root")
        if checks:
            return checks
    else:
        assert pinned is not None
        ev, checks = Evidence(BundleFiles(Path(".")), x509.load_pem_x509_certificate(pinned)), []
    root = ev.anchor
    assert root is not None
    name = str(pdf)
    result = check_pdf(data, name, root)
    problems = result.all_problems()
    notes = []
    for sig in result.signatures:
        if sig.signer is None:
            continue
        fp = _fp(sig.signer)
        if bundle is not None:
            recorded = [s for s in signers(ev.ceremonies) if s.fingerprint == fp]
            if not recorded:
                problems.append(
                    f"{sig.label}: signed by {_describe(sig.signer)}, which is not a transcript"
                    f" signer {bundle} recorded"
                )
            else:
                problems += signer_problems(
                    ev, sig.label, sig.signer, recorded[-1], None, sig.signed_at
                )
        elif signer is not None:
            wanted = signer.lower().replace(":", "").strip()
            if fp != wanted:
                problems.append(
                    f"{sig.label}: signed by {_describe(sig.signer)}, not by the signer"
                    f" {wanted} given with --signer"
                )
    if bundle is None:
        if signer is None:
            notes.append(
                "not checked: that the signer is the transcript signer the bundle recorded"
                " (give --signer SHA256 or the bundle folder)"
            )
        notes.append(
            "not checked: whether the signer was revoked, and whether it was the signer of"
            " the ceremony's time (give the bundle folder)"
        )
    checks = [Check(name, False, p) for p in problems]
    if not problems:
        who = result.signatures[-1].signer if result.signatures else None
        checks.append(
            Check(
                name,
                True,
                f"signature valid, chains to {root.subject.rfc4514_string()}"
                + (f"; signer {_describe(who)}" if who is not None else ""),
            )
        )
    checks += [Check(name, True, n, note=True) for n in notes]
    return checks


__all__ = [
    "CHECKERS",
    "REHEARSAL",
    "Check",
    "Report",
    "verify_bundle",
    "verify_pdf",
    "verify_report",
]
