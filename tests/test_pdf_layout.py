"""Layout of the signed documents: no identifier, role or serial split inside a word, and the
REHEARSAL watermark under the text, never over it."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

from ceremony.audit import layout


def _raw(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def _split_inside(token: str, text: str) -> list[str]:
    """Places where ``token`` was broken across lines other than after a hyphen."""
    found = []
    for k in range(1, len(token)):
        if token[k - 1] == "-":
            continue
        if f"{token[:k]}\n{token[k:]}" in text:
            found.append(f"{token[:k]}|{token[k:]}")
    return found


def _tokens(bundle: Path) -> set[str]:
    out: set[str] = set()
    for log in bundle.glob("transcripts/*/events.jsonl"):
        for line in log.read_text().splitlines():
            e = json.loads(line)
            out |= {e["step"], f"({e['actor']['role']})"}
    out |= {p.name for p in bundle.glob("issued/*.pem")}
    return out


def test_no_step_role_or_file_name_is_split_inside_a_word(bundle_copy: Path) -> None:
    tokens = _tokens(bundle_copy)
    assert "(ceremony-administrator)" in tokens and "signer.certificate" in tokens
    for pdf in [
        *bundle_copy.glob("transcripts/*/transcript.pdf"),
        bundle_copy / "cps/cps-appendix.pdf",
    ]:
        text = _raw(pdf)
        broken = [b for t in sorted(tokens) for b in _split_inside(t, text)]
        assert not broken, (pdf.name, broken)


def test_unbroken_width_holds_the_widest_word() -> None:
    st = layout.styles()
    from reportlab.pdfbase.pdfmetrics import stringWidth

    w = layout.unbroken_width(["a (ceremony-administrator)", "b"], st.cell)
    assert w == stringWidth("(ceremony-administrator)", st.cell.fontName, st.cell.fontSize) + 7


def test_the_rehearsal_watermark_lies_under_every_page(bundle_copy: Path) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    for pdf in [
        *bundle_copy.glob("transcripts/*/transcript.pdf"),
        bundle_copy / "cps/cps-appendix.pdf",
    ]:
        reader = PdfFileReader(io.BytesIO(pdf.read_bytes()))
        for number in range(len(reader.root["/Pages"]["/Kids"])):
            page = reader.root["/Pages"]["/Kids"][number]
            contents = page["/Contents"]
            parts = contents if isinstance(contents, list) else [contents]
            data = b"".join(p.data for p in parts)
            fonts = [m.group(1) for m in re.finditer(rb" (\d+(?:\.\d+)?) Tf", data)]
            assert fonts and fonts[0] == b"96", (pdf.name, number + 1, fonts[:3])
            assert fonts.count(b"96") == 1


def _serial(pem: Path) -> str:
    from cryptography import x509

    from ceremony.x509.serial import serial_text

    return serial_text(x509.load_pem_x509_certificate(pem.read_bytes()).serial_number)


def test_the_cps_marks_a_revoked_intermediate_and_a_superseded_signer(
    bundle_copy: Path, tmp_path: Path
) -> None:
    from tests.helpers import run_cli

    def cps() -> str:
        return re.sub(r"\s+", "", _raw(bundle_copy / "cps/cps-appendix.pdf"))

    intermediate = _serial(bundle_copy / "issued/sample-intermediate.pem")
    assert "revoked:" not in cps() and "superseded:" not in cps()
    r = run_cli("crl", bundle_copy, "--revoke", intermediate, "--reason", "key-compromise")
    assert r.returncode == 0, r.stderr
    assert "revoked:" in cps() and "keyCompromise(CRL2)" in cps()
    shares = tmp_path / "shares.txt"
    lines = (bundle_copy / "rehearsal/backup-shares.txt").read_text().splitlines()
    shares.write_text("\n".join(lines[:3]) + "\n")
    r = run_cli("restore", bundle_copy, "--shares", shares, "--to-token", "root-ca-2")
    assert r.returncode == 0, r.stderr
    assert "superseded:" in cps() and "signsdocuments" in cps()
    assert "ExampleRehearsalIssuingCA1·REVOKED" in cps()
    assert "ExampleRehearsalTranscriptSigner·SUPERSEDED" in cps()
    assert run_cli("verify", bundle_copy).returncode == 0
