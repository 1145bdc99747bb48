"""What an insider can do to a bundle without the quorum: edit logs and rehash them,
re-render documents with the product's own renderer, sign PDFs with any key they
hold, and sign with the rehearsal token's keys (they know the PIN)."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ceremony.audit.eventlog import canonical, event_hash
from ceremony.bundle import Bundle
from ceremony.x509.profiles import DOCUMENT_SIGNING_EKU


def read_log(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


def write_log(folder: Path, events: list[dict[str, Any]], first_prev: str | None = None) -> None:
    """Rehash ``events`` into a chain that is intact on its own, and write it."""
    prev = events[0]["prev"] if first_prev is None else first_prev
    for i, e in enumerate(events, 1):
        e["seq"], e["prev"] = i, prev
        e["hash"] = event_hash(e)
        prev = e["hash"]
    (folder / "events.jsonl").write_bytes(b"".join(canonical(e) + b"\n" for e in events))


def rewrite_manifest(bundle: Path) -> None:
    Bundle(bundle).write_manifest()


def csr_with_own_key(cn: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA384())
    return key, csr.public_bytes(Encoding.PEM)


def mint_document_signer(
    issuer_key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate, cn: str
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf with the transcript signer's EKUs, under a CA whose key the insider holds."""
    key = ec.generate_private_key(ec.SECP384R1())
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), True
        )
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING_EKU, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .sign(issuer_key, hashes.SHA384())
    )
    return key, cert


def sign_with_software_key(
    pdf: bytes,
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    chain: list[x509.Certificate],
    when: dt.datetime,
) -> bytes:
    from asn1crypto import keys as asn1keys
    from asn1crypto import x509 as asn1x509
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def asn1(c: x509.Certificate) -> asn1x509.Certificate:
        return asn1x509.Certificate.load(c.public_bytes(Encoding.DER))

    signer = signers.SimpleSigner(
        signing_cert=asn1(cert),
        signing_key=asn1keys.PrivateKeyInfo.load(
            key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        ),
        cert_registry=SimpleCertificateStore.from_certs([asn1(c) for c in chain]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name="CeremonySignature",
        md_algorithm="sha384",
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    from ceremony.audit.pdfsign import _ClockedPdfSigner

    pdf_signer = _ClockedPdfSigner(meta, signer=signer, signing_time=when)
    out = pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True))
    return bytes(out.getvalue())


def nss_database(folder: Path, root_pem: Path) -> str:
    """An NSS database that trusts only ``root_pem``; returns the ``-nssdir`` argument."""
    folder.mkdir(parents=True, exist_ok=True)
    db = f"sql:{folder}"
    subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", db, "-n", "root", "-t", "C,C,C", "-i", str(root_pem)], check=True
    )
    return db


def pdfsig_trust(nssdir: str, pdf: Path) -> str:
    """poppler's verdict on the signer's certificate with only the NSS database's roots."""
    out = subprocess.run(
        ["pdfsig", "-nssdir", nssdir, str(pdf)], capture_output=True, text=True
    ).stdout
    lines = [line.strip() for line in out.splitlines() if "Certificate Validation" in line]
    return lines[-1] if lines else out


def insider_context(bundle: Path, rehearsal: Path | None = None) -> Any:
    """A ceremony context outside any ceremony, on the rehearsal token (or a copy of it)."""
    from ceremony.audit.eventlog import EventLog
    from ceremony.flow.ceremonies import load_definition
    from ceremony.flow.engine import Context
    from ceremony.flow.prompts import RehearsalPrompter
    from ceremony.hsm.module import Hsm

    b = Bundle(bundle)
    rehearsal = rehearsal or bundle / "rehearsal"
    scratch = bundle.parent / "insider-scratch"
    scratch.mkdir(exist_ok=True)
    log = EventLog(scratch / "events.jsonl", "insider", "crl")
    return Context(
        b, log, RehearsalPrompter(rehearsal), load_definition(b), True, Hsm(softhsm_home=rehearsal)
    )


def resign_documents(bundle: Path, folders: list[Path]) -> None:
    """Re-render and re-sign the transcripts of ``folders`` and the CPS with the bundle's
    own transcript signer (the insider knows the PIN), then rewrite the manifest."""
    from ceremony.flow.documents import write_cps, write_transcript

    ctx = insider_context(bundle)
    for folder in folders:
        (folder / "transcript.pdf").unlink(missing_ok=True)
        write_transcript(ctx, folder)
    write_cps(ctx, bundle)
    Bundle(bundle).write_manifest()


def root_signed_crl(bundle: Path, number: int) -> bytes:
    """A root CRL signed with the root key in the rehearsal token, outside any ceremony."""
    from ceremony.flow.root import key_ref, root_cert
    from ceremony.hsm.signers import token_key
    from ceremony.x509 import build

    ctx = insider_context(bundle)
    root = root_cert(ctx)
    when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer = token_key(session, key_ref(ctx, "root.key"))
        crl = build.crl_builder(root, number, when, 30, []).sign(signer, hashes.SHA384())
    return bytes(crl.public_bytes(Encoding.DER))
