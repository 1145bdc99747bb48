"""The offline/online loop with the real ceremony engine on both sides.

Bootstrap runs it unattended (root ceremony, then the signing ceremony of the
issuing CA's CSR); ``init-intermediate`` / ``ceremony sign-csr`` /
``import-intermediate`` run it by hand, with the refusals an operator can meet.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.audit.eventlog import Actor
from ceremony.online.config import DataFolder, load_config
from ceremony.online.rehearsal import ISSUING_CA_NAME, root_bundle
from ceremony.online.service import ServiceOptions, open_service
from tests.online.conftest import VENV_BIN, cli
from tests.online.helpers import make_csr, software_ca


def ceremony(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "ceremony"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def openssl_verify(root: Path, *chain: Path) -> None:
    untrusted = [a for p in chain[:-1] for a in ("-untrusted", str(p))]
    r = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", str(root), *untrusted, str(chain[-1])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr


def test_bootstrap_runs_the_root_and_signing_ceremonies(bootstrapped: Path) -> None:
    folder = DataFolder(bootstrapped)
    bundle = root_bundle(folder)
    r = ceremony("verify", str(bundle))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "online-issuing-ca.pem: signed by the root" in r.stdout
    root = bundle / "root" / "root-ca.pem"
    assert folder.root_cert.read_bytes() == root.read_bytes()
    (issuer,) = [d for d in folder.issuers.iterdir() if d.is_dir()]
    issued = bundle / "issued" / f"{ISSUING_CA_NAME}.pem"
    assert (issuer / "certificate.pem").read_bytes() == issued.read_bytes()
    assert folder.active.read_text().strip() == issuer.name
    assert (issuer / "key.ref").read_text().startswith("pkcs11:token=ceremony-online;")
    openssl_verify(root, issuer / "certificate.pem")
    for f in bootstrapped.rglob("*"):
        if f.is_file():
            assert b"PRIVATE KEY" not in f.read_bytes(), f"{f}: a private key in a file"
    assert not (bootstrapped / ".bootstrap").exists()


def test_interrupted_bootstrap_starts_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    left = data / ".bootstrap" / "softhsm"
    left.mkdir(parents=True)
    (left / "softhsm2.conf").write_text("left by a killed bootstrap\n")
    svc = open_service(ServiceOptions(data=data))
    try:
        pem, _ = make_csr(["after.crash.test"])
        svc.issuance.issue_csr(pem, "tls-server", Actor("t", "api-token"))
    finally:
        svc.close()
    assert not (data / ".bootstrap").exists()
    assert sorted(p.name for p in DataFolder(data).issuers.iterdir()) == [svc.loaded.active.id]


def test_init_sign_import_issue(tmp_path: Path, bootstrapped: Path) -> None:
    offline = tmp_path / "offline-bundle"
    shutil.copytree(root_bundle(DataFolder(bootstrapped)), offline, symlinks=True)
    root_path = offline / "root" / "root-ca.pem"
    data, media = tmp_path / "data", tmp_path / "media"
    media.mkdir()
    r = cli(
        "init-intermediate",
        "--data",
        str(data),
        "--out",
        str(media),
        "--subject",
        "Online Issuing CA 2026",
    )
    assert r.returncode == 0, r.stderr
    assert load_config(data / "online.toml").acme.eab_required  # a real CA: ACME only with EAB
    csr_path = media / "online-intermediate.csr"
    pending = list(data.rglob("pending/*"))
    assert any(p.name == "key.ref" for p in pending), "the key was made in the token"
    assert not any(p.name.endswith(".pem") and "key" in p.name for p in pending)
    r = cli("init-intermediate", "--data", str(data), "--out", str(media))
    assert r.returncode == 2 and "pending intermediate key exists" in r.stderr
    r = cli("token", "list", "--data", str(data))
    assert r.returncode == 2 and "ceremony-online import-intermediate --data" in r.stderr

    # refused: the right key, signed by a root other than the one given
    other_key = ec.generate_private_key(ec.SECP384R1())
    other_root = software_ca("Root B", other_key)
    other_path = tmp_path / "root-b.pem"
    other_path.write_bytes(other_root.public_bytes(serialization.Encoding.PEM))
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    bad = tmp_path / "bad.pem"
    bad.write_bytes(
        software_ca(
            "Online Issuing CA 2026", other_key, other_root, other_key, public
        ).public_bytes(serialization.Encoding.PEM)
    )
    r = cli(
        "import-intermediate", "--data", str(data), "--cert", str(bad), "--root", str(root_path)
    )
    assert r.returncode == 2 and "does not chain" in r.stderr

    # refused: signed by the right root in a signing ceremony, but for another key
    stranger, _ = make_csr([], cn="Stranger Issuing CA")
    (tmp_path / "stranger.csr").write_bytes(stranger)
    r = ceremony("sign-csr", str(offline), str(tmp_path / "stranger.csr"), "--name", "stranger")
    assert r.returncode == 0, r.stderr
    wrong = offline / "issued" / "stranger.pem"
    r = cli(
        "import-intermediate", "--data", str(data), "--cert", str(wrong), "--root", str(root_path)
    )
    assert r.returncode == 2 and "does not match the pending" in r.stderr

    r = ceremony("sign-csr", str(offline), str(csr_path), "--name", "online-2026")
    assert r.returncode == 0, r.stderr
    good = offline / "issued" / "online-2026.pem"
    r = cli(
        "import-intermediate", "--data", str(data), "--cert", str(good), "--root", str(root_path)
    )
    assert r.returncode == 0, r.stderr
    assert "restart every serve of this data folder" in r.stdout
    refs = [p.read_text() for p in data.rglob("key.ref")]
    assert any(r.startswith("pkcs11:") and "intermediate-" in r for r in refs)
    svc = open_service(ServiceOptions(data=data, bootstrap=False))
    try:
        pem, _ = make_csr(["svc.a.test"])
        issued = svc.issuance.issue_csr(pem, "tls-server", Actor("t", "api-token"))
    finally:
        svc.close()
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(
        x509.load_der_x509_certificate(issued.der).public_bytes(serialization.Encoding.PEM)
    )
    openssl_verify(root_path, good, leaf)
    r = ceremony("verify", str(offline))
    assert r.returncode == 0, r.stdout + r.stderr

    # a second intermediate under a different root is refused
    (media / "2").mkdir()
    r = cli("init-intermediate", "--data", str(data), "--out", str(media / "2"))
    assert r.returncode == 0, r.stderr
    second_csr = x509.load_pem_x509_csr((media / "2" / "online-intermediate.csr").read_bytes())
    second_public = second_csr.public_key()
    assert isinstance(second_public, ec.EllipticCurvePublicKey)
    second = tmp_path / "second.pem"
    second.write_bytes(
        software_ca("Second", other_key, other_root, other_key, second_public).public_bytes(
            serialization.Encoding.PEM
        )
    )
    r = cli(
        "import-intermediate", "--data", str(data), "--cert", str(second), "--root", str(other_path)
    )
    assert r.returncode == 2 and "differs from the data folder's root" in r.stderr
