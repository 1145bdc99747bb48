"""pkilint as a library: the lint gate before and after every signature.

A finding above INFO (NOTICE, WARNING, ERROR, FATAL) refuses, unless the
reviewed ceremony file skips that finding code with a reason; skips are
returned so that the flow records them in the event log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pkilint import loader, pkix
from pkilint.pkix import certificate, crl, extension, name
from pkilint.validation import ValidationFindingSeverity

from ceremony.errors import PolicyError


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str

    def __str__(self) -> str:
        text = f"{self.severity} {self.code}"
        return f"{text}: {self.message}" if self.message else text


@cache
def certificate_validator() -> Any:
    """pkilint's RFC 5280 certificate validator, built once per process."""
    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


def _crl_validator() -> Any:
    return crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            crl.create_issuer_validator_container([]),
            crl.create_validity_validator_container([]),
            crl.create_extensions_validator_container([]),
        ],
    )


_VALIDATORS: dict[str, Any] = {}


def _findings(results: Any) -> list[Finding]:
    out: list[Finding] = []
    for result in results:
        for fd in result.finding_descriptions:
            sev = fd.finding.severity
            if sev <= ValidationFindingSeverity.DEBUG:
                out.append(Finding(sev.name, fd.finding.code, fd.message or ""))
    return out


def lint_certificate(der: bytes) -> list[Finding]:
    """Every pkilint PKIX finding for a DER certificate, INFO and DEBUG included."""
    validator = certificate_validator()
    try:
        doc = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
    except ValueError as ex:
        return [Finding("FATAL", "decode", str(ex))]
    return _findings(validator.validate(doc.root))


def lint_crl(der: bytes) -> list[Finding]:
    """Every pkilint PKIX finding for a DER CRL."""
    validator = _VALIDATORS.setdefault("crl", _crl_validator())
    try:
        doc = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl")
    except ValueError as ex:
        return [Finding("FATAL", "decode", str(ex))]
    return _findings(validator.validate(doc.root))


def blocking(findings: list[Finding]) -> list[Finding]:
    above_info = {s.name for s in ValidationFindingSeverity if s < ValidationFindingSeverity.INFO}
    return [f for f in findings if f.severity in above_info]


def gate(what: str, findings: list[Finding], skips: Mapping[str, str]) -> list[Finding]:
    """Refuse on any finding above INFO that is not skipped; return the skipped ones.

    :raises PolicyError: naming ``what`` and the first unskipped finding.
    """
    stop = [f for f in blocking(findings) if f.code not in skips]
    if stop:
        more = f" (and {len(stop) - 1} more)" if len(stop) > 1 else ""
        raise PolicyError(f"{what}: lint refused: {stop[0]}{more}")
    return [f for f in blocking(findings) if f.code in skips]
