"""Validate whole, then act: every check that can refuse a ceremony's inputs.

Each function here runs before the ceremony's transcript opens and before any
file or token object is made, so a refusal leaves nothing behind. The CLI
calls them first; the wizard calls them before its first commit page.

- :func:`root_ceremony`: the ceremony file as a whole for this mode (quorums,
  validity relations between root, CRL and intermediates, the lint of every
  certificate and CRL the ceremony will sign, signed with throwaway keys of the
  same types), and the HSM (no token of that label yet, a free slot).
- :func:`signing_request`, :func:`crl_request`, :func:`recovery_target`: the
  inputs of the later ceremonies (see their modules for the request types).
"""

from __future__ import annotations

import datetime as dt
import secrets

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ceremony import text
from ceremony.backup.shares import ShareSetParams
from ceremony.bundle import Bundle
from ceremony.config.ceremonyfile import CeremonyFile, Kind
from ceremony.errors import HsmError, InputError, PolicyError
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.module import Hsm
from ceremony.x509 import build


def software_key(algorithm: KeyAlgorithm) -> build.PrivateKey:
    """A throwaway software key of ``algorithm``, for lint certificates only."""
    if algorithm is KeyAlgorithm.ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm is KeyAlgorithm.ECDSA_P384:
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm is KeyAlgorithm.RSA_3072:
        return rsa.generate_private_key(65537, 3072)
    if algorithm is KeyAlgorithm.RSA_4096:
        return rsa.generate_private_key(65537, 4096)
    return ed25519.Ed25519PrivateKey.generate()


def lint_serial() -> int:
    """A serial of the same form as the HSM's (0x01 and 128 random bits)."""
    return build.serial_from_random(secrets.token_bytes(16))


def quorums(d: CeremonyFile, rehearsal: bool) -> None:
    """The activation and backup share sets the ceremony will make are allowed in this mode
    (an hsm-native backup makes no backup shares)."""
    try:
        ShareSetParams(d.activation.threshold, d.activation.shares, rehearsal=rehearsal)
    except InputError as ex:
        raise PolicyError(
            f"activation {d.activation.threshold} of {d.activation.shares}: {ex.message}"
        ) from None
    if d.native_backup is not None:
        return  # no recovery shares: the HSM vendor's means hold the backup
    try:
        if d.backup_groups:
            ShareSetParams.two_level(d.backup_group_threshold, d.backup_groups, rehearsal=rehearsal)
        else:
            ShareSetParams(d.backup.threshold, d.backup.shares, rehearsal=rehearsal)
    except InputError as ex:
        raise PolicyError(
            f"backup {d.backup.threshold} of {d.backup.shares}: {ex.message}"
        ) from None


def validity(d: CeremonyFile) -> None:
    """Every CRL and intermediate the root signs must fit inside the root's validity."""
    root_days = d.root.validity_days
    if d.crl.validity_days > root_days:
        raise PolicyError(
            f"crl.validity_days {d.crl.validity_days} is longer than root.validity_days"
            f" {root_days}: no CRL could be signed (a CRL must expire before its root)"
        )
    if d.intermediate.validity_days > root_days:
        raise PolicyError(
            f"intermediate.validity_days {d.intermediate.validity_days} is longer than"
            f" root.validity_days {root_days}: no intermediate could be signed"
        )


def prelint_root(d: CeremonyFile, now: dt.datetime | None = None) -> None:
    """Lint what the root ceremony signs, and an intermediate of the profile, with throwaway
    keys of the ceremony's key types: the same TBS the HSM will sign, but for key and serial."""
    from ceremony.flow.root import SIGNER_ALGORITHM

    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    root_key = software_key(d.key_algorithm)
    root_pub = root_key.public_key()
    builder = build.root_builder(d.root, root_pub, lint_serial(), now)
    root, _ = build.prelint_certificate("root certificate", builder, root_pub, d.skips, root_key)
    signer_pub = software_key(SIGNER_ALGORITHM).public_key()
    builder = build.document_signer_builder(d.signer, signer_pub, root, lint_serial(), now)
    build.prelint_certificate(
        "transcript-signing certificate", builder, root_pub, d.skips, root_key
    )
    crl = build.crl_builder(root, 1, now, d.crl.validity_days, [])
    build.prelint_crl("root CRL 1", crl, root_pub, d.skips)
    attrs = [a for a in d.root.subject.name() if a.oid != NameOID.COMMON_NAME]
    subject = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, "Profile check CA")])
    builder = build.intermediate_builder(
        d.intermediate,
        subject,
        software_key(KeyAlgorithm.ECDSA_P256).public_key(),
        root,
        lint_serial(),
        now,
    )
    build.prelint_certificate("intermediate profile", builder, root_pub, d.skips, root_key)


def root_ceremony(
    d: CeremonyFile, rehearsal: bool, hsm: Hsm | None = None, bundle: Bundle | None = None
) -> None:
    """Everything that can refuse a root ceremony, before its bundle folder is made.

    ``bundle``: the bundle of an interrupted root ceremony being resumed (its token may
    exist then); ``hsm``: the module the ceremony will use, checked for a token of the
    ceremony's label, a free slot and what the ceremony needs of it (``None``: a rehearsal
    on the embedded SoftHSM2, checked for wrapping the root key type).

    :raises InputError: naming the input and the reason.
    """
    if d.kind is not Kind.ROOT:
        raise InputError(
            f"ceremony.kind {d.kind.value!r}: `ceremony root` runs a ceremony file of kind"
            f" 'root'; a {d.kind.value} ceremony runs with `ceremony {_command(d.kind)}`"
        )
    quorums(d, rehearsal)
    validity(d)
    prelint_root(d)
    resuming = bundle is not None and bundle.latest_transcript("root") is not None
    if hsm is not None and not resuming:
        if hsm.has_token(d.token_label):
            raise InputError(
                f"token.label {d.token_label!r}: a token with that label exists already on"
                f" {hsm.module_path}; the root ceremony initializes a new token"
            )
        if not hsm.has_free_slot():
            raise InputError(
                f"{hsm.module_path}: no uninitialized token to initialize as"
                f" {d.token_label!r} (every slot's token is in use)"
            )
        from ceremony.flow.keyprotection import check_token_offers

        check_token_offers(hsm, d)
    elif hsm is None and not resuming:  # a rehearsal on the embedded SoftHSM2
        from ceremony.flow.keyprotection import check_softhsm_wraps

        if d.protected_authentication_path:
            raise HsmError(
                "SoftHSM2 takes its PIN from this host (no protected authentication path), but"
                " the ceremony file says [token] protected_authentication_path = true"
            )
        if d.native_backup is None:
            check_softhsm_wraps(d.key_algorithm)


def _command(kind: Kind) -> str:
    return {Kind.SIGN_CSR: "sign-csr", Kind.CRL: "crl", Kind.RECOVERY: "restore"}.get(
        kind, kind.value
    )


def recovery_target(hsm: Hsm, label: str, resuming: bool) -> None:
    """The token a recovery restores into: a valid label no token carries yet."""
    text.check_token_label(label, "--to-token")
    if not resuming and hsm.has_token(label):
        raise InputError(
            f"token label {label!r}: a token with that label exists already; recover into a"
            " new token"
        )
    if not resuming and not hsm.has_free_slot():
        raise InputError(f"{hsm.module_path}: no uninitialized token to restore into")
