"""Recorded steps as the room reviews them: facts, outputs, certificates with fingerprint and QR."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ceremony import pgpwords
from ceremony.bundle import Bundle


@dataclass(frozen=True)
class CertificateReview:
    """A certificate as the room reviews it: fields, profile table, fingerprint, QR."""

    path: str
    fields: tuple[tuple[str, str], ...]
    extensions: tuple[tuple[str, str, str], ...]
    fingerprint_hex: str
    fingerprint_words: str
    qr_text: str
    qr: tuple[tuple[bool, ...], ...]


def qr_matrix(text: str) -> tuple[tuple[bool, ...], ...]:
    """The modules of a QR code of ``text`` (no quiet zone; True is dark)."""
    import qrcode

    code = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    return tuple(tuple(bool(m) for m in row) for row in code.get_matrix())


def certificate_review(bundle: Bundle, rel: str) -> CertificateReview:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from ceremony.audit import x509text

    cert = x509.load_pem_x509_certificate(bundle.read(rel))
    fp = cert.fingerprint(hashes.SHA256())
    text = f"SHA256:{fp.hex().upper()}"
    return CertificateReview(
        path=rel,
        fields=tuple(x509text.certificate_fields(cert)),
        extensions=tuple(x509text.extension_rows(cert.extensions)),
        fingerprint_hex=":".join(f"{b:02X}" for b in fp),
        fingerprint_words=pgpwords.words(fp),
        qr_text=text,
        qr=qr_matrix(text),
    )


@dataclass(frozen=True)
class StepResult:
    """What a step page shows once the step is recorded."""

    step: str
    seq: int
    time: str
    event_hash: str
    facts: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    certificates: tuple[CertificateReview, ...] = ()


_HIDDEN = frozenset({"inputs", "outputs", "activity"})


_PLAIN_KEYS = {"extractable": "CKA_EXTRACTABLE"}
"""Payload keys that are a key attribute under another name."""


def _text(key: str, value: Any) -> str:
    """A value as the room reads it: key attributes in the custody sentences."""
    attribute = key if key.startswith("CKA_") else _PLAIN_KEYS.get(key)
    if attribute is not None and (value is None or isinstance(value, bool)):
        from ceremony.hsm import attributes

        try:
            return f"{attributes.value_text(value)}: {attributes.explain(attribute, value)}"
        except KeyError:
            pass
    return "yes" if value is True else "no" if value is False else str(value)


def _label(key: str) -> str:
    return key if key.startswith("CKA_") else key.replace("_", " ")


def flatten(payload: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """A payload as (name, text) rows: nested keys joined with " · ", lists joined; an item
    of a list is named by its custodian (or number), never by an index in brackets."""
    rows: list[tuple[str, str]] = []
    for key, value in payload.items():
        if not prefix and key in _HIDDEN:
            continue
        name = f"{prefix}{_label(key)}"
        if isinstance(value, Mapping):
            rows += flatten(value, f"{name} · ")
        elif isinstance(value, list | tuple):
            if all(not isinstance(v, Mapping | list | tuple) for v in value):
                rows.append((name, ", ".join(str(v) for v in value) or "(none)"))
            else:
                for i, v in enumerate(value, 1):
                    if isinstance(v, Mapping):
                        who = v.get("custodian") or v.get("name") or f"{_label(key)} {i}"
                        rest = {k: x for k, x in v.items() if k not in ("custodian", "name")}
                        rows += flatten(rest, f"{prefix}{who} · ")
                    else:
                        rows.append((f"{name} {i}", str(v)))
        else:
            rows.append((name, _text(key, value)))
    return rows


def step_result(bundle: Bundle, event: Mapping[str, Any]) -> StepResult:
    payload: Mapping[str, Any] = event.get("payload", {})
    outputs = [(str(o["path"]), str(o["sha256"])) for o in payload.get("outputs", [])]
    certs = tuple(
        certificate_review(bundle, path)
        for path, _ in outputs
        if path.endswith(".pem") and "certificate" in payload
    )
    return StepResult(
        step=str(event["step"]),
        seq=int(event["seq"]),
        time=str(event["time"]),
        event_hash=str(event["hash"]),
        facts=tuple(flatten(payload)),
        outputs=tuple(outputs),
        certificates=certs,
    )


@dataclass(frozen=True)
class Preview:
    """A certificate or CRL before it is signed: every field, for the room to read aloud."""

    what: str
    fields: tuple[tuple[str, str], ...]
    extensions: tuple[tuple[str, str, str], ...]
    tbs_sha256: str


def preview_of(obj: Any) -> Preview:
    """Fields of a preview certificate or CRL (signed by a throwaway key: no fingerprint)."""
    import hashlib

    from cryptography import x509

    from ceremony.audit import x509text

    if isinstance(obj, x509.Certificate):
        fields = [(n, v) for n, v in x509text.certificate_fields(obj) if "ingerprint" not in n]
        return Preview(
            "certificate",
            tuple(fields),
            tuple(x509text.extension_rows(obj.extensions)),
            hashlib.sha256(obj.tbs_certificate_bytes).hexdigest(),
        )
    assert isinstance(obj, x509.CertificateRevocationList)
    fields = [(n, v) for n, v in x509text.crl_fields(obj) if "ingerprint" not in n]
    fields += [
        (f"revoked serial {serial}", f"{date}; {ext}")
        for serial, date, ext in x509text.revoked_rows(obj)
    ] or [("revoked", "(none)")]
    return Preview(
        "CRL",
        tuple(fields),
        tuple(x509text.extension_rows(obj.extensions)),
        hashlib.sha256(obj.tbs_certlist_bytes).hexdigest(),
    )
