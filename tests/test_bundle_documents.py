"""The bundle's signed PDFs as an auditor checks them: pdfsig, pyHanko, and ceremony verify."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from pyhanko.pdf_utils.generic import TextStringObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from ceremony.audit.pdfverify import validate_pdf
from tests.helpers import run_cli

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts/bundle"


def _pdfs(bundle: Path) -> list[Path]:
    return [*sorted(bundle.glob("transcripts/*/transcript.pdf")), bundle / "cps/cps-appendix.pdf"]


def test_every_document_is_valid_for_pdfsig_and_pyhanko(demo_bundle: Path) -> None:
    root = x509.load_pem_x509_certificate((demo_bundle / "root/root-ca.pem").read_bytes())
    for pdf in _pdfs(demo_bundle):
        out = subprocess.run(["pdfsig", pdf], capture_output=True, text=True).stdout
        assert "Signature Validation: Signature is Valid." in out, (pdf, out)
        assert "Total document signed" in out, (pdf, out)
        assert validate_pdf(pdf, root) == [], pdf


def test_transcript_text_names_participants_steps_and_hashes(demo_bundle: Path) -> None:
    import json

    folder = demo_bundle / "transcripts/001-root"
    text = subprocess.run(
        ["pdftotext", "-layout", folder / "transcript.pdf", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # the REHEARSAL watermark's capital letters land between text lines wherever the layout
    # puts them; hashes and step names are lower case
    flat = "".join(c for c in "".join(text.split()) if not c.isupper())
    for name in ("Ada Administrator", "Wim Witness", "Custodian 5"):
        assert name in text
    for line in (folder / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["event"] == "step":
            assert e["step"] in flat
        for item in e["payload"].get("outputs", []):
            assert item["sha256"] in flat, item["path"]
    root = x509.load_pem_x509_certificate((demo_bundle / "root/root-ca.pem").read_bytes())
    from cryptography.hazmat.primitives import hashes

    fp = root.fingerprint(hashes.SHA256()).hex()
    assert fp in flat.lower().replace(":", "")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for pdf in _pdfs(demo_bundle):
        stem = pdf.parent.name if pdf.name == "transcript.pdf" else "cps"
        subprocess.run(["pdftoppm", "-r", "50", "-png", pdf, ARTIFACTS / stem], check=True)
    assert any(ARTIFACTS.glob("001-root-*.png"))


@pytest.mark.parametrize("which", ["transcripts/001-root/transcript.pdf", "cps/cps-appendix.pdf"])
def test_byte_flip_in_a_signed_pdf_fails_verify(bundle_copy: Path, which: str) -> None:
    pdf = bundle_copy / which
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x20
    pdf.write_bytes(bytes(data))
    r = run_cli("verify", bundle_copy)
    assert r.returncode == 1
    assert any(line.startswith("FAIL") and which in line for line in r.stdout.splitlines())


def test_incremental_update_after_signing_fails_verify(bundle_copy: Path) -> None:
    import io

    pdf = bundle_copy / "transcripts/001-root/transcript.pdf"
    w = IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()))
    w.root["/Lang"] = TextStringObject("xx")
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    pdf.write_bytes(out.getvalue())
    r = run_cli("verify", bundle_copy)
    assert r.returncode == 1
    assert "transcripts/001-root/transcript.pdf" in "".join(
        line for line in r.stdout.splitlines() if line.startswith("FAIL")
    )


def test_verify_pdf_alone_and_against_a_foreign_root(
    demo_bundle: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pdf = demo_bundle / "cps/cps-appendix.pdf"
    r = run_cli("verify", "--pdf", pdf, "--root", demo_bundle / "root/root-ca.pem")
    assert r.returncode == 0, r.stdout
    other = tmp_path_factory.mktemp("foreign") / "bundle"
    assert run_cli("demo", "--out", other).returncode == 0
    r = run_cli("verify", "--pdf", pdf, "--root", other / "root/root-ca.pem")
    assert r.returncode == 1
    shutil.rmtree(other)


def test_an_issued_certificate_missing_from_every_log_fails_verify(bundle_copy: Path) -> None:
    shutil.copy(bundle_copy / "issued/sample-intermediate.pem", bundle_copy / "issued/stray.pem")
    r = run_cli("verify", bundle_copy)
    assert r.returncode == 1
    assert "issued/stray.pem: named as output by 0 ceremony events" in r.stdout
