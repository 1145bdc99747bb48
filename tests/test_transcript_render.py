"""Transcript PDF: content, determinism, rendering of every page, attached log.

The sample ceremony below (software keys, fixed clock) is also used by the
signature tests in ``test_pdf_signature.py``. PNGs of every page land in
``artifacts/transcript/`` for a reviewer.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from ceremony.audit.eventlog import Actor, EventLog, canonical
from ceremony.audit.layout import MARGIN
from ceremony.audit.pdfverify import embedded_events
from ceremony.audit.transcript import Artifact, TranscriptInfo, render_transcript
from ceremony.audit.x509text import DOCUMENT_SIGNING, fingerprint
from ceremony.errors import InputError
from ceremony.media.atomic import sha256_file
from ceremony.pgpwords import words
from tests.helpers import ARTIFACTS, ROOT

T0 = datetime(2025, 1, 15, 9, 0, 0, tzinfo=UTC)
ADMIN = Actor("Alice Administrator", "ceremony administrator")
WITNESS = Actor("Walter Witness", "internal witness")
OFFICER_1 = Actor("Carol Custodian", "crypto officer")
OFFICER_2 = Actor("Dmitri Müller-Lüdenscheidt", "crypto officer")
PARTICIPANTS = (ADMIN, WITNESS, OFFICER_1, OFFICER_2)

STEPS: tuple[tuple[str, str, Actor], ...] = (
    ("preflight", "Check the air-gapped machine, the HSM and the tamper-evident bags", ADMIN),
    ("token.init", "Initialise the HSM token root-ca with PINs from the HSM RNG", ADMIN),
    ("activation.split", "Split the user PIN 3 of 5 and hand out the activation shares", ADMIN),
    ("root.keygen", "Generate the root key pair (ECDSA P-384) inside the HSM", OFFICER_1),
    ("root.certificate", "Lint, sign and re-lint the self-signed root certificate", ADMIN),
    ("backup.split", "Wrap the root key and split the backup key into SLIP-39 shares", ADMIN),
    ("backup.prove", "Each custodian re-enters randomly chosen words of their share", OFFICER_2),
    ("restore.drill", "Restore into a scratch token and prove it matches the root", ADMIN),
    ("crl.issue", "Issue the first root CRL", ADMIN),
    ("ceremony.close", "Close the ceremony; the witness countersigns the log head", WITNESS),
)


def clock(start: datetime = T0, step: timedelta = timedelta(minutes=3)) -> Callable[[], datetime]:
    ticks = itertools.count()
    return lambda: start + step * next(ticks)


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Trust Services"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_root(
    cn: str = "Example Root CA 2026",
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=25 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA384())
    )
    return key, cert


def issue(
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    public_key: CertificatePublicKeyTypes,
    cn: str,
    *,
    ca: bool,
    eku: tuple[x509.ObjectIdentifier, ...] = (DOCUMENT_SIGNING,),
    days: int = 5 * 365,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(root.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier("http://crl.example.test/root.crl")],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), True
        )
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    return builder.sign(root_key, hashes.SHA384())


def make_crl(
    root_key: ec.EllipticCurvePrivateKey, root: x509.Certificate, revoked: int
) -> x509.CertificateRevocationList:
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(revoked)
        .revocation_date(T0 + timedelta(minutes=20))
        .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), False)
        .build()
    )
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.subject)
        .last_update(T0 + timedelta(minutes=25))
        .next_update(T0 + timedelta(days=365))
        .add_extension(x509.CRLNumber(1), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .add_revoked_certificate(entry)
        .sign(root_key, hashes.SHA384())
    )


@dataclass(frozen=True)
class Sample:
    events: list[dict[str, Any]]
    log_bytes: bytes
    info: TranscriptInfo
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    intermediate: x509.Certificate
    crl: x509.CertificateRevocationList


def write_artifact(path: Path, data: bytes, direction: str, *summary: str) -> Artifact:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    rel = str(path.relative_to(path.parents[1]))
    return Artifact(rel, path.stat().st_size, sha256_file(path), direction, tuple(summary))


def make_sample(
    folder: Path, *, rehearsal: bool = True, ceremony_id: str = "ROOT-2026-001"
) -> Sample:
    """A complete root ceremony log, its certificates and files, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    root_key, root = make_root()
    inter_key = ec.generate_private_key(ec.SECP384R1())
    intermediate = issue(root_key, root, inter_key.public_key(), "Example Issuing CA 1", ca=True)
    crl = make_crl(root_key, root, revoked=0x1234ABCD)
    log_path = folder / "events.jsonl"
    log = EventLog(log_path, ceremony_id, "root", clock=clock())
    for n, (step, activity, actor) in enumerate(STEPS):
        payload: dict[str, object] = {"activity": activity}
        if step == "root.certificate":
            payload["outputs"] = {"root/root-ca.pem": fingerprint(root)}
        log.append(step, "step", actor, payload)
        if n == 2:
            log.append(
                "activation.split",
                "exception",
                WITNESS,
                {
                    "description": "Share card 4 printed with a smudged QR code; the "
                    "custodian could not scan it back. " * 2,
                    "remediation": "Card destroyed in front of the witness and reprinted.",
                },
            )
    root_pem = root.public_bytes(serialization.Encoding.PEM)
    artifacts = (
        write_artifact(
            folder / "media" / "ceremony.toml", b"[ceremony]\nkind = 'root'\n" * 10, "input"
        ),
        write_artifact(
            folder / "root" / "root-ca.pem",
            root_pem,
            "output",
            f"subject {root.subject.rfc4514_string()}",
            f"SHA-256 fingerprint {fingerprint(root)}",
        ),
        write_artifact(
            folder
            / "issued"
            / "example-issuing-ca-1-with-a-rather-long-file-name-for-wrapping.pem",
            intermediate.public_bytes(serialization.Encoding.PEM),
            "output",
        ),
        write_artifact(
            folder / "root" / "root-ca.crl", crl.public_bytes(serialization.Encoding.DER), "output"
        ),
    )
    info = TranscriptInfo(
        kind="root",
        ceremony_id=ceremony_id,
        place="Vault B, Example Trust Services, Zürich",
        software_version="0.1.0",
        software_sha256=hashlib.sha256(b"ceremony-0.1.0.whl").hexdigest(),
        ceremony_file_sha256=artifacts[0].sha256,
        participants=PARTICIPANTS,
        rehearsal=rehearsal,
        artifacts=artifacts,
        certificates=(root, intermediate),
        crls=(crl,),
    )
    return Sample(log.events, log_path.read_bytes(), info, root_key, root, intermediate, crl)


def pdf_text(pdf: Path, *args: str) -> str:
    return subprocess.run(
        ["pdftotext", *args, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    match = re.search(r"^Pages:\s+(\d+)", info.stdout, re.M)
    assert match, info.stdout
    return int(match.group(1))


def render_pages(pdf: Path, folder: Path) -> list[Path]:
    """Render every page with pdftoppm into ``folder`` (emptied first); return the PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(folder / "page")], check=True)
    return sorted(folder.glob("page-*.png"))


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    return make_sample(tmp_path)


def test_same_log_gives_identical_bytes(sample: Sample, tmp_path: Path) -> None:
    first = render_transcript(sample.events, sample.info, sample.log_bytes)
    make_sample(tmp_path / "other")  # other documents rendered in between change nothing
    second = render_transcript(sample.events, sample.info, sample.log_bytes)
    assert first == second
    assert first.startswith(b"%PDF-")
    assert b"D:20250115093000" in first  # creation date: the last event's time


CROSS_PROCESS = """
import hashlib, sys, tempfile
from datetime import timedelta
from pathlib import Path
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from ceremony.audit.cps import CpsFacts, HsmInfo, KeyGeneration, Quorum, render_cps_appendix
from ceremony.audit.eventlog import EventLog
from ceremony.audit.transcript import Artifact, TranscriptInfo, render_transcript
from tests.test_transcript_render import PARTICIPANTS, STEPS, T0, clock, name

key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
root = (
    x509.CertificateBuilder().subject_name(name("Ed Root")).issuer_name(name("Ed Root"))
    .public_key(key.public_key()).serial_number(7)
    .not_valid_before(T0).not_valid_after(T0 + timedelta(days=3650))
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    .sign(key, None)
)
with tempfile.TemporaryDirectory() as d:
    log = EventLog(Path(d) / "events.jsonl", "X-1", "root", clock=clock())
    for step, activity, actor in STEPS:
        log.append(step, "step", actor, {"activity": activity})
    info = TranscriptInfo(
        "root", "X-1", "Zürich", "0.1.0", "a" * 64, "b" * 64, PARTICIPANTS, True,
        (Artifact("root/root-ca.pem", 1, "c" * 64),), (root,),
    )
    transcript = render_transcript(log.events, info)
hsm = HsmInfo("SoftHSM project", "SoftHSM v2", "1", "2.6")
facts = CpsFacts(
    "Ed", root, (), None, (), (Quorum("activation", 2, 3),),
    KeyGeneration("X-1", T0, hsm, "root", ("W",)), (), None, (), T0, "0.1.0",
)
cps = render_cps_appendix(facts)
print(hashlib.sha256(transcript).hexdigest(), hashlib.sha256(cps).hexdigest())
"""


def test_bytes_do_not_depend_on_the_process() -> None:
    digests = set()
    for seed in ("1", "2"):
        p = subprocess.run(
            [sys.executable, "-c", CROSS_PROCESS],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=False,
        )
        assert p.returncode == 0, p.stderr
        digests.add(p.stdout)
    assert len(digests) == 1, digests


def test_transcript_shows_everything_and_renders_every_page(sample: Sample, tmp_path: Path) -> None:
    pdf = tmp_path / "transcript.pdf"
    pdf.write_bytes(render_transcript(sample.events, sample.info, sample.log_bytes))
    raw = squeeze(pdf_text(pdf, "-raw"))
    for p in PARTICIPANTS:
        assert squeeze(p.name) in raw and squeeze(p.role) in raw
    for step, activity, _ in STEPS:
        assert step in raw
        assert squeeze(activity) in raw
    for a in sample.info.artifacts:
        assert a.sha256 in raw, a.path
        assert squeeze(a.path) in raw
        assert f"{a.direction}{squeeze(a.path)}" in raw
    for obj in (sample.root, sample.intermediate, sample.crl):
        assert fingerprint(obj) in raw
    for e in sample.events:
        assert e["hash"] in raw
    assert squeeze(words(bytes.fromhex(sample.info.ceremony_file_sha256))) in raw
    assert "smudgedQRcode" in raw and "Carddestroyedinfrontofthewitness" in raw
    assert "Sign-off" in raw and "Timezone" in raw
    assert "Zürich" in raw

    pages = page_count(pdf)
    assert pages >= 5
    for n in range(1, pages + 1):
        assert "REHEARSAL" in pdf_text(pdf, "-f", str(n), "-l", str(n)), f"page {n}"
    pngs = render_pages(pdf, ARTIFACTS / "transcript")
    assert len(pngs) == pages
    assert all(p.stat().st_size > 5000 for p in pngs)


def assert_within_margins(pdf: Path) -> None:
    """Every word lies between the left and right page margins (nothing overflows)."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    page = re.search(r'<page width="([\d.]+)"', html)
    assert page is not None
    width = float(page.group(1))
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<'
    seen = 0
    for m in re.finditer(pattern, html):
        x_min, y_min, x_max, y_max = (float(g) for g in m.groups()[:4])
        if y_max - y_min > 30:
            continue  # the diagonal REHEARSAL watermark
        seen += 1
        assert x_min >= MARGIN - 1 and x_max <= width - MARGIN + 1, (m.group(5), x_min, x_max)
    assert seen > 300


def test_no_text_leaves_the_printable_area(sample: Sample, tmp_path: Path) -> None:
    pdf = tmp_path / "transcript.pdf"
    pdf.write_bytes(render_transcript(sample.events, sample.info, sample.log_bytes))
    assert_within_margins(pdf)


def test_nothing_is_drawn_past_the_side_margins(sample: Sample, tmp_path: Path) -> None:
    """Table rules and shading end at the margins (the page frame's padding counted)."""
    from PIL import Image

    pdf = tmp_path / "transcript.pdf"
    pdf.write_bytes(render_transcript(sample.events, sample.info, sample.log_bytes))
    dpi = 144
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(tmp_path / "p")])
    pages = sorted(tmp_path.glob("p-*.png"))
    assert pages
    for png in pages:
        with Image.open(png) as img:
            gray = img.convert("L")
            width, height = gray.size
            edge = round(MARGIN * dpi / 72) + 1  # one pixel of anti-aliasing
            for x in [*range(0, edge - 1), *range(width - edge + 1, width)]:
                column = gray.crop((x, 0, x + 1, height))
                assert column.getextrema()[0] > 200, (png.name, x)


def test_final_hash_qr_code_decodes(sample: Sample, tmp_path: Path) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    pdf = tmp_path / "transcript.pdf"
    pdf.write_bytes(render_transcript(sample.events, sample.info, sample.log_bytes))
    pngs = render_pages(pdf, tmp_path / "pages")
    found = set()
    for png in pngs:
        with Image.open(png) as img:
            found |= {r.text for r in zxingcpp.read_barcodes(img)}
    assert sample.events[-1]["hash"] in found


def test_attached_log_is_the_file(sample: Sample) -> None:
    pdf = render_transcript(sample.events, sample.info, sample.log_bytes)
    assert embedded_events(pdf) == sample.log_bytes


def test_attached_log_defaults_to_canonical_serialisation(sample: Sample) -> None:
    pdf = render_transcript(sample.events, sample.info)
    assert embedded_events(pdf) == sample.log_bytes
    assert sample.log_bytes == b"".join(canonical(e) + b"\n" for e in sample.events)


def test_real_ceremony_has_no_rehearsal_marking(tmp_path: Path) -> None:
    real = make_sample(tmp_path, rehearsal=False)
    pdf = tmp_path / "transcript.pdf"
    pdf.write_bytes(render_transcript(real.events, real.info, real.log_bytes))
    assert "REHEARSAL" not in pdf_text(pdf)


def test_refuses_a_broken_chain(sample: Sample) -> None:
    events = [dict(e) for e in sample.events]
    events[3]["payload"] = {"activity": "something else"}
    with pytest.raises(InputError, match="event 4: content does not match"):
        render_transcript(events, sample.info)


def test_refuses_an_empty_log(sample: Sample) -> None:
    with pytest.raises(InputError, match="empty"):
        render_transcript([], sample.info)


def test_refuses_attached_bytes_of_another_log(sample: Sample) -> None:
    with pytest.raises(InputError, match="does not hold the rendered events"):
        render_transcript(sample.events, sample.info, sample.log_bytes.splitlines(True)[0])


def test_refuses_events_of_another_ceremony(sample: Sample) -> None:
    with pytest.raises(InputError, match="belongs to ceremony"):
        render_transcript(sample.events, replace(sample.info, ceremony_id="ROOT-2026-002"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("software_sha256", "ABC", "software_sha256"),
        ("ceremony_file_sha256", "0" * 63, "ceremony_file_sha256"),
        ("participants", (), "participant"),
    ],
)
def test_info_validates_eagerly(sample: Sample, field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(sample.info, **{field: value})


def test_artifact_validates_eagerly() -> None:
    with pytest.raises(ValueError, match="direction"):
        Artifact("a", 1, "0" * 64, "sideways")
    with pytest.raises(ValueError, match="sha256"):
        Artifact("a", 1, "0" * 40)
