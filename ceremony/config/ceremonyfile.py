"""The ceremony definition: a TOML file reviewed before the ceremony.

It holds no secret and no HSM locator (module path, token folder), so the
file rehearsed on SoftHSM2 is byte-identical to the one used for real. Its
SHA-256 is read aloud as hex and PGP words. See :data:`EXAMPLE` for the
format; :func:`parse` refuses unknown keys, wrong types and missing fields
naming the key; :func:`render` writes the canonical text back.
"""

from __future__ import annotations

import enum
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ceremony import pgpwords, text
from ceremony.config.strict import Table
from ceremony.errors import ConfigError, InputError, PolicyError
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.protection import WEAKENABLE
from ceremony.x509.profiles import (
    INTERMEDIATE_EKUS,
    CrlProfile,
    DocumentSignerProfile,
    IntermediateProfile,
    RootProfile,
    SubjectSpec,
)

MAX_FILE_BYTES = 256 * 1024


class Role(enum.Enum):
    ADMINISTRATOR = "ceremony-administrator"
    WITNESS = "witness"
    CUSTODIAN = "custodian"
    OPERATOR = "operator"
    AUDITOR = "auditor"


class Kind(enum.Enum):
    ROOT = "root"
    SIGN_CSR = "sign-csr"
    CRL = "crl"
    RECOVERY = "recovery"


@dataclass(frozen=True)
class Participant:
    name: str
    role: Role

    def __post_init__(self) -> None:
        text.check(self.name, "participant name", text.PERSON_MAX, error=ConfigError)


@dataclass(frozen=True)
class Quorum:
    """M of N: ``threshold`` custodians out of ``shares``."""

    threshold: int
    shares: int

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= self.shares <= 16:
            raise PolicyError(f"quorum {self.threshold} of {self.shares}: need 1 <= M <= N <= 16")


@dataclass(frozen=True)
class LintSkip:
    code: str
    reason: str

    def __post_init__(self) -> None:
        if not self.code or not self.code.isascii() or not self.code.isprintable():
            raise ConfigError(f"lint skip code {self.code!r}: must be a pkilint finding code")
        if not self.reason.strip():
            raise ConfigError(f"lint skip {self.code}: a reason is required")
        text.check(self.reason, f"lint skip {self.code} reason", 500, error=ConfigError)


@dataclass(frozen=True)
class AcceptedWeakness:
    """A key protection the token does not give, accepted by the reviewed file with a reason
    (recorded as an exception in the ceremony's log)."""

    attribute: str
    reason: str

    def __post_init__(self) -> None:
        if self.attribute not in WEAKENABLE:
            raise ConfigError(
                f"key_protection.accept attribute {self.attribute!r}: not one of"
                f" {', '.join(WEAKENABLE)}"
            )
        if not self.reason.strip():
            raise ConfigError(f"key_protection.accept {self.attribute}: a reason is required")
        what = f"key_protection.accept {self.attribute} reason"
        text.check(self.reason, what, 500, error=ConfigError)


class BackupMethod(enum.Enum):
    SPLIT_WRAP = "split-wrap"
    """The root key wrapped once under a random AES-256 key split into SLIP-39 shares."""
    HSM_NATIVE = "hsm-native"
    """The root key non-extractable from birth, backed up by the HSM vendor's own means."""


@dataclass(frozen=True)
class NativeBackup:
    """An HSM-native backup: the vendor's procedure, witnessed, run by the credential holders."""

    device: str
    """What the backup device is (model), as the auditor should find it."""
    device_serial: str
    """The backup device's serial number, checked on the device in the room."""
    credential_holders: tuple[str, ...]
    """Participants who hold the backup device's credentials (names as in participants)."""
    procedure: str
    """The vendor's backup procedure, step by step: shown and followed in the ceremony."""
    drill_token: str
    """The label under which the backup device presents the key for the restore drill."""

    def __post_init__(self) -> None:
        text.check(self.device, "backup.device", text.PLACE_MAX, error=ConfigError)
        text.check(self.device_serial, "backup.device_serial", 64, error=ConfigError)
        if not self.procedure.strip():
            raise ConfigError("backup.procedure: the vendor's backup procedure is required")
        if len(self.procedure) > 20000:
            raise ConfigError("backup.procedure: longer than 20000 characters")
        if any(not (c.isprintable() or c in "\n\t") for c in self.procedure):
            raise ConfigError("backup.procedure: control characters are not allowed")
        if not self.credential_holders:
            raise ConfigError("backup.credential_holders: name who holds the device's credentials")
        try:
            text.check_token_label(self.drill_token, "backup.drill_token")
        except InputError as ex:
            raise ConfigError(ex.message) from None


@dataclass(frozen=True)
class CeremonyFile:
    """A parsed, validated ceremony definition."""

    kind: Kind
    name: str
    place: str
    participants: tuple[Participant, ...]
    token_label: str
    key_algorithm: KeyAlgorithm
    key_label: str
    root: RootProfile
    signer: DocumentSignerProfile
    signer_key_label: str
    crl: CrlProfile
    activation: Quorum
    backup: Quorum
    backup_passphrase: bool
    backup_groups: tuple[tuple[int, int], ...] = ()
    """Two-level SLIP-39 backup: (member threshold, member count) per group; () for one level."""
    backup_group_threshold: int = 1
    intermediate: IntermediateProfile = field(default=IntermediateProfile(validity_days=1826))
    lint_skips: tuple[LintSkip, ...] = field(default=())
    key_protection_accept: tuple[AcceptedWeakness, ...] = field(default=())
    """Weaker key protection states the file accepts where the token refuses the stronger."""
    protected_authentication_path: bool = False
    """``[token] protected_authentication_path = true``: the token logs in on its own PIN pad
    or PED; no PIN comes from this host and the activation quorum protects nothing (the
    file says so, the ceremony records it)."""
    native_backup: NativeBackup | None = None
    """Set for ``[backup] method = "hsm-native"`` (then ``backup`` counts the credential
    holders and no SLIP-39 recovery shares exist)."""

    @property
    def backup_method(self) -> BackupMethod:
        return BackupMethod.SPLIT_WRAP if self.native_backup is None else BackupMethod.HSM_NATIVE

    def __post_init__(self) -> None:
        text.check(self.name, "ceremony.name", text.PLACE_MAX, error=ConfigError)
        text.check(self.place, "ceremony.place", text.PLACE_MAX, error=ConfigError)
        try:
            text.check_token_label(self.token_label, "token.label")
            text.check_key_label(self.key_label, "root.key_label")
            text.check_key_label(self.signer_key_label, "transcript_signer.key_label")
        except InputError as ex:
            raise ConfigError(ex.message) from None
        roles = [p.role for p in self.participants]
        if Role.ADMINISTRATOR not in roles:
            raise PolicyError("participants: a ceremony-administrator is required")
        if Role.WITNESS not in roles:
            raise PolicyError("participants: a witness is required")
        custodians = roles.count(Role.CUSTODIAN)
        if self.backup_groups:
            from ceremony.backup.shares import ShareSetParams

            params = ShareSetParams.two_level(self.backup_group_threshold, self.backup_groups)
            if (params.threshold, params.count) != (self.backup.threshold, self.backup.shares):
                raise PolicyError(
                    f"backup groups: {params.count} shares, any {params.threshold} at the fewest;"
                    f" backup.threshold and backup.shares say {self.backup.threshold} of "
                    f"{self.backup.shares}"
                )
        quorums = [("activation", self.activation)]
        if self.native_backup is None:
            quorums.append(("backup", self.backup))
        else:
            if text.same_label(self.native_backup.drill_token, self.token_label):
                raise ConfigError(
                    f"backup.drill_token {self.token_label!r}: names the root key's own token;"
                    " the restore drill signs on the backup device's token"
                )
            names = {p.name for p in self.participants}
            for holder in self.native_backup.credential_holders:
                if holder not in names:
                    raise ConfigError(
                        f"backup.credential_holders: {holder!r} is not one of the participants"
                    )
        for what, q in quorums:
            if q.shares != custodians:
                raise PolicyError(
                    f"{what}.shares {q.shares}: must equal the number of custodians ({custodians})"
                )
        seen: dict[str, str] = {}
        for p in self.participants:
            other = seen.get(text.name_key(p.name))
            seen[text.name_key(p.name)] = p.name
            if other is not None:
                raise ConfigError(
                    f"participants: {other!r} and {p.name!r} are the same name; every"
                    " participant needs a name of their own"
                )
        if self.key_label == self.signer_key_label:
            raise ConfigError("root.key_label and transcript_signer.key_label must differ")

    @property
    def custodians(self) -> tuple[Participant, ...]:
        return tuple(p for p in self.participants if p.role is Role.CUSTODIAN)

    def by_role(self, role: Role) -> Participant:
        return next(p for p in self.participants if p.role is role)

    @property
    def skips(self) -> dict[str, str]:
        return {s.code: s.reason for s in self.lint_skips}

    @property
    def accepted_weaknesses(self) -> dict[str, str]:
        """Attribute name to the reason the file gives for accepting its weaker state."""
        return {a.attribute: a.reason for a in self.key_protection_accept}


def file_digest(data: bytes) -> tuple[str, str]:
    """SHA-256 of the file as hex and as PGP words."""
    d = hashlib.sha256(data).digest()
    return d.hex(), pgpwords.words(d)


def load(path: Path) -> tuple[CeremonyFile, bytes]:
    from ceremony.media.inputs import read_input

    data = read_input(path, "ceremony file", MAX_FILE_BYTES)
    return parse(data, str(path)), data


def parse(data: bytes, source: str = "ceremony file") -> CeremonyFile:
    """The validated definition in ``data``.

    :raises ConfigError: or another :class:`InputError`, its message starting with ``source``.
    """
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as ex:
        raise ConfigError(f"{source}: not valid TOML: {ex}") from None
    try:
        return _parse(doc, source)
    except InputError as ex:
        if ex.message.startswith(f"{source}:"):
            raise
        raise type(ex)(f"{source}: {ex.message}") from None


def _parse(doc: dict[str, object], source: str) -> CeremonyFile:
    top = Table(source, "", doc)
    cer = top.table("ceremony")
    kind_text = cer.get("kind", str)
    try:
        kind = Kind(kind_text)
    except ValueError:
        raise ConfigError(
            f"{source}: ceremony.kind {kind_text!r} is not one of "
            f"{', '.join(k.value for k in Kind)}"
        ) from None
    name = cer.get("name", str)
    place = cer.get("place", str)
    cer.done()

    participants = []
    for t in top.tables("participants"):
        role_text = t.get("role", str)
        try:
            role = Role(role_text)
        except ValueError:
            raise ConfigError(
                f"{source}: {t.path}.role {role_text!r} is not one of "
                f"{', '.join(r.value for r in Role)}"
            ) from None
        participants.append(Participant(t.get("name", str), role))
        t.done()

    tok = top.table("token")
    token_label = tok.get("label", str)
    protected_path = tok.get("protected_authentication_path", bool, False)
    tok.done()

    r = top.table("root")
    key_algorithm = KeyAlgorithm.parse(r.get("key", str))
    key_label = r.get("key_label", str)
    root = RootProfile(
        subject=SubjectSpec(
            common_name=r.get("common_name", str),
            organization=r.get("organization", str, ""),
            country=r.get("country", str, ""),
        ),
        validity_days=r.get("validity_days", int),
        path_length=r.optional("path_length", int),
    )
    r.done()

    s = top.table("transcript_signer")
    signer = DocumentSignerProfile(
        subject=SubjectSpec(
            common_name=s.get("common_name", str),
            organization=root.subject.organization,
            country=root.subject.country,
        ),
        validity_days=s.get("validity_days", int),
    )
    signer_key_label = s.get("key_label", str)
    s.done()

    c = top.table("crl")
    crl = CrlProfile(validity_days=c.get("validity_days", int))
    c.done()

    a = top.table("activation")
    activation = Quorum(a.get("threshold", int), a.get("shares", int))
    a.done()
    b = top.table("backup")
    method = b.get("method", str, BackupMethod.SPLIT_WRAP.value)
    try:
        backup_method = BackupMethod(method)
    except ValueError:
        raise ConfigError(
            f"{source}: backup.method {method!r} is not one of"
            f" {', '.join(m.value for m in BackupMethod)}"
        ) from None
    native = None
    if backup_method is BackupMethod.HSM_NATIVE:
        native = _native(b, source)
    groups = _groups(b) if native is None else ()
    group_threshold = b.get("group_threshold", int, 1)
    if groups:
        from ceremony.backup.shares import ShareSetParams

        derived = ShareSetParams.two_level(group_threshold, groups)
        backup = Quorum(
            b.get("threshold", int, derived.threshold), b.get("shares", int, derived.count)
        )
    elif native is not None:
        backup = Quorum(len(native.credential_holders), len(native.credential_holders))
    else:
        backup = Quorum(b.get("threshold", int), b.get("shares", int))
    passphrase = b.get("passphrase", bool, False) if native is None else False
    b.done()

    i = top.table("intermediate", required=False)
    intermediate = IntermediateProfile(
        validity_days=i.get("validity_days", int, 1826),
        path_length=i.get("path_length", int, 0),
        crl_url=i.get("crl_url", str, ""),
        issuer_url=i.get("issuer_url", str, ""),
        policy_oids=tuple(_strings(i, "policy_oids")),
        ekus=tuple(_strings(i, "ekus", list(INTERMEDIATE_EKUS))),
        permitted_dns=tuple(_strings(i, "permitted_dns")),
        excluded_dns=tuple(_strings(i, "excluded_dns")),
    )
    i.done()

    lint = top.table("lint", required=False)
    skips = []
    for t in lint.tables("skip"):
        skips.append(LintSkip(t.get("code", str), t.get("reason", str)))
        t.done()
    lint.done()

    kp = top.table("key_protection", required=False)
    accepts = []
    for t in kp.tables("accept"):
        accepts.append(AcceptedWeakness(t.get("attribute", str), t.get("reason", str)))
        t.done()
    kp.done()
    top.done()
    return CeremonyFile(
        kind=kind,
        name=name,
        place=place,
        participants=tuple(participants),
        token_label=token_label,
        key_algorithm=key_algorithm,
        key_label=key_label,
        root=root,
        signer=signer,
        signer_key_label=signer_key_label,
        crl=crl,
        activation=activation,
        backup=backup,
        backup_passphrase=passphrase,
        backup_groups=groups,
        backup_group_threshold=group_threshold,
        intermediate=intermediate,
        lint_skips=tuple(skips),
        key_protection_accept=tuple(accepts),
        native_backup=native,
        protected_authentication_path=protected_path,
    )


def _native(b: Table, source: str) -> NativeBackup:
    for key in ("threshold", "shares", "passphrase", "groups", "group_threshold"):
        if b.has(key):
            raise ConfigError(
                f"{source}: key backup.{key} belongs to the split-wrap backup, not to"
                ' method = "hsm-native"'
            )
    holders = b.get("credential_holders", list)
    if not all(isinstance(h, str) for h in holders):
        raise ConfigError(f"{source}: key backup.credential_holders must be a list of names")
    return NativeBackup(
        device=b.get("device", str),
        device_serial=b.get("device_serial", str),
        credential_holders=tuple(str(h) for h in holders),
        procedure=b.get("procedure", str),
        drill_token=b.get("drill_token", str),
    )


def _groups(t: Table) -> tuple[tuple[int, int], ...]:
    raw = t.get("groups", list, [])
    out = []
    for g in raw:
        if not (
            isinstance(g, list)
            and len(g) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in g)
        ):
            raise ConfigError(
                f"{t.source}: key {t.path}.groups must be a list of [member threshold, members]"
            )
        out.append((int(g[0]), int(g[1])))
    return tuple(out)


def _strings(t: Table, key: str, default: list[str] | None = None) -> list[str]:
    values = t.get(key, list, [] if default is None else default)
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{t.source}: key {t.path}.{key} must be a list of strings")
    return [str(v) for v in values]


def _q(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    out = "".join(c if c.isprintable() else f"\\U{ord(c):08x}" for c in out)
    return f'"{out}"'


def render(cf: CeremonyFile) -> bytes:
    """The canonical text of a ceremony file; ``parse(render(cf)) == cf``."""
    lines = [
        "# Ceremony definition: reviewed before the ceremony, identical in rehearsal.",
        "[ceremony]",
        f"kind = {_q(cf.kind.value)}",
        f"name = {_q(cf.name)}",
        f"place = {_q(cf.place)}",
        "",
    ]
    for p in cf.participants:
        lines += ["[[participants]]", f"name = {_q(p.name)}", f"role = {_q(p.role.value)}", ""]
    subj = cf.root.subject
    lines += ["[token]", f"label = {_q(cf.token_label)}"]
    if cf.protected_authentication_path:
        lines.append("protected_authentication_path = true")
    lines += [
        "",
        "[root]",
        f"key = {_q(cf.key_algorithm.value)}",
        f"key_label = {_q(cf.key_label)}",
        f"common_name = {_q(subj.common_name)}",
        f"organization = {_q(subj.organization)}",
        f"country = {_q(subj.country)}",
        f"validity_days = {cf.root.validity_days}",
    ]
    if cf.root.path_length is not None:
        lines.append(f"path_length = {cf.root.path_length}")
    lines += [
        "",
        "[transcript_signer]",
        f"common_name = {_q(cf.signer.subject.common_name)}",
        f"key_label = {_q(cf.signer_key_label)}",
        f"validity_days = {cf.signer.validity_days}",
        "",
        "[crl]",
        f"validity_days = {cf.crl.validity_days}",
        "",
        "[activation]",
        f"threshold = {cf.activation.threshold}",
        f"shares = {cf.activation.shares}",
        "",
        "[backup]",
    ]
    native = cf.native_backup
    if native is None:
        lines += [
            f"threshold = {cf.backup.threshold}",
            f"shares = {cf.backup.shares}",
            f"passphrase = {'true' if cf.backup_passphrase else 'false'}",
        ]
    else:
        lines += [
            'method = "hsm-native"',
            f"device = {_q(native.device)}",
            f"device_serial = {_q(native.device_serial)}",
            "credential_holders = [" + ", ".join(_q(h) for h in native.credential_holders) + "]",
            f"drill_token = {_q(native.drill_token)}",
            f"procedure = {_q(native.procedure)}",
        ]
    if cf.backup_groups:
        lines += [
            f"group_threshold = {cf.backup_group_threshold}",
            "groups = [" + ", ".join(f"[{m}, {n}]" for m, n in cf.backup_groups) + "]",
        ]
    lines.append("")
    im = cf.intermediate
    lines += ["[intermediate]", f"validity_days = {im.validity_days}"]
    if im.path_length is not None:
        lines.append(f"path_length = {im.path_length}")
    for key, value in (("crl_url", im.crl_url), ("issuer_url", im.issuer_url)):
        if value:
            lines.append(f"{key} = {_q(value)}")
    lines.append(f"ekus = [{', '.join(_q(v) for v in im.ekus)}]")
    for key, values in (
        ("policy_oids", im.policy_oids),
        ("permitted_dns", im.permitted_dns),
        ("excluded_dns", im.excluded_dns),
    ):
        if values:
            lines.append(f"{key} = [{', '.join(_q(v) for v in values)}]")
    lines.append("")
    for s in cf.lint_skips:
        lines += ["[[lint.skip]]", f"code = {_q(s.code)}", f"reason = {_q(s.reason)}", ""]
    for a in cf.key_protection_accept:
        lines += [
            "[[key_protection.accept]]",
            f"attribute = {_q(a.attribute)}",
            f"reason = {_q(a.reason)}",
            "",
        ]
    return ("\n".join(lines)).encode()


REHEARSAL_NATIVE_PROCEDURE = """\
1. Connect the backup device to the ceremony machine; the witness reads its serial aloud.
2. The credential holders present their backup credentials to the device.
3. Start the vendor's clone (or backup) of the root key's token onto the backup device.
4. Check that the backup device reports the root key's label.
5. Disconnect the backup device and seal it in its tamper-evident bag."""
"""The vendor's procedure the rehearsal of an hsm-native backup follows (a model of one)."""


def rehearsal_definition(
    key: KeyAlgorithm = KeyAlgorithm.ECDSA_P384,
    threshold: int = 3,
    shares: int = 5,
    backup: BackupMethod = BackupMethod.SPLIT_WRAP,
) -> CeremonyFile:
    """The ceremony file ``ceremony demo`` writes and follows."""
    Quorum(threshold, shares)
    people = [
        Participant("Ada Administrator", Role.ADMINISTRATOR),
        Participant("Wim Witness", Role.WITNESS),
    ] + [Participant(f"Custodian {i}", Role.CUSTODIAN) for i in range(1, shares + 1)]
    native = None
    if backup is BackupMethod.HSM_NATIVE:
        native = NativeBackup(
            device="rehearsal backup device (a copy of the SoftHSM2 token)",
            device_serial="REHEARSAL-0001",
            credential_holders=("Ada Administrator", "Custodian 1"),
            procedure=REHEARSAL_NATIVE_PROCEDURE,
            drill_token="root-ca-backup",
        )
    subject = SubjectSpec("Example Rehearsal Root CA", "Example Org", "NL")
    return CeremonyFile(
        kind=Kind.ROOT,
        name="Rehearsal of the root key ceremony",
        place="Rehearsal room",
        participants=tuple(people),
        token_label="root-ca",
        key_algorithm=key,
        key_label="root-ca-key",
        root=RootProfile(subject=subject, validity_days=7305, path_length=1),
        signer=DocumentSignerProfile(
            SubjectSpec("Example Rehearsal Transcript Signer", "Example Org", "NL"), 3650
        ),
        signer_key_label="transcript-signer-key",
        crl=CrlProfile(validity_days=365),
        activation=Quorum(threshold, shares),
        backup=Quorum(threshold, shares) if native is None else Quorum(2, 2),
        backup_passphrase=False,
        intermediate=IntermediateProfile(
            validity_days=1826,
            path_length=0,
            crl_url="http://pki.example.test/root-ca.crl",
            issuer_url="http://pki.example.test/root-ca.der",
        ),
        native_backup=native,
    )
