"""The offline/online loop: init-intermediate writes a CSR to media; after the signing
ceremony import-intermediate installs the certificate (key match, CA flags, chain to root)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.audit.eventlog import Actor
from ceremony.online.hierarchy import make_ca_certificate
from ceremony.online.service import ServiceOptions, open_service
from tests.online.conftest import cli
from tests.online.helpers import make_csr


def _root(tmp_path: Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = make_ca_certificate(subject, key.public_key(), None, key, now, 365, 1)
    path = tmp_path / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, path


def _sign(
    csr_path: Path,
    root: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    out: Path,
    ca: bool = True,
) -> Path:
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    now = dt.datetime.now(dt.UTC)
    pub = csr.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    cert = make_ca_certificate(csr.subject, pub, root, key, now, 200, 0 if ca else None)
    out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


def test_init_sign_import_issue(tmp_path: Path) -> None:
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
    csr_path = media / "online-intermediate.csr"
    pending = list(data.rglob("pending/*"))
    assert any(p.name == "key.ref" for p in pending), "the key was made in the token"
    assert not any(p.name.endswith(".pem") and "key" in p.name for p in pending)
    r = cli("init-intermediate", "--data", str(data), "--out", str(media))
    assert r.returncode == 2 and "pending intermediate key exists" in r.stderr

    root, root_key, root_path = _root(tmp_path, "Root A")
    other_root, other_key, other_path = _root(tmp_path, "Root B")
    # refused: signed by another root than the one given
    bad = _sign(csr_path, other_root, other_key, tmp_path / "bad.pem")
    r = cli(
        "import-intermediate", "--data", str(data), "--cert", str(bad), "--root", str(root_path)
    )
    assert r.returncode == 2 and "does not chain" in r.stderr
    # refused: a certificate for another key
    stranger, _ = make_csr([], cn="x")
    (tmp_path / "s.csr").write_bytes(stranger)
    wrong = _sign(tmp_path / "s.csr", root, root_key, tmp_path / "wrong.pem")
    r = cli(
        "import-intermediate", "--data", str(data), "--cert", str(wrong), "--root", str(root_path)
    )
    assert r.returncode == 2 and "does not match the pending" in r.stderr

    good = _sign(csr_path, root, root_key, tmp_path / "good.pem")
    r = cli(
        "import-intermediate", "--data", str(data), "--cert", str(good), "--root", str(root_path)
    )
    assert r.returncode == 0, r.stderr
    refs = [p.read_text() for p in data.rglob("key.ref")]
    assert any(r.startswith("pkcs11:") and "intermediate-" in r for r in refs)
    svc = open_service(ServiceOptions(data=data, bootstrap=False))
    try:
        pem, _ = make_csr(["svc.a.test"])
        issued = svc.issuance.issue_csr(pem, "tls-server", Actor("t", "api-token"))
        leaf = x509.load_der_x509_certificate(issued.der)
        inter = x509.load_pem_x509_certificate(good.read_bytes())
        leaf.verify_directly_issued_by(inter)
        inter.verify_directly_issued_by(root)
    finally:
        svc.close()
    # a second intermediate under a different root is refused
    r = cli("init-intermediate", "--data", str(data), "--out", str(media / "2"))
    assert r.returncode == 0, r.stderr
    second = _sign(
        media / "2" / "online-intermediate.csr", other_root, other_key, tmp_path / "second.pem"
    )
    r = cli(
        "import-intermediate", "--data", str(data), "--cert", str(second), "--root", str(other_path)
    )
    assert r.returncode == 2 and "differs from the data folder's root" in r.stderr
