"""The intermediate signing ceremony: CSR in, certificate out.

Everything that can refuse the CSR runs in :func:`prepare_request` before a
transcript is opened, so a refused CSR leaves no trace but the error line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ceremony.bundle import CEREMONY_FILE, ROOT_CERT, ROOT_CRL, Bundle
from ceremony.config.ceremonyfile import CeremonyFile, Role
from ceremony.errors import InputError, PolicyError
from ceremony.flow.engine import Context, Step
from ceremony.flow.later import ACTIVATE
from ceremony.flow.root import (
    CLOSE,
    OPEN,
    PREFLIGHT,
    cert_facts,
    check_previewed,
    key_ref,
    planned,
    remember_preview,
    root_cert,
)
from ceremony.hsm.signers import token_key
from ceremony.x509 import build
from ceremony.x509.csr import CsrPolicy, CsrReview, load_and_check, spki_sha256

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_CSR_FILE = 1 << 20


PROFILES = ("intermediate", "cross-certificate")


@dataclass(frozen=True)
class SigningRequest:
    """A CSR (or, for a cross-certificate, an existing CA certificate) that passed every check."""

    name: str
    source: str
    data: bytes
    csr: x509.CertificateSigningRequest | None
    review: CsrReview
    existing: x509.Certificate | None = None

    @property
    def output(self) -> str:
        return f"issued/{self.name}.pem"

    @property
    def request_copy(self) -> str:
        return f"requests/{self.name}.{'csr' if self.existing is None else 'crt'}"

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


def default_name(csr: x509.CertificateSigningRequest | x509.Certificate) -> str:
    cns = csr.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    text = str(cns[0].value) if cns else "intermediate"
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "intermediate"


def read_csr_file(path: Path) -> bytes:
    from ceremony.media.inputs import read_input

    return read_input(path, "CSR file", MAX_CSR_FILE)


def _policy(bundle: Bundle, forbidden: frozenset[str]) -> CsrPolicy:
    from ceremony.flow.ceremonies import load_definition

    root = x509.load_pem_x509_certificate(bundle.read("root/root-ca.pem"))
    return CsrPolicy(
        forbidden_spki_sha256=forbidden,
        max_path_length=load_definition(bundle).intermediate.path_length,
        forbidden_subject=root.subject.public_bytes(),
    )


def prepare_cross(bundle: Bundle, data: bytes, source: str, name: str | None) -> SigningRequest:
    """Checks of an existing CA certificate to cross-sign, before any transcript opens."""
    from ceremony.x509.cross import check_existing, load_certificate
    from ceremony.x509.csr import check_public_key

    existing = load_certificate(data, source)
    root = x509.load_pem_x509_certificate(bundle.read("root/root-ca.pem"))
    check_existing(existing, root, source)
    policy = _policy(bundle, known_keys(bundle))
    description = check_public_key(existing.public_key(), policy, source)
    spki = spki_sha256(existing.public_key())
    if spki in policy.forbidden_spki_sha256:
        raise PolicyError(f"{source}: this root already certified that key")
    review = CsrReview(
        source=source,
        subject=existing.subject.rfc4514_string(),
        key_description=description,
        requested_extensions=(),
        csr_sha256=hashlib.sha256(data).hexdigest(),
        spki_sha256=spki,
    )
    name = _check_name(bundle, name or default_name(existing))
    return SigningRequest(name, source, data, None, review, existing)


def _check_name(bundle: Bundle, name: str) -> str:
    """A name for ``issued/NAME.pem`` no recorded event used (a file an interrupted step left,
    named in no event, is replaced on record by the ceremony)."""
    if not NAME_RE.match(name):
        raise InputError(f"name {name!r}: use lowercase letters, digits, '.', '-' and '_'")
    taken = bundle.recorded_outputs()
    if name == "transcript-signer" or any(
        p in taken for p in (f"issued/{name}.pem", f"requests/{name}.csr", f"requests/{name}.crt")
    ):
        raise InputError(f"name {name!r}: issued/{name}.pem exists already; choose another --name")
    return name


def prepare_request(
    bundle: Bundle,
    data: bytes,
    source: str,
    name: str | None,
    profile: str = "intermediate",
    media: Path | None = None,
) -> SigningRequest:
    """Everything that can refuse a signing ceremony's inputs, before its transcript opens:
    the CSR (or certificate to cross-sign) against the policy, its name, the lint of the
    certificate the root would sign, and the ``media`` the outputs go to.

    :raises InputError: naming the input and the reason; nothing is written.
    """
    if profile not in PROFILES:
        raise InputError(f"profile {profile!r}: not one of {', '.join(PROFILES)}")
    resumed = _resumed_request(bundle, data, source, media)
    if resumed is not None:
        request, issued = resumed
    else:
        issued = None
        if profile == "cross-certificate":
            request = prepare_cross(bundle, data, source, name)
        else:
            csr, review = load_and_check(data, _policy(bundle, known_keys(bundle)), source)
            request = SigningRequest(
                _check_name(bundle, name or default_name(csr)), source, data, csr, review
            )
    cert = issued or prelint(bundle, request)
    if media is not None:
        check_media(bundle, request, media, cert, resuming=resumed is not None)
    return request


def recorded_csr(folder: Path) -> str | None:
    """SHA-256 of the CSR the signing ceremony of ``folder`` reviewed, once recorded."""
    from ceremony.audit.eventlog import read_events

    log = folder / "events.jsonl"
    if not log.is_file():
        return None
    for e in read_events(log):
        if e["event"] == "step" and e["step"] == "csr.review":
            return str(e["payload"]["outputs"][0]["sha256"])
    return None


def _resumed_request(
    bundle: Bundle, data: bytes, source: str, media: Path | None
) -> tuple[SigningRequest, x509.Certificate | None] | None:
    """The request of the interrupted signing ceremony, if one is open (and ``data`` is its
    CSR), with its certificate once signed."""
    from ceremony.audit.eventlog import read_events

    open_folder = bundle.open_transcript("sign-csr")
    if open_folder is None or not (open_folder / "events.jsonl").exists():
        return None
    events = list(read_events(open_folder / "events.jsonl"))
    done = {e["step"]: e for e in events if e["event"] == "step"}
    review = done.get("csr.review")
    if review is None:
        return None
    if review["payload"]["outputs"][0]["sha256"] != hashlib.sha256(data).hexdigest():
        raise InputError(
            f"{source}: an interrupted signing ceremony for another CSR is open in "
            f"{open_folder.name}; resume it with that CSR first"
        )
    if review["payload"].get("export_to_media") and "media.export" not in done and media is None:
        raise InputError(
            f"{open_folder.name}: the interrupted signing ceremony exports its outputs to"
            " removable media; run it again with --media"
        )
    path = Path(review["payload"]["outputs"][0]["path"])
    if path.suffix == ".crt":
        from ceremony.x509.cross import load_certificate

        existing = load_certificate(data, source)
        checked = CsrReview(
            source,
            existing.subject.rfc4514_string(),
            "as reviewed",
            (),
            hashlib.sha256(data).hexdigest(),
            spki_sha256(existing.public_key()),
        )
        request = SigningRequest(path.stem, source, data, None, checked, existing)
    else:
        csr, checked = load_and_check(data, _policy(bundle, frozenset()), source)
        request = SigningRequest(path.stem, source, data, csr, checked)
    issued = None
    if "intermediate.sign" in done:
        issued = x509.load_pem_x509_certificate(bundle.read(request.output))
    return request, issued


def _review(ctx: Context) -> dict[str, Any]:
    req: SigningRequest = ctx.state["request"]
    if not ctx.prompter.confirm("csr.review", req.review.lines(), req.review.confirmation_phrase):
        raise PolicyError(f"{req.source}: signing not confirmed by the operator")
    copy = ctx.output(req.request_copy, req.data)
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
        "export_to_media": ctx.state.get("media") is not None,
    }


def certificate_builder(
    d: CeremonyFile, req: SigningRequest, root: x509.Certificate, serial: int, when: dt.datetime
) -> x509.CertificateBuilder:
    """What the root signs for ``req``: the profile's certificate for the CSR's subject and key,
    or the cross-certificate of the existing certificate."""
    if req.existing is not None:
        from ceremony.x509.cross import cross_builder

        return cross_builder(d.intermediate, req.existing, root, serial, when)
    assert req.csr is not None
    key = req.csr.public_key()
    assert isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey))
    return build.intermediate_builder(d.intermediate, req.csr.subject, key, root, serial, when)


def prelint(bundle: Bundle, req: SigningRequest) -> x509.Certificate:
    """The certificate of ``req`` signed by a throwaway key and linted, before anything is
    written: what the gate would refuse after the HSM signed is refused here.

    :raises PolicyError: the lint gate or the profile (validity inside the root's) refuses.
    """
    from ceremony.flow.ceremonies import load_definition
    from ceremony.flow.validate import lint_serial

    d = load_definition(bundle)
    root = x509.load_pem_x509_certificate(bundle.read(ROOT_CERT))
    when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    builder = certificate_builder(d, req, root, lint_serial(), when)
    root_key: Any = root.public_key()
    cert, _ = build.prelint_certificate(f"{req.source}: {_what(req)}", builder, root_key, d.skips)
    return cert


def _what(req: SigningRequest) -> str:
    return f"{'cross-certificate' if req.existing is not None else 'intermediate'} {req.name}"


def export_folder(req: SigningRequest, ceremony_id: str) -> str:
    return f"{req.name}-{ceremony_id}"


def check_media(
    bundle: Bundle,
    req: SigningRequest,
    media: Path,
    lint_cert: x509.Certificate,
    resuming: bool = False,
) -> None:
    """The media the outputs go to can take them: checked before the ceremony opens."""
    from ceremony.flow.ceremonies import ceremony_id
    from ceremony.media.transfer import check_export
    from ceremony.x509.trustkit import trust_kit

    folder = bundle.open_transcript("sign-csr") or bundle.next_transcript("sign-csr")
    root = x509.load_pem_x509_certificate(bundle.read(ROOT_CERT))
    cert = len(lint_cert.public_bytes(serialization.Encoding.PEM)) + 256
    root_pem = len(root.public_bytes(serialization.Encoding.PEM))
    kit = sum(len(v) for v in trust_kit(root).values())
    crl = bundle.path(ROOT_CRL).stat().st_size if bundle.exists(ROOT_CRL) else 4096
    needed = 2 * cert + root_pem + kit + crl + 4096
    name = export_folder(req, ceremony_id(folder, bundle.read(CEREMONY_FILE)))
    check_export(media, name, needed, resuming=resuming)


def _intermediate_tbs(ctx: Context, session: Any) -> tuple[Any, x509.CertificateBuilder]:
    req: SigningRequest = ctx.state["request"]
    signer = token_key(session, key_ref(ctx, "root.key"))
    serial, at = planned(ctx, "intermediate.sign", session)
    return signer, certificate_builder(ctx.definition, req, root_cert(ctx), serial, at)


def _sign(ctx: Context) -> dict[str, Any]:
    req: SigningRequest = ctx.state["request"]
    d = ctx.definition
    root = root_cert(ctx)
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer, builder = _intermediate_tbs(ctx, session)
        signed = build.sign_certificate(_what(req), builder, signer, root, d.skips)
        if req.existing is not None:
            from ceremony.x509.cross import check_signed

            check_signed(req.existing, signed.der)
    cert = x509.load_der_x509_certificate(signed.der)
    previewed = check_previewed(ctx, "intermediate.sign", cert.tbs_certificate_bytes)
    out = ctx.output(req.output, build.pem(signed.der))
    return {
        "outputs": [out],
        "certificate": cert_facts(signed.der),
        "lint_skipped": [{"code": f.code, "severity": f.severity} for f in signed.skipped],
        "previewed_to_the_room": previewed,
    }


def _preview(ctx: Context) -> x509.Certificate:
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        signer, builder = _intermediate_tbs(ctx, session)
        cert = build.preview_certificate(builder, signer.public_key())
    remember_preview(ctx, "intermediate.sign", cert.tbs_certificate_bytes)
    return cert


def _export(ctx: Context) -> dict[str, Any]:
    """Certificate, chain, current root CRL and trust kit onto the operator's media."""
    from ceremony.bundle import ROOT_CRL
    from ceremony.x509.trustkit import trust_kit

    media: Path | None = ctx.state.get("media")
    if media is None:
        return {
            "activity": "Nothing written to media: no removable media was chosen; the outputs"
            " stay in the bundle and are carried out with it",
            "result": "skipped",
            "exported": [],
        }
    req: SigningRequest = ctx.state["request"]
    files = {
        f"{req.name}.pem": ctx.bundle.read(req.output),
        f"{req.name}-chain.pem": chain_pem(ctx, req.name),
        "root-ca.crl": ctx.bundle.read(ROOT_CRL),
        **trust_kit(root_cert(ctx)),
    }
    result = ctx.export(media, export_folder(req, ctx.log.ceremony_id), files)
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
        preview=_preview,
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
