"""The offline/online loop for the issuing CA key.

1. ``init-intermediate``: a new key generated inside the data folder's
   PKCS#11 token (SoftHSM2; a software key in the pending area only where no
   PKCS#11 module is installed) and its CSR, signed in the token, written to a
   media folder.
2. The signing ceremony (``ceremony sign-csr``) signs the CSR with the root.
3. ``import-intermediate``: checks the signed certificate matches the pending
   key, is a CA certificate allowed to sign certificates and CRLs, is valid
   now, and chains to the given root; then installs it as the active issuer.
   A data folder already holding a root refuses a different root.
"""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ceremony.errors import InputError
from ceremony.hsm import attributes
from ceremony.media.atomic import write_new
from ceremony.online.config import DataFolder, OnlineConfig, load_config, render_config
from ceremony.online.hierarchy import (
    install_issuer,
    load_pem_certs,
    new_folder_config,
    pem,
    token_issuing_key,
)
from ceremony.online.issuer import hash_for
from ceremony.online.keystore import KeyRef, generate_software_key, load_key, write_software_key

PENDING_KEY = "key.pem"
PENDING_REF = "key.ref"
PENDING_CSR = "request.csr"
KEY_ATTRIBUTES = "key-attributes.json"
"""The token key's protection attributes as read back after generation (non-secret)."""
CSR_NAME = "online-intermediate.csr"


def init_intermediate(data: Path, out: Path, common_name: str, key_type: str) -> Path:
    """Create the pending key and write its CSR to ``out``; return the CSR path."""
    folder = DataFolder(data)
    folder.check_usable()
    if not common_name or len(common_name) > 64:
        raise InputError(f"--subject {common_name!r}: 1 to 64 characters")
    if folder.pending.exists():
        raise InputError(
            f"{folder.pending}: a pending intermediate key exists; import its certificate first"
        )
    if not out.is_dir():
        raise InputError(f"--out {out}: not a folder (the media folder must exist)")
    if (out / CSR_NAME).exists():
        raise InputError(
            f"--out {out / CSR_NAME}: exists already; move it away or use another media folder"
        )
    config = load_config(folder.config) if folder.config.exists() else new_folder_config()
    folder.create()
    label = f"intermediate-{datetime.now(UTC):%Y%m%d%H%M%S}"
    token = token_issuing_key(folder, label, key_type)
    folder.pending.mkdir(parents=True, mode=0o700)
    if token is not None:
        key, ref, attrs = token
        write_new(folder.pending / PENDING_REF, (ref.render() + "\n").encode())
        write_new(
            folder.pending / KEY_ATTRIBUTES,
            (json.dumps(attrs, indent=2, sort_keys=True) + "\n").encode(),
        )
    else:
        key = generate_software_key(key_type)
        write_software_key(folder.pending / PENDING_KEY, key)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hash_for(key))
    )
    data_pem = csr.public_bytes(serialization.Encoding.PEM)
    write_new(folder.pending / PENDING_CSR, data_pem)
    if not folder.config.exists():
        write_new(folder.config, render_config(config).encode())
    target = out / CSR_NAME
    write_new(target, data_pem)
    return target


def key_protection_summary(data: Path) -> str:
    """The pending token key's protection attributes, one line (empty for a software key)."""
    path = DataFolder(data).pending / KEY_ATTRIBUTES
    if not path.exists():
        return ""
    attrs = json.loads(path.read_text())
    shown = ("CKA_EXTRACTABLE", "CKA_NEVER_EXTRACTABLE", "CKA_WRAP_WITH_TRUSTED", "CKA_MODIFIABLE")
    return ", ".join(f"{a}={attributes.value_text(attrs.get(a))}" for a in shown)


def _check_ca(cert: x509.Certificate, what: str, now: datetime) -> None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as ex:
        raise InputError(f"{what}: lacks basicConstraints or keyUsage") from ex
    if not bc.ca:
        raise InputError(f"{what}: not a CA certificate (basicConstraints cA is false)")
    if not ku.key_cert_sign or not ku.crl_sign:
        raise InputError(f"{what}: keyUsage must include keyCertSign and cRLSign")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise InputError(f"{what}: not valid now")


def import_intermediate(
    data: Path, cert_path: Path, root_path: Path, chain_path: Path | None
) -> str:
    folder = DataFolder(data)
    key_path = folder.pending / PENDING_KEY
    ref_path = folder.pending / PENDING_REF
    if not key_path.exists() and not ref_path.exists():
        raise InputError(f"{folder.pending}: no pending key; run init-intermediate first")
    certs = load_pem_certs(cert_path)
    if len(certs) != 1:
        raise InputError(f"{cert_path}: must hold exactly one certificate")
    cert = certs[0]
    root = load_pem_certs(root_path)[0]
    chain = load_pem_certs(chain_path) if chain_path else []
    now = datetime.now(UTC)
    if ref_path.exists():
        token_ref = KeyRef.parse(ref_path.read_text(), str(ref_path))
        key = load_key(token_ref, folder.pending, str(ref_path), data_root=folder.root)
    else:
        token_ref = None
        key = load_key(KeyRef("file", {"path": PENDING_KEY}), folder.pending, str(key_path))
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise InputError(f"{cert_path}: does not match the pending intermediate key")
    _check_ca(cert, str(cert_path), now)
    path = [cert, *chain, root]
    for child, parent in itertools.pairwise(path):
        try:
            child.verify_directly_issued_by(parent)
        except (InvalidSignature, ValueError, TypeError) as ex:
            raise InputError(
                f"{cert_path}: does not chain to {root_path}: "
                f"{child.subject.rfc4514_string()} not signed by {parent.subject.rfc4514_string()}"
            ) from ex
    for c in chain:
        _check_ca(c, f"{chain_path}", now)
    if root.issuer != root.subject:
        raise InputError(f"{root_path}: not a self-signed root")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise InputError(f"{key_path}: unsupported key")
    if folder.root_cert.exists():
        if load_pem_certs(folder.root_cert)[0] != root:
            raise InputError(f"{root_path}: differs from the data folder's root {folder.root_cert}")
    else:
        write_new(folder.root_cert, pem(root))
    config: OnlineConfig = load_config(folder.config)
    issuer_id = install_issuer(
        folder,
        cert,
        [*chain, root],
        token_ref or KeyRef("file", {"path": "key.pem"}),
        config.service.crl_shards,
        key_file=None if token_ref else ("key.pem", key_path.read_bytes()),
    )
    attributes = folder.pending / KEY_ATTRIBUTES
    if attributes.exists():
        write_new(folder.issuer_dir(issuer_id) / KEY_ATTRIBUTES, attributes.read_bytes())
    shutil.rmtree(folder.pending)
    return issuer_id
