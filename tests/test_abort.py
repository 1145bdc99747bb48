"""Close as aborted: the log ends with the reason, the transcript is signed, verify passes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ceremony import rehearsal
from ceremony.audit.eventlog import Actor
from ceremony.bundle import Bundle
from ceremony.errors import InputError
from ceremony.flow import abort, signcsr
from ceremony.flow.documents import CLOSERS
from ceremony.flow.engine import run_step
from ceremony.hsm.module import SoftHsmHome
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("abort") / "bundle"
    assert run_cli("demo", "--out", out).returncode == 0
    return out


def _csr() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Refused Issuing CA"),
        ]
    )
    key = ec.generate_private_key(ec.SECP384R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA384())
    return csr.public_bytes(serialization.Encoding.PEM)


def _copy(demo: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(demo, dst)
    SoftHsmHome(dst / "rehearsal").ensure()
    return dst


def test_a_signing_ceremony_closed_as_aborted_verifies(demo: Path, tmp_path: Path) -> None:
    folder = _copy(demo, tmp_path)
    bundle = Bundle(folder)
    request = signcsr.prepare_request(bundle, _csr(), "new.csr", "refused-ca")
    ctx, transcript = rehearsal.prepare(bundle, "sign-csr", absent=["Custodian 2"])
    ctx.state["request"] = request
    for step in signcsr.SIGN_STEPS[:3]:  # open, preflight, review
        run_step(ctx, step)
    with pytest.raises(InputError, match="reason is required"):
        abort.close_as_aborted(ctx, transcript, signcsr.SIGN_STEPS, CLOSERS, "  ")
    witness = ctx.actor()
    close = abort.close_as_aborted(
        ctx,
        transcript,
        signcsr.SIGN_STEPS,
        CLOSERS,
        "the CSR's   subject was not the one announced",
        Actor(witness.name, witness.role),
    )
    assert close["payload"]["aborted"] is True
    assert close["payload"]["reason"] == "the CSR's subject was not the one announced"
    assert close["payload"]["steps_done"] == ["ceremony.open", "preflight", "csr.review"]
    assert "activation" in close["payload"]["steps_not_run"]
    presented = close["payload"]["presented_by"]  # activated to sign the record
    assert len(presented) == 3 and "Custodian 2" not in presented
    events = [json.loads(x) for x in (transcript / "events.jsonl").read_text().splitlines()]
    assert events[-2]["event"] == "exception"
    assert "ceremony aborted" in events[-2]["payload"]["description"]
    assert (transcript / "transcript.pdf").is_file()
    assert not (folder / "issued/refused-ca.pem").exists()
    assert bundle.open_transcript("sign-csr") is None
    v = run_cli("verify", folder)
    assert v.returncode == 0, v.stdout
