"""PAdES signatures made in a real SoftHSM2 token; checked by poppler's pdfsig and pyHanko.

Each test gets a fresh token (the ``hsm`` fixture) holding the transcript-signing
key; the root is a software key, which is fine for these tests.
"""

from __future__ import annotations

import io
import re
import subprocess
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.pdf_utils import embed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from ceremony.audit.cps import render_cps_appendix
from ceremony.audit.pdfsign import PdfSigner, sign_pdf
from ceremony.audit.pdfverify import embedded_events, validate_pdf
from ceremony.audit.transcript import render_transcript
from ceremony.errors import HsmError, InputError, PolicyError
from ceremony.hsm.keys import KeyAlgorithm, generate_keypair, public_key
from ceremony.hsm.module import Hsm, pin_text
from tests.test_pdf_cps import make_facts
from tests.test_transcript_render import T0, Sample, issue, make_crl, make_root, make_sample

LABEL = "transcripts"
KEY = "transcript-signer"
SIGNED_AT = T0 + timedelta(minutes=31)


@dataclass(frozen=True)
class Setup:
    hsm: Hsm
    signer: PdfSigner
    sample: Sample
    pdf: bytes


def make_setup(hsm: Hsm, tmp_path: Path, algorithm: KeyAlgorithm) -> Setup:
    pin = pin_text(hsm.init_token(LABEL).user_secret)
    with hsm.session(LABEL, pin) as session:
        ref = generate_keypair(session, KEY, algorithm, extractable=False)
        hsm_key = public_key(session, ref)
    sample = make_sample(tmp_path / "ceremony")
    cert = issue(sample.root_key, sample.root, hsm_key, "Transcript Signer", ca=False)
    signer = PdfSigner(
        module=hsm.module_path,
        token_label=LABEL,
        user_pin=pin,
        key_label=KEY,
        certificate=cert,
        chain=(sample.root,),
    )
    pdf = render_transcript(sample.events, sample.info, sample.log_bytes)
    return Setup(hsm, signer, sample, pdf)


@pytest.fixture
def setup(hsm: Hsm, tmp_path: Path) -> Setup:
    return make_setup(hsm, tmp_path, KeyAlgorithm.ECDSA_P384)


def at_signing_time() -> datetime:
    return SIGNED_AT


def pdfsig(path: Path) -> str:
    p = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
    return p.stdout + p.stderr


def poppler_says_valid(report: str) -> bool:
    return bool(
        re.search(r"^\s*- Signature Validation: Signature is Valid\.?$", report, re.M)
        and re.search(r"^\s*- Total document signed$", report, re.M)
    )


@pytest.mark.parametrize(
    "algorithm",
    [KeyAlgorithm.ECDSA_P384, KeyAlgorithm.ECDSA_P256, KeyAlgorithm.RSA_3072],
)
def test_signed_transcript_is_valid_for_poppler_and_pyhanko(
    hsm: Hsm, tmp_path: Path, algorithm: KeyAlgorithm
) -> None:
    s = make_setup(hsm, tmp_path, algorithm)
    signed = sign_pdf(s.pdf, s.signer, clock=at_signing_time)
    path = tmp_path / "transcript.pdf"
    path.write_bytes(signed)

    report = pdfsig(path)
    assert poppler_says_valid(report), report
    assert "Signature Type: ETSI.CAdES.detached" in report
    assert validate_pdf(path, s.sample.root) == []
    during_crl = T0 + timedelta(hours=1)
    assert validate_pdf(signed, s.sample.root, crls=[s.sample.crl], at=during_crl) == []
    assert embedded_events(path) == s.sample.log_bytes


def test_signed_cps_appendix_is_valid(setup: Setup, tmp_path: Path) -> None:
    facts = replace(make_facts(), root=setup.sample.root)
    path = tmp_path / "cps-appendix.pdf"
    path.write_bytes(sign_pdf(render_cps_appendix(facts), setup.signer))
    assert poppler_says_valid(pdfsig(path))
    assert validate_pdf(path, setup.sample.root) == []


def test_signing_time_comes_from_the_clock(setup: Setup) -> None:
    signed = sign_pdf(setup.pdf, setup.signer, clock=at_signing_time)
    sig = PdfFileReader(io.BytesIO(signed)).embedded_regular_signatures[0]
    assert sig.self_reported_timestamp == SIGNED_AT


def test_sign_through_an_open_session(setup: Setup) -> None:
    with setup.hsm.session(LABEL, setup.signer.user_pin) as session:
        signed = sign_pdf(setup.pdf, replace(setup.signer, user_pin="unused"), session=session)
    assert validate_pdf(signed, setup.sample.root) == []


def test_a_flipped_byte_is_reported(setup: Setup, tmp_path: Path) -> None:
    signed = bytearray(sign_pdf(setup.pdf, setup.signer))
    at = signed.index(b"Key ceremony transcript")
    signed[at] ^= 0x20  # "key ceremony transcript": still a well-formed PDF
    path = tmp_path / "flipped.pdf"
    path.write_bytes(bytes(signed))
    problems = validate_pdf(path, setup.sample.root)
    assert any("signed bytes were changed" in p for p in problems), problems
    assert not poppler_says_valid(pdfsig(path))


def test_an_incremental_update_after_signing_is_reported(setup: Setup, tmp_path: Path) -> None:
    signed = sign_pdf(setup.pdf, setup.signer)
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    forged = setup.sample.log_bytes.replace(b"Walter Witness", b"Mallory Mole  ")
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string="events.jsonl",
            embedded_data=embed.EmbeddedFileObject.from_file_data(writer, forged),
        ),
    )
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    path = tmp_path / "updated.pdf"
    path.write_bytes(out.getvalue())
    problems = validate_pdf(path, setup.sample.root)
    assert any("changed after signing" in p for p in problems), problems
    assert "Total document signed" not in pdfsig(path).replace("Not total", "")


def test_a_signature_under_another_root_is_reported(setup: Setup) -> None:
    signed = sign_pdf(setup.pdf, setup.signer)
    _, other_root = make_root("Some Other Root")
    problems = validate_pdf(signed, other_root)
    assert any("does not chain to the given root" in p for p in problems), problems


def test_a_revoked_signer_is_reported(setup: Setup) -> None:
    s = setup.sample
    crl = make_crl(s.root_key, s.root, revoked=setup.signer.certificate.serial_number)
    signed = sign_pdf(setup.pdf, setup.signer)
    problems = validate_pdf(signed, s.root, crls=[crl], at=T0 + timedelta(hours=1))
    assert any("revoked" in p for p in problems), problems


@pytest.mark.parametrize("eku", [(), (ExtendedKeyUsageOID.CODE_SIGNING,)])
def test_a_signer_without_document_signing_eku_is_reported(
    setup: Setup, eku: tuple[x509.ObjectIdentifier, ...]
) -> None:
    s = setup.sample
    key = setup.signer.certificate.public_key()
    cert = issue(s.root_key, s.root, key, "Not A Doc Signer", ca=False, eku=eku)
    signed = sign_pdf(setup.pdf, replace(setup.signer, certificate=cert))
    problems = validate_pdf(signed, s.root)
    assert any("documentSigning" in p for p in problems), problems


def test_unsigned_and_unreadable_documents_are_reported(setup: Setup, tmp_path: Path) -> None:
    root = setup.sample.root
    assert any("no digital signature" in p for p in validate_pdf(setup.pdf, root))
    assert any("not a readable PDF" in p for p in validate_pdf(b"%PDF-1.7 nonsense", root))
    assert any("cannot be read" in p for p in validate_pdf(tmp_path / "missing.pdf", root))
    assert embedded_events(b"not a pdf") is None


def test_wrong_pin_is_an_hsm_error_that_never_shows_the_pin(setup: Setup) -> None:
    wrong = "0123456789abcdef" * 2
    bad = replace(setup.signer, user_pin=wrong)
    with pytest.raises(HsmError, match="wrong PIN") as info:
        sign_pdf(setup.pdf, bad)
    for text in (str(info.value), repr(bad), repr(setup.signer)):
        assert wrong not in text and setup.signer.user_pin not in text


def test_unknown_token_or_key_is_an_hsm_error(setup: Setup) -> None:
    with pytest.raises(HsmError, match="token 'nope'"):
        sign_pdf(setup.pdf, replace(setup.signer, token_label="nope"))
    with pytest.raises(HsmError, match="no-such-key"):
        sign_pdf(setup.pdf, replace(setup.signer, key_label="no-such-key"))


def test_a_certificate_for_another_key_is_refused(setup: Setup) -> None:
    s = setup.sample
    foreign = issue(
        s.root_key,
        s.root,
        ec.generate_private_key(ec.SECP384R1()).public_key(),
        "Foreign",
        ca=False,
    )
    with pytest.raises(HsmError, match="does not verify"):
        sign_pdf(setup.pdf, replace(setup.signer, certificate=foreign))


def test_not_a_pdf_is_refused(setup: Setup) -> None:
    with pytest.raises(InputError, match="not readable"):
        sign_pdf(b"plain text", setup.signer)


def test_an_eddsa_signing_key_is_refused(hsm: Hsm, tmp_path: Path) -> None:
    s = make_setup(hsm, tmp_path, KeyAlgorithm.ED25519)
    with pytest.raises(PolicyError, match="must be ECDSA or RSA"):
        sign_pdf(s.pdf, s.signer)
