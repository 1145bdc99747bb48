"""``python -m tests.insider_sign BUNDLE REHEARSAL CERT PDF``: sign PDF (in place) with the
transcript-signing key of a copy of the rehearsal token, as an insider who kept one.

A process of its own, since python-pkcs11 loads SoftHSM2 once per process with the
token folder it found first."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from cryptography import x509

from ceremony.audit.pdfsign import PdfSigner, sign_pdf
from ceremony.flow.root import root_cert
from tests.insider import insider_context


def main(bundle: Path, rehearsal: Path, cert: Path, pdf: Path, when: str) -> None:
    ctx = insider_context(bundle, rehearsal)
    signer = PdfSigner(
        module=ctx.hsm.module_path,
        token_label=ctx.token_label,
        user_pin=ctx.user_pin(),
        key_label=ctx.definition.signer_key_label,
        certificate=x509.load_pem_x509_certificate(cert.read_bytes()),
        chain=(root_cert(ctx),),
    )
    at = dt.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    pdf.write_bytes(sign_pdf(pdf.read_bytes(), signer, clock=lambda: at))


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:5]), sys.argv[5])
