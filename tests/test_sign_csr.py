"""The intermediate signing ceremony through the CLI: bad CSRs, good CSRs, media faults."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceremony.hsm.module import SoftHsmHome
from ceremony.x509 import lint
from tests.helpers import assert_refused, run_cli
from tests.test_csr_corpus import BAD, GENERATOR

# root-key.csr, issued-key.csr and root-name.csr name the generator's own software root; against
# a bundle the same refusals are shown by the bundle's sample CSR, whose key is already certified,
# and by a CSR that takes the bundle root's name.
CLI_BAD = sorted(set(BAD) - {"root-key.csr", "issued-key.csr", "root-name.csr"})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, GENERATOR, out], check=True, capture_output=True)
    subprocess.run(
        [sys.executable, GENERATOR, out / "good", "--good"], check=True, capture_output=True
    )
    return out


@pytest.fixture(scope="module")
def signing_bundle(demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("signing") / "bundle"
    shutil.copytree(demo_bundle, dst)
    SoftHsmHome(dst / "rehearsal").ensure()
    return dst


def _state(bundle: Path) -> list[str]:
    return sorted(
        p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if "rehearsal" not in p.parts
    )


@pytest.mark.parametrize("name", CLI_BAD)
def test_bad_csr_is_refused_and_nothing_is_issued(
    name: str, corpus: Path, demo_bundle: Path, tmp_path: Path
) -> None:
    before = _state(demo_bundle)
    r = run_cli("sign-csr", demo_bundle, corpus / name, "--name", "refused")
    assert_refused(r, 2, name, BAD[name][1])
    assert _state(demo_bundle) == before


def test_a_key_already_issued_is_refused(demo_bundle: Path) -> None:
    sample = Path(__file__).resolve().parent.parent / "ceremony/data/sample-intermediate.csr"
    before = _state(demo_bundle)
    r = run_cli("sign-csr", demo_bundle, sample, "--name", "again")
    assert_refused(r, 2, "already certified")
    assert _state(demo_bundle) == before


def test_a_csr_with_the_roots_own_name_is_refused(demo_bundle: Path, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    root = x509.load_pem_x509_certificate((demo_bundle / "root/root-ca.pem").read_bytes())
    upper = x509.Name(
        [x509.NameAttribute(a.oid, str(a.value).upper()) for rdn in root.subject.rdns for a in rdn]
    )
    for i, subject in enumerate([root.subject, upper]):
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(subject)
            .sign(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384())
        )
        path = tmp_path / f"root-name-{i}.csr"
        path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        before = _state(demo_bundle)
        r = run_cli("sign-csr", demo_bundle, path, "--name", "impostor")
        assert_refused(r, 2, path.name, "the root's own name")
        assert _state(demo_bundle) == before


def test_missing_csr_file_and_taken_name(demo_bundle: Path, corpus: Path, tmp_path: Path) -> None:
    assert_refused(
        run_cli("sign-csr", demo_bundle, tmp_path / "none.csr"), 2, "none.csr", "not found"
    )
    r = run_cli("sign-csr", demo_bundle, corpus / "good/p256.csr", "--name", "sample-intermediate")
    assert_refused(r, 2, "sample-intermediate", "exists already")
    r = run_cli("sign-csr", demo_bundle, corpus / "good/p256.csr", "--name", "Bad Name!")
    assert_refused(r, 2, "Bad Name!", "lowercase")


@pytest.mark.parametrize("name", ["rsa-3072.csr", "rsa-4096.csr", "p256.csr", "p384.csr"])
def test_good_csr_chain_validates_and_lints_clean(
    name: str, corpus: Path, signing_bundle: Path, tmp_path: Path
) -> None:
    media = tmp_path / "usb"
    media.mkdir()
    label = name.removesuffix(".csr")
    r = run_cli(
        "sign-csr", signing_bundle, corpus / "good" / name, "--name", label, "--media", media
    )
    assert r.returncode == 0, r.stderr
    cert = signing_bundle / f"issued/{label}.pem"
    [folder] = list(media.iterdir())
    ok = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            signing_bundle / "root/root-ca.pem",
            "-untrusted",
            folder / f"{label}-chain.pem",
            cert,
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    sums = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout
    assert (folder / "trust-kit/INSTALL.txt").read_text().count("update-ca") == 2
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)
    assert lint.blocking(lint.lint_certificate(der)) == []
    assert run_cli("verify", signing_bundle).returncode == 0


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "stick"
    mount.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mount], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", mount], check=False)


def test_read_only_media_fails_cleanly_then_the_ceremony_resumes(
    tmpfs: Path, corpus: Path, bundle_copy: Path, tmp_path: Path
) -> None:
    subprocess.run(["mount", "-o", "remount,ro", tmpfs], check=True)
    r = run_cli(
        "sign-csr", bundle_copy, corpus / "good/p256.csr", "--name", "ops", "--media", tmpfs
    )
    assert_refused(r, 3, "read-only")
    assert list(tmpfs.iterdir()) == []
    good = tmp_path / "usb2"
    good.mkdir()
    r = run_cli("sign-csr", bundle_copy, corpus / "good/p256.csr", "--name", "ops", "--media", good)
    assert r.returncode == 0, r.stderr
    events = [
        json.loads(x)
        for x in sorted((bundle_copy / "transcripts").glob("*-sign-csr"))[-1]
        .joinpath("events.jsonl")
        .read_text()
        .splitlines()
    ]
    assert [e["step"] for e in events if e["event"] == "step"].count("intermediate.sign") == 1
    assert run_cli("verify", bundle_copy).returncode == 0


def test_full_media_leaves_no_partial_file(tmpfs: Path, corpus: Path, bundle_copy: Path) -> None:
    (tmpfs / "filler").write_bytes(b"x" * 60_000)
    r = run_cli(
        "sign-csr", bundle_copy, corpus / "good/rsa-4096.csr", "--name", "ops", "--media", tmpfs
    )
    assert_refused(r, 3)
    assert sorted(p.name for p in tmpfs.iterdir()) == ["filler"]
