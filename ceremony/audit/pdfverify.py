"""The auditor's check of a signed transcript or CPS appendix.

Each signature is validated by pyHanko with the bundle's root as the only
trust anchor, offline (air-gapped: nothing is fetched; revocation is checked
against the CRLs handed in, soft-fail otherwise). The last signature must
cover the whole file: anything appended after signing is reported. The
signer must hold EKU id-kp-documentSigning (RFC 9336). Which signer the
bundle allows is decided by the caller from the record (:mod:`ceremony.audit.verify`).

pyHanko logs what it could not parse, with tracebacks; those records are
captured here and become one-line reasons, never console output.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1crl
from asn1crypto import x509 as asn1x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.audit.eventlog import EVENTS_NAME
from ceremony.audit.x509text import DOCUMENT_SIGNING

_ACCEPTED_LATER_CHANGES = ("NONE", "LTA_UPDATES", "FORM_FILLING")
_LOGGERS = ("pyhanko", "pyhanko_certvalidator")
MAX_PDF = 64 * 1024 * 1024


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of a PDF as pyHanko saw it."""

    label: str
    problems: list[str]
    signer: x509.Certificate | None = None
    """The signing certificate the signature names (whether or not it is trusted)."""
    signed_at: datetime | None = None
    """The signing time the signer claims."""


@dataclass(frozen=True)
class PdfCheck:
    """Every signature of one PDF, and what is wrong with the document as a whole."""

    problems: list[str] = field(default_factory=list)
    signatures: list[SignatureCheck] = field(default_factory=list)

    def all_problems(self) -> list[str]:
        return self.problems + [p for s in self.signatures for p in s.problems]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING:
            return
        try:
            text = record.getMessage()
        except Exception:  # a malformed log call inside the library
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            ex = record.exc_info[1]
            text = f"{text} ({type(ex).__name__}: {ex})"
        line = " ".join(text.split())
        if line and line not in self.lines:
            self.lines.append(line)


@contextmanager
def captured_library_logs() -> Iterator[list[str]]:
    """pyHanko's warnings and errors, one line each, instead of on stderr."""
    handler = _Collect()
    saved = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.level))
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:
            logger.setLevel(logging.WARNING)
    try:
        yield handler.lines
    finally:
        for logger, propagate, level in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate
            logger.setLevel(level)


def _read(pdf: bytes | Path | str) -> tuple[bytes | None, str]:
    if isinstance(pdf, bytes):
        return pdf, "PDF"
    path = Path(pdf)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_PDF + 1)
    except OSError as ex:
        return None, f"{path}: cannot be read: {ex.strerror or ex}"
    if len(data) > MAX_PDF:
        return None, f"{path}: larger than {MAX_PDF} bytes; not a transcript"
    return data, str(path)


def _reader(data: bytes) -> Any:
    from pyhanko.pdf_utils.reader import PdfFileReader

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
    return check_pdf(data, name, root, crls=crls, at=at).all_problems()


def check_pdf(
    data: bytes,
    name: str,
    root: x509.Certificate,
    *,
    crls: Sequence[x509.CertificateRevocationList] = (),
    at: datetime | None = None,
) -> PdfCheck:
    """Every signature of ``data`` (called ``name`` in reasons), validated to ``root``."""
    with captured_library_logs() as logged:
        result = _check_pdf(data, name, root, crls, at)
    if logged and result.all_problems():
        result.problems.append(f"{name}: pyHanko reported: {'; '.join(logged[:3])}")
    return result


def _check_pdf(
    data: bytes,
    name: str,
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    at: datetime | None,
) -> PdfCheck:
    try:
        sigs = list(_reader(data).embedded_regular_signatures)
    except Exception as ex:  # hostile bytes can make the parser raise anything
        return PdfCheck([f"{name}: not a readable PDF ({type(ex).__name__}: {_one_line(ex)})"])
    if not sigs:
        return PdfCheck([f"{name}: carries no digital signature"])
    checks = []
    for n, sig in enumerate(sigs, 1):
        last = n == len(sigs)
        label = f"{name}: signature {sig.field_name or n}"
        checks.append(_check(sig, label, last, root, crls, at))
    return PdfCheck([], checks)


def _one_line(ex: BaseException) -> str:
    return " ".join(str(ex).split())[:300]


def _context(
    root: x509.Certificate, crls: Sequence[x509.CertificateRevocationList], at: datetime | None
) -> Any:
    from pyhanko_certvalidator import ValidationContext

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
) -> SignatureCheck:
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    usage = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"})
    signer = _signer_of(sig)
    try:
        status = validate_pdf_signature(
            sig, signer_validation_context=_context(root, crls, at), key_usage_settings=usage
        )
    except Exception as ex:  # any library failure on hostile input is a reason, not a crash
        return SignatureCheck(
            label, [f"{label}: cannot be validated ({type(ex).__name__}: {_one_line(ex)})"], signer
        )
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
    cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    problems += _eku(cert, label)
    return SignatureCheck(label, problems, cert, status.signer_reported_dt)


def _signer_of(sig: Any) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(sig.signer_cert.dump())
    except Exception:  # no usable certificate in the CMS: the validation says why
        return None


def _eku(cert: x509.Certificate, label: str) -> list[str]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return [f"{label}: the signer certificate has no extended key usage documentSigning"]
    except ValueError:
        return [f"{label}: the signer certificate's extensions cannot be parsed"]
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
    except Exception:  # hostile bytes: no attachment to speak of
        return None


def _get(node: Any, key: str) -> Any:
    """``node[key]`` dereferenced, or ``None`` when ``node`` is no dictionary or lacks it."""
    from pyhanko.pdf_utils.generic import DictionaryObject

    if isinstance(node, DictionaryObject) and key in node:
        return node[key]
    return None


def _lookup(node: Any, name: str, depth: int = 0) -> Any:
    """Find ``name`` in a PDF name tree (flat or with ``/Kids``)."""
    from pyhanko.pdf_utils.generic import ArrayObject

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
