"""Issuers of a data folder: load them, install one, make a key in the data folder's token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from ceremony.errors import ConfigError, HsmError, InputError
from ceremony.media.atomic import write_new
from ceremony.online.config import AcmeSettings, DataFolder, OnlineConfig
from ceremony.online.db.engine import Database
from ceremony.online.db.models import Issuer
from ceremony.online.issuer import IssuingCa, SigningKey, issuer_id_of
from ceremony.online.keystore import KeyLoader, KeyRef, load_key
from ceremony.online.profiles import default_profiles


def load_pem_certs(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as ex:
        raise InputError(f"{path}: cannot be read: {ex.strerror}") from ex
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as ex:
        raise InputError(f"{path}: not PEM certificates") from ex
    return certs


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class LoadedIssuers:
    active: IssuingCa
    all: dict[str, IssuingCa]
    root: x509.Certificate


def load_issuers(folder: DataFolder, crl_shards: int) -> LoadedIssuers:
    """Every issuer in ``ca/issuers/`` whose key loads; the one named in ``ca/active``."""
    try:
        active_id = folder.active.read_text().strip()
    except OSError as ex:
        if folder.pending.exists():
            raise InputError(
                f"--data {folder.root}: no issuer yet, its intermediate key waits for its "
                "certificate: ceremony-online import-intermediate --data "
                f"{folder.root} --cert FILE --root FILE"
            ) from ex
        raise InputError(f"{folder.active}: no active issuer: {ex.strerror}") from ex
    root = load_pem_certs(folder.root_cert)[0]
    issuers: dict[str, IssuingCa] = {}
    keys = KeyLoader()  # one module load and session for every key of a token
    for d in sorted(folder.issuers.iterdir()) if folder.issuers.exists() else []:
        if not d.is_dir():
            continue
        cert = load_pem_certs(d / "certificate.pem")[0]
        chain_file = d / "chain.pem"
        chain = tuple(load_pem_certs(chain_file)) if chain_file.exists() else (root,)
        ref_file = d / "key.ref"
        where = str(ref_file)
        try:
            ref = KeyRef.parse(ref_file.read_text(), where)
        except OSError as ex:
            raise InputError(f"{ref_file}: cannot be read: {ex.strerror}") from ex
        shards_file = d / "crl-shards"
        shards = int(shards_file.read_text()) if shards_file.exists() else crl_shards
        key = keys.load(ref, d, where, data_root=folder.root)
        issuers[d.name] = IssuingCa(cert, chain, key, shards)
    if active_id not in issuers:
        raise ConfigError(
            f"{folder.active}: active issuer {active_id!r} is not in {folder.issuers}"
        )
    return LoadedIssuers(active=issuers[active_id], all=issuers, root=root)


def install_issuer(
    folder: DataFolder,
    cert: x509.Certificate,
    chain: list[x509.Certificate],
    key_ref: KeyRef,
    crl_shards: int,
    key_file: tuple[str, bytes] | None = None,
) -> str:
    """Write an issuer folder (never overwriting) and make it the active issuer."""
    issuer_id = issuer_id_of(cert)
    d = folder.issuer_dir(issuer_id)
    if d.exists():
        raise InputError(f"{d}: an issuer with this key is installed already")
    d.mkdir(parents=True)
    if key_file is not None:
        write_new(d / key_file[0], key_file[1], mode=0o600)
    write_new(d / "certificate.pem", pem(cert))
    write_new(d / "chain.pem", pem(*chain))
    write_new(d / "key.ref", (key_ref.render() + "\n").encode())
    write_new(d / "crl-shards", f"{crl_shards}\n".encode())
    tmp = folder.active.with_name(".active.tmp")
    tmp.write_text(issuer_id + "\n")
    tmp.replace(folder.active)
    return issuer_id


def register_issuers(
    db: Database, issuers: dict[str, IssuingCa], active: str, now: datetime
) -> None:
    """Make the ``issuers`` table match the loaded issuers (insert missing, mark active)."""
    with db.write() as session:
        known = {i.id: i for i in session.execute(select(Issuer)).scalars()}
        for issuer_id, ca in issuers.items():
            row = known.get(issuer_id)
            if row is None:
                row = Issuer(
                    id=issuer_id,
                    subject=ca.certificate.subject.rfc4514_string(),
                    cert_der=ca.certificate.public_bytes(serialization.Encoding.DER),
                    chain_pem=pem(*ca.chain).decode(),
                    key_ref="(data folder)",
                    crl_shards=ca.crl_shards,
                    created_at=now,
                )
                session.add(row)
            elif row.crl_shards != ca.crl_shards:
                raise ConfigError(
                    f"issuer {issuer_id}: CRL shard count changed from {row.crl_shards} to "
                    f"{ca.crl_shards}; shards are fixed once certificates point to them"
                )
            row.active = issuer_id == active
        for issuer_id, row in known.items():
            if issuer_id not in issuers:
                row.active = False


TOKEN_LABEL = "ceremony-online"
SOFTHSM_DIR = "softhsm"
PIN_FILE = "rehearsal/online-token.pin"


def token_issuing_key(
    folder: DataFolder, label: str, algorithm: str = "ecdsa-p256"
) -> tuple[SigningKey, KeyRef, dict[str, bool | None]] | None:
    """A key generated in the data folder's SoftHSM2 token (made on first use; its PIN in
    ``rehearsal/``), with its private key attributes read back; None without SoftHSM2.

    The key is non-extractable and read-only from birth and carries CKA_WRAP_WITH_TRUSTED
    (:mod:`ceremony.hsm.protection`): nobody with the PIN can take it out of the token.
    """
    from ceremony.hsm.keys import KeyAlgorithm, generate_protected
    from ceremony.hsm.module import Hsm, default_module_path, pin_text
    from ceremony.hsm.protection import FULL

    try:
        default_module_path()
    except HsmError:
        return None
    hsm = Hsm(softhsm_home=folder.root / SOFTHSM_DIR)
    if TOKEN_LABEL in hsm.labels():
        user_pin = (folder.root / PIN_FILE).read_text().strip()
    else:
        pins = hsm.init_token(TOKEN_LABEL)
        user_pin = pin_text(pins.user_secret)
        (folder.root / PIN_FILE).parent.mkdir(parents=True, exist_ok=True)
        write_new(folder.root / PIN_FILE, (user_pin + "\n").encode(), mode=0o600)
    with hsm.session(TOKEN_LABEL, user_pin) as session:
        _ref, attrs = generate_protected(
            session, label, KeyAlgorithm.parse(algorithm), FULL, extractable=False
        )
    ref = KeyRef(
        "pkcs11",
        {"token": TOKEN_LABEL, "object": label, "softhsm": SOFTHSM_DIR, "pin-file": PIN_FILE},
    )
    key = load_key(ref, folder.root, "rehearsal bootstrap", data_root=folder.root)
    return key, ref, attrs


def rehearsal_config() -> OnlineConfig:
    return OnlineConfig(profiles=default_profiles())


def new_folder_config() -> OnlineConfig:
    """What ``init-intermediate`` writes into a data folder that has no ``online.toml``:
    the default profiles, and ACME accounts only with an external account binding (an
    operator opens ACME to anyone by writing ``eab_required = false``)."""
    return OnlineConfig(acme=AcmeSettings(eab_required=True), profiles=default_profiles())
