"""Only the transcript signer the bundle itself recorded may sign its documents.

The attack: an insider who operates an intermediate the root signed (and so
holds its key) mints a leaf with the transcript signer's EKUs, rewrites the
last ceremony's log, re-renders its transcript and the CPS appendix with the
product's own renderer and signs both with that leaf. The signatures are
valid to the root for pyHanko; verify must still refuse them, naming the
signer. poppler (NSS) must trust the genuine signer under the root alone and
refuse the forged one, whose issuer carries the default TLS-only EKU.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from ceremony.audit.cps import render_cps_appendix
from ceremony.audit.pdfverify import validate_pdf
from ceremony.bundle import Bundle
from ceremony.flow.ceremonies import load_definition
from ceremony.flow.documents import cps_facts, transcript_pdf
from ceremony.hsm.module import SoftHsmHome
from tests.helpers import run_cli
from tests.insider import (
    csr_with_own_key,
    mint_document_signer,
    nss_database,
    pdfsig_trust,
    read_log,
    rewrite_manifest,
    sign_with_software_key,
    write_log,
)

INSIDER_CA = "issued/insider-ca.pem"


@pytest.fixture(scope="module")
def insider(
    demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    """The demo bundle plus a third ceremony certifying an intermediate the insider holds."""
    out = tmp_path_factory.mktemp("insider") / "bundle"
    shutil.copytree(demo_bundle, out)
    SoftHsmHome(out / "rehearsal").ensure()
    key, csr = csr_with_own_key("Example Insider Issuing CA")
    (out.parent / "insider.csr").write_bytes(csr)
    r = run_cli("sign-csr", out, out.parent / "insider.csr", "--name", "insider-ca")
    assert r.returncode == 0, r.stderr
    return out, key


@pytest.fixture
def tampered(insider: tuple[Path, ec.EllipticCurvePrivateKey], tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(insider[0], dst)
    SoftHsmHome(dst / "rehearsal").ensure()
    return dst


def _forge(bundle: Path, ca_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """Rewrite the last ceremony and re-sign its transcript and the CPS with a minted leaf."""
    root = x509.load_pem_x509_certificate((bundle / "root/root-ca.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((bundle / INSIDER_CA).read_bytes())
    leaf_key, leaf = mint_document_signer(ca_key, ca, "Forged Transcript Signer")
    folder = bundle / "transcripts/003-sign-csr"
    events = read_log(folder)
    for e in events:
        if e["actor"]["role"] == "witness":
            e["actor"]["name"] = "Mallory"
    write_log(folder, events)
    b = Bundle(bundle)
    definition = load_definition(b)
    pdf, at = transcript_pdf(b, definition, folder, True)
    (folder / "transcript.pdf").write_bytes(
        sign_with_software_key(pdf, leaf_key, leaf, [ca, root], at)
    )
    facts = cps_facts(b, definition, True)
    (bundle / "cps/cps-appendix.pdf").write_bytes(
        sign_with_software_key(
            render_cps_appendix(facts), leaf_key, leaf, [ca, root], facts.generated_at
        )
    )
    rewrite_manifest(bundle)
    return leaf


def test_intermediates_carry_a_tls_eku_constraint_by_default(
    insider: tuple[Path, ec.EllipticCurvePrivateKey],
) -> None:
    ca = x509.load_pem_x509_certificate((insider[0] / INSIDER_CA).read_bytes())
    eku = ca.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_documents_resigned_by_an_intermediates_leaf_fail_verify(
    tampered: Path, insider: tuple[Path, ec.EllipticCurvePrivateKey]
) -> None:
    _forge(tampered, insider[1])
    root = x509.load_pem_x509_certificate((tampered / "root/root-ca.pem").read_bytes())
    transcript = tampered / "transcripts/003-sign-csr/transcript.pdf"
    # the premise: to pyHanko the forged signatures chain to the root with documentSigning
    assert validate_pdf(transcript, root) == []
    assert validate_pdf(tampered / "cps/cps-appendix.pdf", root) == []

    r = run_cli("verify", tampered)
    assert r.returncode == 1, r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    failed = [line for line in r.stdout.splitlines() if line.startswith("FAIL")]
    for doc in ("transcripts/003-sign-csr/transcript.pdf", "cps/cps-appendix.pdf"):
        hits = [line for line in failed if line.startswith(f"FAIL  {doc}:")]
        assert any(
            "CN=Forged Transcript Signer" in line and "not a transcript signer" in line
            for line in hits
        ), (doc, failed)


def test_verify_pdf_against_the_bundle_names_the_forged_signer(
    tampered: Path, insider: tuple[Path, ec.EllipticCurvePrivateKey]
) -> None:
    leaf = _forge(tampered, insider[1])
    cps = tampered / "cps/cps-appendix.pdf"
    r = run_cli("verify", tampered, "--pdf", cps)
    assert r.returncode == 1, r.stdout
    assert "CN=Forged Transcript Signer" in r.stdout
    fp = leaf.fingerprint(hashes.SHA256()).hex()
    genuine = x509.load_pem_x509_certificate(
        (tampered / "issued/transcript-signer.pem").read_bytes()
    )
    r = run_cli(
        "verify", "--pdf", cps, "--root", tampered / "root/root-ca.pem",
        "--signer", genuine.fingerprint(hashes.SHA256()).hex(),
    )  # fmt: skip
    assert r.returncode == 1, r.stdout
    assert fp in r.stdout


def test_verify_pdf_says_what_it_could_not_check(demo_bundle: Path) -> None:
    cps = demo_bundle / "cps/cps-appendix.pdf"
    root = demo_bundle / "root/root-ca.pem"
    signer = x509.load_pem_x509_certificate(
        (demo_bundle / "issued/transcript-signer.pem").read_bytes()
    )
    r = run_cli("verify", "--pdf", cps, "--root", root)
    assert r.returncode == 0, r.stdout
    notes = [line for line in r.stdout.splitlines() if line.startswith("note")]
    assert any("--signer" in n and "not checked" in n for n in notes), r.stdout
    assert any("revoked" in n for n in notes), r.stdout

    r = run_cli(
        "verify", "--pdf", cps, "--root", root, "--signer",
        signer.fingerprint(hashes.SHA256()).hex().upper(),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout
    notes = [line for line in r.stdout.splitlines() if line.startswith("note")]
    assert notes and not any("--signer" in n for n in notes), r.stdout

    r = run_cli("verify", demo_bundle, "--pdf", cps)
    assert r.returncode == 0, r.stdout
    assert not any(line.startswith("note") for line in r.stdout.splitlines()), r.stdout


def test_pdfsig_trusts_every_genuine_document_under_the_root_alone(
    demo_bundle: Path, tmp_path: Path
) -> None:
    nssdir = nss_database(tmp_path / "nss", demo_bundle / "root/root-ca.pem")
    pdfs = [
        *sorted(demo_bundle.glob("transcripts/*/transcript.pdf")),
        demo_bundle / "cps/cps-appendix.pdf",
    ]
    for pdf in pdfs:
        assert pdfsig_trust(nssdir, pdf) == "- Certificate Validation: Certificate is Trusted.", pdf


def test_pdfsig_refuses_a_leaf_minted_by_a_tls_intermediate(
    tampered: Path, insider: tuple[Path, ec.EllipticCurvePrivateKey], tmp_path: Path
) -> None:
    _forge(tampered, insider[1])
    nssdir = nss_database(tmp_path / "nss", tampered / "root/root-ca.pem")
    verdict = pdfsig_trust(nssdir, tampered / "cps/cps-appendix.pdf")
    assert verdict.startswith("- Certificate Validation:"), verdict
    assert "Certificate is Trusted" not in verdict
