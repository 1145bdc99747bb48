"""pkilint as a library: certificates, CRLs and OCSP responses.

Each ``lint_*`` function returns the findings above INFO (NOTICE, WARNING,
ERROR, FATAL) as ``"SEVERITY code: message"`` strings; an empty tuple means
clean. The validator containers are built once per process. pkilint is pure
Python (the GIL serializes it anyway), so calls are serialized by a lock to
keep its shared validator objects safe across request threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import cache
from typing import Any

_LOCK = threading.Lock()
THRESHOLD = 4  # pkilint ValidationFindingSeverity.INFO; pkilint is imported on first use


def _cert_validator() -> Any:
    from ceremony.x509.lint import certificate_validator

    return certificate_validator()


@cache
def _crl_validator() -> Any:
    from pkilint import pkix
    from pkilint.cabf import cabf_crl
    from pkilint.pkix import crl, extension, name

    crl_type = crl.CertificateRevocationListType.CRL
    return crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            crl.create_issuer_validator_container([]),
            crl.create_validity_validator_container(
                [cabf_crl.create_validity_period_validator(crl_type)]
            ),
            crl.create_extensions_validator_container([]),
            cabf_crl.CabfCrlReasonCodeAllowlistValidator(crl_type),
        ],
    )


@cache
def _ocsp_validator() -> Any:
    from pkilint import pkix
    from pkilint.pkix import extension, name, ocsp

    return ocsp.create_pkix_ocsp_response_validator_container(
        [
            ocsp.create_response_decoder(),
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )


def _findings(results: Iterable[Any]) -> tuple[str, ...]:
    out: list[str] = []
    for result in results:
        for fd in result.finding_descriptions:
            if fd.finding.severity < THRESHOLD:
                msg = f"{fd.finding.severity.name} {fd.finding.code}"
                if fd.message:
                    msg += f": {fd.message}"
                out.append(msg)
    return tuple(out)


def warm() -> None:
    """Import pkilint and build the certificate validator now rather than on first use."""
    _cert_validator()


def lint_certificate(der: bytes) -> tuple[str, ...]:
    """RFC 5280 findings above INFO for one DER certificate."""
    from pkilint import loader

    with _LOCK:
        doc = loader.load_der_certificate(der, "certificate")
        return _findings(_cert_validator().validate(doc.root))


def lint_crl(der: bytes) -> tuple[str, ...]:
    """RFC 5280 and CA/B Forum BR CRL findings above INFO for one DER CRL."""
    from pkilint import loader

    with _LOCK:
        doc = loader.load_der_crl(der, "crl")
        return _findings(_crl_validator().validate(doc.root))


def lint_ocsp_response(der: bytes) -> tuple[str, ...]:
    """RFC 6960 findings above INFO for one DER OCSP response."""
    from pkilint import loader

    with _LOCK:
        doc = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(der, "ocsp")
        return _findings(_ocsp_validator().validate(doc.root))
