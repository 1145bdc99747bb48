"""CPS appendix: RFC 3647 sections, every field and extension, fingerprints, determinism.

PNGs of every page land in ``artifacts/cps/`` for a reviewer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.audit.cps import (
    FINGERPRINTS_NAME,
    BackupFacts,
    CeremonyRecord,
    CpsFacts,
    HsmInfo,
    KeyGeneration,
    Quorum,
    Role,
    render_cps_appendix,
)
from ceremony.audit.pdfverify import embedded_file
from ceremony.audit.x509text import extension_rows, fingerprint, oid_name
from tests.helpers import ARTIFACTS
from tests.test_transcript_render import (
    T0,
    assert_within_margins,
    issue,
    make_crl,
    make_root,
    page_count,
    pdf_text,
    render_pages,
    squeeze,
)

CUSTODIANS = ("Carol Custodian", "Dmitri Müller-Lüdenscheidt", "Erin Eng", "Femi Falade", "Gu Hao")


def make_facts(*, issuing_cas: int = 2) -> CpsFacts:
    root_key, root = make_root()
    issued = [
        issue(
            root_key,
            root,
            ec.generate_private_key(ec.SECP384R1()).public_key(),
            f"Example Issuing CA {n}",
            ca=True,
        )
        for n in range(1, issuing_cas + 1)
    ]
    issued.append(
        issue(
            root_key,
            root,
            ec.generate_private_key(ec.SECP384R1()).public_key(),
            "Example Transcript Signer",
            ca=False,
        )
    )
    crl = make_crl(root_key, root, revoked=issued[0].serial_number)
    return CpsFacts(
        ca_name="Example Trust Services Root Hierarchy",
        root=root,
        issued=tuple(issued),
        crl=crl,
        roles=(
            Role("ceremony administrator", ("Alice Administrator",), "Runs the script."),
            Role("internal witness", ("Walter Witness",), "Records every deviation."),
            Role("crypto officer", CUSTODIANS, "Holds one activation share each."),
        ),
        quorums=(
            Quorum("HSM activation (user PIN)", 3, 5, CUSTODIANS),
            Quorum("Root key backup recovery", 3, 5, CUSTODIANS),
        ),
        key_generation=KeyGeneration(
            ceremony_id="ROOT-2026-001",
            generated_at=T0 + timedelta(minutes=12),
            hsm=HsmInfo("SoftHSM project", "SoftHSM v2", "1f2e3d4c5b6a7980", "2.6", "root-ca"),
            key_label="root-ca-key",
            witnesses=("Walter Witness", "Carol Custodian"),
        ),
        key_protection=(
            "CKA_TOKEN, CKA_PRIVATE and CKA_SENSITIVE are true",
            "CKA_EXTRACTABLE only to wrap the key for the backup",
        ),
        backup=BackupFacts(
            scheme="SLIP-39 shares of a random AES-256 wrapping key",
            threshold=3,
            shares=5,
            wrap_mechanism="CKM_AES_KEY_WRAP_PAD",
            check_value="9f86d081884c7d65",
            share_set_id="31337",
        ),
        ceremonies=(
            CeremonyRecord(
                1,
                "root",
                "ROOT-2026-001",
                T0 + timedelta(minutes=30),
                "transcripts/001-root/transcript.pdf",
                hashlib.sha256(b"transcript 1").hexdigest(),
            ),
            CeremonyRecord(
                2,
                "sign-csr",
                "SIGN-2026-002",
                T0 + timedelta(days=40),
                "transcripts/002-sign-csr/transcript.pdf",
                hashlib.sha256(b"transcript 2").hexdigest(),
            ),
        ),
        generated_at=T0 + timedelta(days=40),
        software_version="0.1.0",
        rehearsal=True,
    )


@pytest.fixture(scope="module")
def facts() -> CpsFacts:
    return make_facts()


def test_same_facts_give_identical_bytes(facts: CpsFacts) -> None:
    first = render_cps_appendix(facts)
    make_facts()
    assert render_cps_appendix(facts) == first
    assert b"D:20250224090000" in first


def test_appendix_shows_sections_profiles_and_fingerprints(facts: CpsFacts, tmp_path: Path) -> None:
    pdf = tmp_path / "cps-appendix.pdf"
    pdf.write_bytes(render_cps_appendix(facts))
    raw = squeeze(pdf_text(pdf, "-raw"))
    for heading in (
        "1.3PKIparticipants",
        "5.2Proceduralcontrols",
        "5.2.2Numberofpersonsrequiredpertask",
        "6.1Keypairgenerationandinstallation",
        "6.2Privatekeyprotection",
        "6.2.4Privatekeybackup",
        "6.3.2Certificateoperationalperiods",
        "7.1Certificateprofiles",
        "7.2CRLprofile",
        "Fingerprints",
        "Ceremoniesandtheirtranscripts",
        "6.2.7Privatekeystorage",
    ):
        assert heading in raw, heading
    for cert in (facts.root, *facts.issued):
        assert fingerprint(cert) in raw
        for ext, criticality, _ in extension_rows(cert.extensions):
            assert squeeze(ext + criticality) in raw, ext
    assert facts.crl is not None
    assert fingerprint(facts.crl) in raw
    assert "keyCompromise" in raw
    for name in CUSTODIANS:
        assert squeeze(name) in raw
    for c in facts.ceremonies:
        assert c.transcript_sha256 in raw
        assert squeeze(c.transcript) in raw
    assert "3of5" in raw
    kg = facts.key_generation
    for fact in (kg.hsm.manufacturer, kg.hsm.model, kg.hsm.serial, kg.hsm.firmware, "ECDSAP-384"):
        assert squeeze(fact) in raw
    assert "384bits" in raw
    backup = facts.backup
    assert backup is not None
    assert backup.wrap_mechanism in raw and backup.check_value in raw
    assert "documentSigning" in raw
    assert oid_name(facts.root.signature_algorithm_oid) in raw

    assert_within_margins(pdf)
    pages = page_count(pdf)
    for n in range(1, pages + 1):
        assert "REHEARSAL" in pdf_text(pdf, "-f", str(n), "-l", str(n)), f"page {n}"
    pngs = render_pages(pdf, ARTIFACTS / "cps")
    assert len(pngs) == pages


def test_hierarchy_draws_every_certificate(tmp_path: Path) -> None:
    many = make_facts(issuing_cas=6)
    pdf = tmp_path / "cps.pdf"
    pdf.write_bytes(render_cps_appendix(many))
    first_pages = squeeze(pdf_text(pdf, "-raw", "-l", "2"))
    for cert in (many.root, *many.issued):
        cn = cert.subject.rfc4514_string().split(",")[0].removeprefix("CN=")
        assert squeeze(cn) in first_pages


def test_attached_fingerprints_match_the_objects(facts: CpsFacts) -> None:
    data = embedded_file(render_cps_appendix(facts), FINGERPRINTS_NAME)
    assert data is not None
    doc = json.loads(data)
    assert [c["sha256"] for c in doc["certificates"]] == [
        fingerprint(c) for c in (facts.root, *facts.issued)
    ]
    assert facts.crl is not None
    assert doc["crl"]["sha256"] == fingerprint(facts.crl)
    assert doc["transcripts"] == [
        {"path": c.transcript, "sha256": c.transcript_sha256} for c in facts.ceremonies
    ]


def test_without_crl_backup_or_ceremonies(facts: CpsFacts, tmp_path: Path) -> None:
    bare = replace(facts, crl=None, backup=None, ceremonies=(), roles=(), quorums=())
    pdf = tmp_path / "bare.pdf"
    pdf.write_bytes(render_cps_appendix(bare))
    raw = squeeze(pdf_text(pdf, "-raw"))
    assert "NoCRLhasbeenissuedyet" in raw
    assert "Therootkeyhasnobackup" in raw


def test_facts_validate_eagerly(facts: CpsFacts) -> None:
    with pytest.raises(TypeError, match="root"):
        replace(facts, root=cast(Any, "not a certificate"))
    with pytest.raises(ValueError, match="threshold"):
        Quorum("activation", 4, 3)
    with pytest.raises(ValueError, match="threshold"):
        BackupFacts("SLIP-39", 0, 5, "CKM_AES_KEY_WRAP_PAD", "00", "1")
