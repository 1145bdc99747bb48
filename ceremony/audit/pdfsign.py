"""PAdES signatures on the transcripts and the CPS appendix, made inside the HSM.

pyHanko's PKCS#11 signer does the work. Where the token lacks the
hash-and-sign mechanism (SoftHSM2 has no ``CKM_ECDSA_SHA384``, openCryptoki's
software token no ``CKM_SHA256_RSA_PKCS``) it hashes on the host and signs
with ``CKM_ECDSA`` or ``CKM_RSA_PKCS`` (``use_raw_mechanism``), as
:mod:`ceremony.hsm.capabilities` decides. The signing certificate and its chain up to the
root are embedded, so a verifier needs nothing but the root.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pkcs11
from asn1crypto import x509 as asn1x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from ceremony.audit.eventlog import Clock, utc_now
from ceremony.errors import HsmError, InputError, PolicyError
from ceremony.hsm.capabilities import SigningMode, login_pin, of_session
from ceremony.hsm.errors import hsm_errors

SIGNATURE_FIELD = "CeremonySignature"


@dataclass(frozen=True)
class PdfSigner:
    """The HSM key that signs transcripts, and its certificates."""

    module: str
    """Path of the PKCS#11 module."""
    token_label: str
    """Label of the token holding the key."""
    user_pin: str = field(repr=False)
    """User PIN of the token. Never logged or shown."""
    key_label: str
    """``CKA_LABEL`` of the private key."""
    certificate: x509.Certificate
    """The signing certificate (EKU documentSigning), issued by the root."""
    chain: tuple[x509.Certificate, ...] = ()
    """Issuer certificates up to and including the root."""


def digest_for(cert: x509.Certificate) -> str:
    """Digest matching the key's strength: SHA-384 for P-384, SHA-512 for P-521."""
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {384: "sha384", 521: "sha512"}.get(key.curve.key_size, "sha256")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 4096:
        return "sha384"
    return "sha256"


def _asn1(cert: x509.Certificate) -> asn1x509.Certificate:
    return asn1x509.Certificate.load(cert.public_bytes(Encoding.DER))


class _ClockedPdfSigner(signers.PdfSigner):
    """pyHanko's PdfSigner with the signing time taken from our clock."""

    def __init__(self, *args: Any, signing_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._signing_time
        return session


@contextmanager
def _open_session(signer: PdfSigner) -> Iterator[Any]:
    what = f"token {signer.token_label!r}"
    with hsm_errors(f"{what}: opening the PKCS#11 module"):
        try:
            lib = pkcs11.lib(signer.module)
        except RuntimeError as ex:
            raise HsmError(f"{signer.module}: cannot load PKCS#11 module: {ex}") from ex
        token = lib.get_token(token_label=signer.token_label)
    with hsm_errors(f"{what}: login"):
        session = token.open(user_pin=login_pin(token, signer.user_pin))
    try:
        yield session
    finally:
        try:
            session.close()
        except pkcs11.exceptions.PKCS11Error:
            pass


def sign_pdf(
    pdf: bytes,
    signer: PdfSigner,
    *,
    clock: Clock = utc_now,
    session: Any | None = None,
    reason: str | None = None,
    location: str | None = None,
) -> bytes:
    """Sign ``pdf`` with a PAdES baseline signature made by the HSM key.

    :param session: an open, logged-in python-pkcs11 session on the token; when
        ``None`` one is opened with the module, token label and PIN of ``signer``.
        (python-pkcs11 loads a module once per process, so a session of the
        ceremony flow can be handed in rather than opened again.)
    :param clock: source of the signing time recorded in the signature.
    :raises PolicyError: the key is neither ECDSA nor RSA (poppler and Adobe Reader
        cannot validate EdDSA signatures in PDFs).
    :raises InputError: ``pdf`` is not a PDF pyHanko can sign.
    :raises HsmError: the token failed, or its key does not match the certificate.
    """
    if not isinstance(
        signer.certificate.public_key(), ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    ):
        raise PolicyError(
            "transcript signing key: must be ECDSA or RSA; PDF readers cannot validate"
            f" {type(signer.certificate.public_key()).__name__.removesuffix('PublicKey')}"
            " signatures"
        )
    if session is None:
        with _open_session(signer) as opened:
            return _sign(pdf, signer, opened, clock(), reason, location)
    return _sign(pdf, signer, session, clock(), reason, location)


def _sign(
    pdf: bytes,
    signer: PdfSigner,
    session: Any,
    when: datetime,
    reason: str | None,
    location: str | None,
) -> bytes:
    caps = of_session(session)
    is_ec = isinstance(signer.certificate.public_key(), ec.EllipticCurvePublicKey)
    # hash on the host where the token lacks the hash-and-sign mechanism (see capabilities)
    mode = caps.ecdsa_mode() if is_ec else caps.rsa_pkcs1_mode()
    p11 = PKCS11Signer(
        session,
        key_label=signer.key_label,
        signing_cert=_asn1(signer.certificate),
        ca_chain=[_asn1(c) for c in signer.chain],
        use_raw_mechanism=mode is SigningMode.RAW,
        embed_roots=True,
    )
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm=digest_for(signer.certificate),
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
    )
    what = f"token {signer.token_label!r}: signing with key {signer.key_label!r}"
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
    except (PdfError, ValueError) as ex:
        raise InputError(f"PDF to sign is not readable: {ex}") from ex
    with hsm_errors(what):
        try:
            # pyHanko reads the key handle from the token as soon as the signer is built.
            pdf_signer = _ClockedPdfSigner(meta, signer=p11, signing_time=when)
            out = pdf_signer.sign_pdf(writer)
        except SigningError as ex:
            raise HsmError(f"{what}: {ex}") from ex
    signed: bytes = out.getvalue()
    _check_signature(signed, signer, what)
    return signed


def _check_signature(signed: bytes, signer: PdfSigner, what: str) -> None:
    """The token's signature must verify with the certificate (else: wrong key)."""
    reader = PdfFileReader(io.BytesIO(signed))
    embedded = reader.embedded_regular_signatures[-1]
    anchors = [_asn1(c) for c in signer.chain] or [_asn1(signer.certificate)]
    context = ValidationContext(trust_roots=anchors, allow_fetching=False)
    status = validate_pdf_signature(embedded, signer_validation_context=context, skip_diff=True)
    if not (status.intact and status.valid):
        raise HsmError(f"{what}: the signature does not verify with the signing certificate")
