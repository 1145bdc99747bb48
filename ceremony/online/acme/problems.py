"""RFC 8555 problem documents (``application/problem+json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NS = "urn:ietf:params:acme:error:"

STATUS: dict[str, int] = {
    "accountDoesNotExist": 400,
    "alreadyRevoked": 400,
    "alreadyReplaced": 409,
    "badCSR": 400,
    "badNonce": 400,
    "badPublicKey": 400,
    "badRevocationReason": 400,
    "badSignatureAlgorithm": 400,
    "caa": 403,
    "connection": 400,
    "dns": 400,
    "externalAccountRequired": 400,
    "incorrectResponse": 400,
    "invalidContact": 400,
    "invalidProfile": 400,
    "malformed": 400,
    "orderNotReady": 403,
    "rateLimited": 429,
    "rejectedIdentifier": 400,
    "serverInternal": 500,
    "tls": 400,
    "unauthorized": 403,
    "unsupportedContact": 400,
    "unsupportedIdentifier": 400,
    "userActionRequired": 403,
}


@dataclass
class AcmeProblem(Exception):
    """An ACME error to send as a problem document."""

    code: str
    detail: str
    status: int | None = None
    subproblems: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """More members of the problem document (``algorithms`` for badSignatureAlgorithm)."""

    def __post_init__(self) -> None:
        super().__init__(self.detail)
        self.detail = " ".join(self.detail.split())
        if self.status is None:
            self.status = STATUS.get(self.code, 400)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            **self.extra,
            "type": NS + self.code,
            "detail": self.detail,
            "status": self.status,
        }
        if self.subproblems:
            doc["subproblems"] = self.subproblems
        return doc


def subproblem(code: str, detail: str, id_type: str, value: str) -> dict[str, Any]:
    return {
        "type": NS + code,
        "detail": detail,
        "identifier": {"type": id_type, "value": value},
    }
