"""The intermediate signing ceremony: CSR in, certificate out.

Everything that can refuse the CSR runs in :func:`prepare_request` before a
transcript is opened, so a refused CSR leaves no trace but the error line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ceremony.bundle import Bundle
from ceremony.config.ceremonyfile import Role
from ceremony.errors import InputError, PolicyError
from ceremony.flow.engine import Context, Step
from ceremony.flow.later import ACTIVATE
from ceremony.flow.root import CLOSE, OPEN, PREFLIGHT, _serial, cert_facts, key_ref, now, root_cert
from ceremony.hsm.signers import token_key
from ceremony.x509 import build
from ceremony.x509.csr import CsrPolicy, CsrReview, load_and_check, spki_sha256

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_CSR_FILE = 1 << 20


@dataclass(frozen=True)
class SigningRequest:
    """A CSR that passed every check, ready for the ceremony."""

    name: str
    source: str
    data: bytes
    csr: x509.CertificateSigningRequest
    review: CsrReview

    @property
    def output(self) -> str:
        return f"issued/{self.name}.pem"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def known_keys(bundle: Bundle) -> frozenset[str]:
    """SPKI SHA-256 of the root and of every certificate the root issued."""
    out = set()
    for p in [bundle.path("root/root-ca.pem"), *sorted(bundle.path("issued").glob("*.pem"))]:
        if p.is_file():
            cert = x509.load_pem_x509_certificate(p.read_bytes())
            out.add(spki_sha256(cert.public_key()))
    return frozenset(out)


def default_name(csr: x509.CertificateSigningRequest) -> str:
    cns = csr.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    text = str(cns[0].value) if cns else "intermediate"
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "intermediate"


def read_csr_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_CSR_FILE:
            raise InputError(f"{path}: {path.stat().st_size} bytes, larger than {MAX_CSR_FILE}")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a CSR file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None


def _policy(bundle: Bundle, forbidden: frozenset[str]) -> CsrPolicy:
    from ceremony.flow.ceremonies import load_definition

    return CsrPolicy(
        forbidden_spki_sha256=forbidden,
        max_path_length=load_definition(bundle).intermediate.path_length,
    )


def prepare_request(bundle: Bundle, data: bytes, source: str, name: str | None) -> SigningRequest:
    open_folder = bundle.open_transcript("sign-csr")
    if open_folder is not None:
        from ceremony.audit.eventlog import read_events

        done = [e for e in read_events(open_folder / "events.jsonl") if e["step"] == "csr.review"]
        if done and done[0]["payload"]["outputs"][0]["sha256"] != hashlib.sha256(data).hexdigest():
            raise InputError(
                f"{source}: an interrupted signing ceremony for another CSR is open in "
                f"{open_folder.name}; resume it with that CSR first"
            )
        if done:
            name = done[0]["payload"]["outputs"][0]["path"].split("/")[-1].removesuffix(".csr")
            csr, review = load_and_check(data, _policy(bundle, frozenset()), source)
            return SigningRequest(name, source, data, csr, review)
    csr, review = load_and_check(data, _policy(bundle, known_keys(bundle)), source)
    name = name or default_name(csr)
    if not NAME_RE.match(name):
        raise InputError(f"name {name!r}: use lowercase letters, digits, '.', '-' and '_'")
    if (
        name == "transcript-signer"
        or bundle.exists(f"issued/{name}.pem")
        or bundle.exists(f"requests/{name}.csr")
    ):
        raise InputError(f"name {name!r}: issued/{name}.pem exists already; choose another --name")
    return SigningRequest(name, source, data, csr, review)


def _review(ctx: Context) -> dict[str, Any]:
    req: SigningRequest = ctx.state["request"]
    if not ctx.prompter.confirm("csr.review", req.review.lines(), req.review.confirmation_phrase):
        raise PolicyError(f"{req.source}: signing not confirmed by the operator")
    copy = ctx.output(f"requests/{req.name}.csr", req.data)
    return {
        "outputs": [copy],
        "source": req.source,
        "csr": {
            "subject": req.review.subject,
            "key": req.review.key_description,
            "spki_sha256": req.review.spki_sha256,
            "requested_extensions": [e.name for e in req.review.requested_extensions],
        },
        "confirmation": req.review.confirmation_phrase,
    }


def _sign(ctx: Context) -> dict[str, Any]:
    req: SigningRequest = ctx.state["request"]
    d = ctx.definition
    root = root_cert(ctx)
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer = token_key(session, key_ref(ctx, "root.key"))
        key = req.csr.public_key()
        assert isinstance(
            key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)
        )
        builder = build.intermediate_builder(
            d.intermediate, req.csr.subject, key, root, _serial(session), now(ctx)
        )
        signed = build.sign_certificate(f"intermediate {req.name}", builder, signer, root, d.skips)
    out = ctx.output(req.output, build.pem(signed.der))
    return {
        "outputs": [out],
        "certificate": cert_facts(signed.der),
        "lint_skipped": [{"code": f.code, "severity": f.severity} for f in signed.skipped],
    }


def _export(ctx: Context) -> dict[str, Any]:
    """Certificate, chain, current root CRL and trust kit onto the operator's media."""
    from ceremony.bundle import ROOT_CRL
    from ceremony.media.transfer import export_files
    from ceremony.x509.trustkit import trust_kit

    media: Path | None = ctx.state.get("media")
    if media is None:
        return {"activity": "No removable media given: outputs stay in the bundle", "exported": []}
    req: SigningRequest = ctx.state["request"]
    files = {
        f"{req.name}.pem": ctx.bundle.read(req.output),
        f"{req.name}-chain.pem": chain_pem(ctx, req.name),
        "root-ca.crl": ctx.bundle.read(ROOT_CRL),
        **trust_kit(root_cert(ctx)),
    }
    folder = f"{req.name}-{ctx.log.ceremony_id}"
    result = export_files(media, folder, files)
    exported = [
        {"path": w.path.relative_to(media).as_posix(), "sha256": w.sha256, "size": w.size}
        for w in result.files
    ]
    return {
        "exported": exported,
        "media": str(media),
        "media_manifest_sha256": result.manifest.sha256,
    }


def chain_pem(ctx: Context, name: str) -> bytes:
    return ctx.bundle.read(f"issued/{name}.pem") + root_cert(ctx).public_bytes(
        serialization.Encoding.PEM
    )


SIGN_STEPS = [
    OPEN,
    PREFLIGHT,
    Step(
        "csr.review",
        "Review the CSR: fingerprints read aloud, typed confirmation",
        _review,
        role=Role.WITNESS,
    ),
    ACTIVATE,
    Step(
        "intermediate.sign",
        "Lint, sign and verify the intermediate certificate",
        _sign,
        commit=True,
    ),
    Step(
        "media.export",
        "Write certificate, chain, root CRL and trust kit to the operator's media with "
        "SHA256SUMS; read everything back",
        _export,
    ),
    CLOSE,
]
