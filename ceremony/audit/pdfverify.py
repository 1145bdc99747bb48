"""The auditor's check of a signed transcript or CPS appendix.

Each signature is validated by pyHanko with the bundle's root as the only
trust anchor, offline (air-gapped: nothing is fetched; revocation is checked
against the CRLs handed in, soft-fail otherwise). The last signature must
cover the whole file: anything appended after signing is reported. The
signer must hold EKU id-kp-documentSigning (RFC 9336).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1crl
from asn1crypto import x509 as asn1x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from ceremony.audit.transcript import EVENTS_NAME
from ceremony.audit.x509text import DOCUMENT_SIGNING

_ACCEPTED_LATER_CHANGES = ("NONE", "LTA_UPDATES", "FORM_FILLING")


def _read(pdf: bytes | Path | str) -> tuple[bytes | None, str]:
    if isinstance(pdf, bytes):
        return pdf, "PDF"
    path = Path(pdf)
    try:
        return path.read_bytes(), str(path)
    except OSError as ex:
        return None, f"{path}: cannot be read: {ex.strerror or ex}"


def _reader(data: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(data), strict=True)


def validate_pdf(
    pdf: bytes | Path | str,
    root: x509.Certificate,
    *,
    crls: Sequence[x509.CertificateRevocationList] = (),
    at: datetime | None = None,
) -> list[str]:
    """Return the problems of the PDF's signatures; an empty list means valid.

    :param root: the only trust anchor.
    :param crls: CRLs to check revocation against (nothing is fetched).
    :param at: validation time; the current time when ``None``.
    """
    data, name = _read(pdf)
    if data is None:
        return [name]
    try:
        sigs = list(_reader(data).embedded_regular_signatures)
    except (PdfError, ValueError, KeyError) as ex:
        return [f"{name}: not a readable PDF ({type(ex).__name__}: {ex})"]
    if not sigs:
        return [f"{name}: carries no digital signature"]
    problems: list[str] = []
    for n, sig in enumerate(sigs, 1):
        last = n == len(sigs)
        label = f"{name}: signature {sig.field_name or n}"
        problems += _check(sig, label, last, root, crls, at)
    return problems


def _context(
    root: x509.Certificate, crls: Sequence[x509.CertificateRevocationList], at: datetime | None
) -> ValidationContext:
    return ValidationContext(
        trust_roots=[asn1x509.Certificate.load(root.public_bytes(Encoding.DER))],
        allow_fetching=False,
        revocation_mode="soft-fail",
        crls=[asn1crl.CertificateList.load(c.public_bytes(Encoding.DER)) for c in crls],
        moment=at,
    )


def _check(
    sig: Any,
    label: str,
    last: bool,
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    at: datetime | None,
) -> list[str]:
    usage = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"})
    try:
        status = validate_pdf_signature(
            sig, signer_validation_context=_context(root, crls, at), key_usage_settings=usage
        )
    except (SignatureValidationError, PdfError, ValueError, KeyError) as ex:
        return [f"{label}: cannot be validated ({type(ex).__name__}: {ex})"]
    problems: list[str] = []
    if not status.intact:
        problems.append(f"{label}: the signed bytes were changed (document digest mismatch)")
    elif not status.valid:
        problems.append(f"{label}: the signature value does not verify")
    elif status.revoked:
        problems.append(f"{label}: the signer certificate is revoked")
    elif not status.trusted:
        indication = status.trust_problem_indic
        why = f" ({indication.standard_name})" if indication is not None else ""
        problems.append(f"{label}: the signer certificate does not chain to the given root{why}")
    level = status.modification_level
    level_name = level.name if level is not None else "unknown"
    if last and status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        problems.append(
            f"{label}: the document was changed after signing (incremental update after the"
            f" signed revision, modification level {level_name})"
        )
    elif not last and (level_name not in _ACCEPTED_LATER_CHANGES or status.docmdp_ok is False):
        problems.append(f"{label}: later revisions changed the document ({level_name})")
    problems += _eku(status.signing_cert, label)
    return problems


def _eku(signing_cert: asn1x509.Certificate, label: str) -> list[str]:
    cert = x509.load_der_x509_certificate(signing_cert.dump())
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return [f"{label}: the signer certificate has no extended key usage documentSigning"]
    if DOCUMENT_SIGNING not in eku:
        return [f"{label}: the signer certificate lacks extended key usage documentSigning"]
    return []


def embedded_file(pdf: bytes | Path | str, name: str) -> bytes | None:
    """The attached file called ``name``, or ``None`` if the PDF has none by that name."""
    data, _ = _read(pdf)
    if data is None:
        return None
    try:
        names = _get(_reader(data).root, "/Names")
        tree = _get(names, "/EmbeddedFiles")
        spec = _lookup(tree, name) if tree is not None else None
        ef = _get(spec, "/EF")
        stream = _get(ef, "/UF") or _get(ef, "/F")
        return None if stream is None else bytes(stream.data)
    except (PdfError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _get(node: Any, key: str) -> Any:
    """``node[key]`` dereferenced, or ``None`` when ``node`` is no dictionary or lacks it."""
    if isinstance(node, DictionaryObject) and key in node:
        return node[key]
    return None


def _lookup(node: Any, name: str, depth: int = 0) -> Any:
    """Find ``name`` in a PDF name tree (flat or with ``/Kids``)."""
    if depth > 16:
        return None
    entries = _get(node, "/Names")
    if isinstance(entries, ArrayObject):
        for i in range(0, len(entries) - 1, 2):
            if str(entries[i]) == name:
                return entries[i + 1]
    kids = _get(node, "/Kids")
    if isinstance(kids, ArrayObject):
        for i in range(len(kids)):
            found = _lookup(kids[i], name, depth + 1)
            if found is not None:
                return found
    return None


def embedded_events(pdf: bytes | Path | str) -> bytes | None:
    """The ``events.jsonl`` attached to a transcript, or ``None``."""
    return embedded_file(pdf, EVENTS_NAME)
