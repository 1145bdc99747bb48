"""The ceremony wizard's headless core: which page comes next, and the session it drives.

Electrum's model: the navigation is a table (:attr:`Navigator.navmap`) from a
view to the view that follows it, given what was chosen so far
(:class:`Choices`, an immutable snapshot kept on a stack for Back). The Qt
layer in ``ui/`` only attaches a page to each view; every path is tested
without Qt (``tests/test_wizard_flow.py``).

The pages follow the ceremony's own steps: after the chooser, the bundle
set-up, the resume offer and the sign-in, there is one page per step of the
flow (:class:`ceremony.flow.engine.Step`) that the event log does not show as
done, then the summary. A step added to a ceremony's step list gets its page
without any change here or in ``ui/``.

:class:`CeremonySession` is what the pages call: it creates the bundle, loads
the PKCS#11 module, opens the event log and runs one step at a time. It is
called from one worker thread; the flow asks its questions through the
:class:`ceremony.flow.prompts.Prompter` the wizard gives it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ceremony import pgpwords, software
from ceremony.audit.eventlog import Actor, read_events
from ceremony.bundle import CEREMONY_FILE, REHEARSAL, Bundle
from ceremony.config import ceremonyfile
from ceremony.config.ceremonyfile import CeremonyFile, Participant, Role
from ceremony.errors import CeremonyError, InputError, ShareError
from ceremony.flow import preflight
from ceremony.flow.ceremonies import Closer, load_definition, open_context, start_bundle
from ceremony.flow.engine import Context, Step, run_step
from ceremony.flow.prompts import Prompter
from ceremony.hsm.keys import KeyAlgorithm
from ceremony.hsm.module import Hsm, default_module_path

SYS_NET = Path("/sys/class/net")
"""Where the network interfaces are read; tests pass a fake tree."""


# ------------------------------------------------------------------ plans


@dataclass(frozen=True)
class CeremonyPlan:
    """A ceremony the wizard offers: its steps come from the flow, lazily."""

    kind: str
    """Transcript kind, as in ``transcripts/NNN-<kind>``."""
    title: str
    description: str
    steps_factory: Callable[[], Sequence[Step]] | None = None
    """The flow's steps in order; None while the core does not provide the ceremony."""
    closers_factory: Callable[[], Sequence[Closer]] = tuple
    """Run after the last step, before the manifest (transcript PDFs, CPS appendix)."""
    creates_bundle: bool = False
    """True for the root ceremony: it starts a new bundle; the others need a finished root."""
    inputs: tuple[View, ...] = ()
    """Pages that collect this ceremony's input before it opens (a CSR, a revocation)."""

    @property
    def available(self) -> bool:
        return self.steps_factory is not None

    def steps(self) -> list[Step]:
        if self.steps_factory is None:
            raise InputError(f"{self.title}: not available yet in this version")
        return list(self.steps_factory())

    def step(self, name: str) -> Step:
        for s in self.steps():
            if s.name == name:
                return s
        raise KeyError(name)

    def closers(self) -> list[Closer]:
        return list(self.closers_factory())


def _script(kind: str) -> Callable[[], Sequence[Step]]:
    def steps() -> Sequence[Step]:
        from ceremony.flow import scripts

        return scripts.BY_KIND[kind]

    return steps


def _closers() -> Sequence[Closer]:
    from ceremony.flow.documents import CLOSERS

    return CLOSERS


class View(enum.Enum):
    """The kinds of wizard page."""

    CHOOSE = "choose"
    SETUP = "setup"
    CSR = "csr"
    REVOCATION = "revocation"
    RESUME = "resume"
    PARTICIPANTS = "participants"
    PREFLIGHT = "preflight"
    STEP = "step"
    SUMMARY = "summary"


def default_plans() -> dict[str, CeremonyPlan]:
    """The ceremonies of this version, in the order the chooser lists them."""
    plans = [
        CeremonyPlan(
            "root",
            "New root CA",
            "Initialize the HSM token, generate the root key and self-signed certificate, "
            "hand out activation and recovery shares, prove the backup, sign the first CRL.",
            _script("root"),
            _closers,
            creates_bundle=True,
        ),
        CeremonyPlan(
            "sign-csr",
            "Intermediate signing",
            "Sign an intermediate CA's certificate request with the root key.",
            _script("sign-csr"),
            _closers,
            inputs=(View.CSR,),
        ),
        CeremonyPlan(
            "crl",
            "CRL and revocation",
            "Sign the next root CRL, optionally revoking an intermediate.",
            _script("crl"),
            _closers,
            inputs=(View.REVOCATION,),
        ),
        CeremonyPlan(
            "recovery",
            "Recovery",
            "Rebuild the root key into a new token from M recovery shares, prove it against "
            "the root certificate, certify a new transcript-signing key.",
            _script("recovery"),
            _closers,
        ),
    ]
    return {p.kind: p for p in plans}


# ------------------------------------------------------------- navigation

OWNED_STEPS: Mapping[str, View] = {"ceremony.open": View.PARTICIPANTS, "preflight": View.PREFLIGHT}
"""Steps run by a page of their own (sign-in, preflight) rather than a generic step page."""

BEFORE_START = frozenset(
    {
        View.CHOOSE,
        View.SETUP,
        View.CSR,
        View.REVOCATION,
        View.RESUME,
        View.PARTICIPANTS,
        View.PREFLIGHT,
    }
)
"""Views where Back is allowed, until the ceremony log is opened."""


@dataclass(frozen=True)
class Page:
    """One wizard page: a view, and for step pages the step's name."""

    view: View
    step: str | None = None

    @property
    def key(self) -> str:
        return f"step:{self.step}" if self.view is View.STEP else self.view.value


@dataclass(frozen=True)
class Choices:
    """What the wizard knows so far (Electrum's ``wizard_data``), as an immutable snapshot."""

    kind: str = "root"
    rehearsal: bool = True
    bundle: Path | None = None
    key: KeyAlgorithm = KeyAlgorithm.ECDSA_P384
    """New rehearsal: the root key type."""
    threshold: int = 3
    """New rehearsal: M, custodians needed to activate or recover."""
    shares: int = 5
    """New rehearsal: N, the number of custodians."""
    definition_file: Path | None = None
    """New real ceremony: the reviewed ceremony file."""
    module_path: str | None = None
    """PKCS#11 module; None for the default (SoftHSM2)."""
    resume: bool = False
    """The bundle holds an open ceremony of ``kind`` and the room chose to continue it."""
    started: bool = False
    """The ceremony log was opened by this session: no going back."""
    steps: tuple[str, ...] = ()
    """The plan's step names, in order."""
    done: frozenset[str] = frozenset()
    """Steps the event log shows as done."""

    def with_done(self, step: str) -> Choices:
        return replace(self, done=self.done | {step})

    def pending_pages(self) -> list[str]:
        """Steps still to run on a step page of their own, in order."""
        return [s for s in self.steps if s not in self.done and s not in OWNED_STEPS]


NextFn = Callable[[Page, Choices], Page]


@dataclass(frozen=True)
class NavEntry:
    next: NextFn | None
    last: bool = False


class Navigator:
    """Decides the page after each page; keeps the stack of visited pages for Back."""

    def __init__(self, plans: Mapping[str, CeremonyPlan] | None = None) -> None:
        self.plans = dict(plans if plans is not None else default_plans())
        self._stack: list[tuple[Page, Choices]] = []
        self.navmap: dict[View, NavEntry] = {
            View.CHOOSE: NavEntry(lambda p, d: Page(View.SETUP)),
            View.SETUP: NavEntry(self._after_setup),
            View.RESUME: NavEntry(lambda p, d: self._first_input(d)),
            View.CSR: NavEntry(self._after_input),
            View.REVOCATION: NavEntry(self._after_input),
            View.PARTICIPANTS: NavEntry(lambda p, d: Page(View.PREFLIGHT)),
            View.PREFLIGHT: NavEntry(lambda p, d: self._next_step(None, d)),
            View.STEP: NavEntry(lambda p, d: self._next_step(p.step, d)),
            View.SUMMARY: NavEntry(None, last=True),
        }

    # -- the table's decisions

    def plan(self, data: Choices) -> CeremonyPlan:
        return self.plans[data.kind]

    def _after_setup(self, page: Page, data: Choices) -> Page:
        return Page(View.RESUME) if data.resume else self._first_input(data)

    def _first_input(self, data: Choices) -> Page:
        inputs = self.plan(data).inputs
        return Page(inputs[0]) if inputs else Page(View.PARTICIPANTS)

    def _after_input(self, page: Page, data: Choices) -> Page:
        inputs = list(self.plan(data).inputs)
        i = inputs.index(page.view)
        return Page(inputs[i + 1]) if i + 1 < len(inputs) else Page(View.PARTICIPANTS)

    def _next_step(self, after: str | None, data: Choices) -> Page:
        pending = data.pending_pages()
        if after is not None and after in data.steps:
            position = data.steps.index(after)
            pending = [s for s in pending if data.steps.index(s) > position]
        return Page(View.STEP, pending[0]) if pending else Page(View.SUMMARY)

    # -- Electrum's resolve_next / resolve_prev

    def start(self, data: Choices | None = None) -> Page:
        self._stack = [(Page(View.CHOOSE), data or Choices())]
        return self._stack[-1][0]

    @property
    def current(self) -> Page:
        return self._stack[-1][0]

    @property
    def data(self) -> Choices:
        return self._stack[-1][1]

    def update(self, data: Choices) -> None:
        """Replace what the current page knows (after it ran its step, say)."""
        page, _ = self._stack[-1]
        self._stack[-1] = (page, data)

    def resolve_next(self, data: Choices | None = None) -> Page:
        """Move forward from the current page with ``data``; return the new page."""
        data = data if data is not None else self.data
        page = self.current
        entry = self.navmap[page.view]
        if entry.next is None:
            raise ValueError(f"{page.key}: is the last page")
        following = entry.next(page, data)
        self._stack.append((following, data))
        return following

    def can_go_back(self) -> bool:
        if len(self._stack) < 2 or self.data.started:
            return False
        return self.current.view in BEFORE_START and self._stack[-2][0].view in BEFORE_START

    def resolve_prev(self) -> Page:
        if not self.can_go_back():
            raise ValueError(f"{self.current.key}: cannot go back from here")
        self._stack.pop()
        return self.current

    def is_last(self, page: Page | None = None) -> bool:
        return self.navmap[(page or self.current).view].last

    def is_commit(self, page: Page | None = None) -> bool:
        """True for the page of an irreversible step (shown as a commit page)."""
        page = page or self.current
        if page.view is not View.STEP or page.step is None:
            return False
        return self.plan(self.data).step(page.step).commit

    def history(self) -> list[str]:
        return [p.key for p, _ in self._stack]


# ---------------------------------------------------------------- bundles


@dataclass(frozen=True)
class BundleProbe:
    """What a chosen bundle folder holds, for the set-up and resume pages."""

    path: Path
    has_definition: bool = False
    rehearsal: bool = False
    open_transcript: Path | None = None
    done: tuple[str, ...] = ()
    """Steps recorded in the open transcript, in order."""
    last_time: str | None = None
    problem: str | None = None
    """Why this folder cannot be used for the chosen ceremony; None when it can."""

    @property
    def resumable(self) -> bool:
        return self.problem is None and self.open_transcript is not None

    @property
    def last_step(self) -> str | None:
        return self.done[-1] if self.done else None


def _closed(bundle: Bundle, kind: str) -> bool:
    return bundle.latest_transcript(kind) is not None and bundle.open_transcript(kind) is None


def probe_bundle(path: Path, plan: CeremonyPlan, rehearsal: bool) -> BundleProbe:
    """Check ``path`` for ``plan`` in the chosen mode; find an open ceremony to resume."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        return BundleProbe(path, problem=f"{path}: exists and is not a folder")
    bundle = Bundle(path)
    has_definition = bundle.exists(CEREMONY_FILE)
    is_rehearsal = bundle.is_rehearsal
    if not has_definition:
        if not plan.creates_bundle:
            return BundleProbe(path, problem=f"{path}: holds no bundle (no {CEREMONY_FILE})")
        if path.exists() and any(path.iterdir()):
            return BundleProbe(path, problem=f"{path}: folder is not empty and holds no ceremony")
        return BundleProbe(path, rehearsal=rehearsal)
    if is_rehearsal != rehearsal:
        want = "a rehearsal" if rehearsal else "a real ceremony"
        have = "a rehearsal bundle" if is_rehearsal else "a real ceremony's bundle"
        return BundleProbe(path, True, is_rehearsal, problem=f"{path}: {have}, not {want}")
    if not plan.creates_bundle and not _closed(bundle, "root"):
        return BundleProbe(
            path, True, is_rehearsal, problem=f"{path}: its root ceremony is not complete"
        )
    if plan.creates_bundle and _closed(bundle, plan.kind):
        return BundleProbe(
            path,
            True,
            is_rehearsal,
            problem=f"{path}: its root ceremony is complete; choose a new folder",
        )
    folder = bundle.open_transcript(plan.kind)
    done: list[str] = []
    last_time = None
    if folder is not None and (folder / "events.jsonl").exists():
        try:
            events = list(read_events(folder / "events.jsonl"))
        except CeremonyError as ex:
            return BundleProbe(path, True, is_rehearsal, problem=ex.message)
        done = [e["step"] for e in events if e.get("event") == "step"]
        last_time = str(events[-1]["time"]) if events else None
    return BundleProbe(path, True, is_rehearsal, folder, tuple(done), last_time)


def open_ceremony(folder: Path, plans: Mapping[str, CeremonyPlan] | None = None) -> str | None:
    """The kind of the ceremony left open in ``folder`` (to offer resuming it), or None."""
    bundle = Bundle(Path(folder))
    if not bundle.exists(CEREMONY_FILE):
        return None
    for kind, plan in (plans or default_plans()).items():
        if plan.available and bundle.open_transcript(kind) is not None:
            return kind
    return None


def rehearsal_draft(
    key: KeyAlgorithm = KeyAlgorithm.ECDSA_P384, threshold: int = 3, shares: int = 5
) -> CeremonyFile:
    """The ceremony file a new rehearsal starts from (``ceremony demo``'s)."""
    return ceremonyfile.rehearsal_definition(key, threshold, shares)


def replace_participants(cf: CeremonyFile, names: Sequence[str]) -> CeremonyFile:
    """``cf`` with its participants renamed in order, roles kept (rehearsal sign-in).

    :raises InputError: a name is empty, too long or given twice.
    """
    if len(names) != len(cf.participants):
        raise ValueError(f"names: {len(names)} given for {len(cf.participants)} participants")
    people = tuple(
        Participant(n.strip(), p.role) for n, p in zip(names, cf.participants, strict=True)
    )
    return replace(cf, participants=people)


def definition_digest(data: bytes) -> tuple[str, str]:
    """SHA-256 of a ceremony file as hex and PGP words, read aloud at sign-in."""
    return ceremonyfile.file_digest(data)


@dataclass(frozen=True)
class Draft:
    """The ceremony file the room signs in to: its exact bytes and where they come from."""

    definition: CeremonyFile
    data: bytes
    source: str
    editable: bool
    """A new rehearsal: participants' names may be typed at sign-in."""
    new: bool
    """The bundle does not hold it yet: the sign-in writes it."""

    @property
    def digest(self) -> tuple[str, str]:
        return definition_digest(self.data)

    def renamed(self, names: Sequence[str]) -> Draft:
        """The draft with the participants renamed (a new rehearsal only).

        :raises InputError: a name is empty, too long or given twice.
        """
        if not self.editable:
            raise InputError(f"{self.source}: the participants come from the reviewed file")
        cf = replace_participants(self.definition, names)
        return replace(self, definition=cf, data=ceremonyfile.render(cf))


def draft_for(data: Choices, plan: CeremonyPlan) -> Draft:
    """The ceremony file for the chosen bundle: the bundle's own, a reviewed file, or a
    new rehearsal's.

    :raises InputError: the file is missing, malformed, or of another kind.
    """
    if data.bundle is None:
        raise InputError("no bundle folder chosen")
    bundle = Bundle(data.bundle)
    if bundle.exists(CEREMONY_FILE):
        raw = bundle.read(CEREMONY_FILE)
        cf = ceremonyfile.parse(raw, str(bundle.path(CEREMONY_FILE)))
        return Draft(cf, raw, str(bundle.path(CEREMONY_FILE)), editable=False, new=False)
    if not plan.creates_bundle:
        raise InputError(f"{data.bundle}: holds no ceremony file")
    if data.rehearsal:
        cf = rehearsal_draft(data.key, data.threshold, data.shares)
        return Draft(
            cf, ceremonyfile.render(cf), "new rehearsal ceremony file", editable=True, new=True
        )
    if data.definition_file is None:
        raise InputError("a real ceremony needs the reviewed ceremony file")
    cf, raw = ceremonyfile.load(data.definition_file)
    if cf.kind.value != plan.kind:
        raise InputError(
            f"{data.definition_file}: ceremony kind {cf.kind.value!r}, expected {plan.kind!r}"
        )
    return Draft(cf, raw, str(data.definition_file), editable=False, new=True)


# --------------------------------------------------------------- preflight


@dataclass(frozen=True)
class TokenFacts:
    label: str
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HsmReport:
    module_path: str
    description: str = ""
    tokens: tuple[TokenFacts, ...] = ()
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class PreflightReport:
    """What the preflight page shows before the preflight step records it."""

    interfaces: tuple[preflight.Interface, ...]
    network_up: tuple[str, ...]
    rehearsal: bool
    software_version: str
    software_hash: str
    software_words: str
    hsm: HsmReport

    @property
    def network_refusal(self) -> str | None:
        """The reason a real ceremony may not go on, or None."""
        if self.network_up and not self.rehearsal:
            return (
                f"network interface {', '.join(self.network_up)} is up: a real ceremony runs "
                "air-gapped. Unplug the cable or bring the interface down, then check again."
            )
        return None

    @property
    def network_warning(self) -> str | None:
        if self.network_up and self.rehearsal:
            return (
                f"network interface {', '.join(self.network_up)} is up. Accepted for a "
                "rehearsal and recorded in the log; a real ceremony refuses."
            )
        return None

    @property
    def ready(self) -> bool:
        return self.network_refusal is None and self.hsm.ok


def software_words() -> tuple[str, str]:
    digest = software.package_hash()
    return digest, pgpwords.words(bytes.fromhex(digest))


# ----------------------------------------------------------- step results


@dataclass(frozen=True)
class CertificateReview:
    """A certificate as the room reviews it: fields, profile table, fingerprint, QR."""

    path: str
    fields: tuple[tuple[str, str], ...]
    extensions: tuple[tuple[str, str, str], ...]
    fingerprint_hex: str
    fingerprint_words: str
    qr_text: str
    qr: tuple[tuple[bool, ...], ...]


def qr_matrix(text: str) -> tuple[tuple[bool, ...], ...]:
    """The modules of a QR code of ``text`` (no quiet zone; True is dark)."""
    import qrcode

    code = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    return tuple(tuple(bool(m) for m in row) for row in code.get_matrix())


def certificate_review(bundle: Bundle, rel: str) -> CertificateReview:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from ceremony.audit import x509text

    cert = x509.load_pem_x509_certificate(bundle.read(rel))
    fp = cert.fingerprint(hashes.SHA256())
    text = f"SHA256:{fp.hex().upper()}"
    return CertificateReview(
        path=rel,
        fields=tuple(x509text.certificate_fields(cert)),
        extensions=tuple(x509text.extension_rows(cert.extensions)),
        fingerprint_hex=":".join(f"{b:02X}" for b in fp),
        fingerprint_words=pgpwords.words(fp),
        qr_text=text,
        qr=qr_matrix(text),
    )


@dataclass(frozen=True)
class StepResult:
    """What a step page shows once the step is recorded."""

    step: str
    seq: int
    time: str
    event_hash: str
    facts: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    certificates: tuple[CertificateReview, ...] = ()


_HIDDEN = frozenset({"inputs", "outputs", "activity"})


def flatten(payload: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """A payload as (name, text) rows: nested keys joined with dots, lists joined."""
    rows: list[tuple[str, str]] = []
    for key, value in payload.items():
        if not prefix and key in _HIDDEN:
            continue
        name = f"{prefix}{key}".replace("_", " ")
        if isinstance(value, Mapping):
            rows += flatten(value, f"{prefix}{key}.")
        elif isinstance(value, list | tuple):
            if all(not isinstance(v, Mapping | list | tuple) for v in value):
                rows.append((name, ", ".join(str(v) for v in value) or "(none)"))
            else:
                for i, v in enumerate(value, 1):
                    if isinstance(v, Mapping):
                        rows += flatten(v, f"{prefix}{key}[{i}].")
                    else:
                        rows.append((f"{name} [{i}]", str(v)))
        else:
            rows.append((name, "yes" if value is True else "no" if value is False else str(value)))
    return rows


def step_result(bundle: Bundle, event: Mapping[str, Any]) -> StepResult:
    payload: Mapping[str, Any] = event.get("payload", {})
    outputs = [(str(o["path"]), str(o["sha256"])) for o in payload.get("outputs", [])]
    certs = tuple(
        certificate_review(bundle, path)
        for path, _ in outputs
        if path.endswith(".pem") and "certificate" in payload
    )
    return StepResult(
        step=str(event["step"]),
        seq=int(event["seq"]),
        time=str(event["time"]),
        event_hash=str(event["hash"]),
        facts=tuple(flatten(payload)),
        outputs=tuple(outputs),
        certificates=certs,
    )


# ------------------------------------------------------- ceremony inputs


@dataclass(frozen=True)
class IssuedCa:
    """An intermediate CA certificate the root issued, as the revocation page lists it."""

    serial: int
    subject: str
    path: str
    revoked: bool

    @property
    def serial_hex(self) -> str:
        return f"{self.serial:x}"


def issued_intermediates(bundle: Bundle) -> list[IssuedCa]:
    """The CA certificates in ``issued/`` signed by the bundle's root, newest CRL applied."""
    from cryptography import x509

    from ceremony.flow.crl import current_crl, issued_ca_certificates

    crl = current_crl(bundle)
    out = []
    for serial, path in issued_ca_certificates(bundle).items():
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        revoked = crl.get_revoked_certificate_by_serial_number(serial) is not None
        out.append(
            IssuedCa(
                serial,
                cert.subject.rfc4514_string(),
                path.relative_to(bundle.root).as_posix(),
                revoked,
            )
        )
    return out


def revocation_reasons() -> list[str]:
    """RFC 5280 reasons the CRL ceremony accepts, in the flow's order."""
    from ceremony.flow import crl

    return list(crl.REASONS)


def revocation_request(serial: int, reason: str) -> tuple[int, Any]:
    """What the CRL step reads from ``Context.state["revoke"]``.

    :raises InputError: the reason is not an RFC 5280 reason.
    """
    from ceremony.flow import crl

    return serial, crl.parse_reason(reason)


def signing_request(bundle: Bundle, data: bytes, source: str, name: str | None) -> Any:
    """Check a CSR before the signing ceremony opens (``signcsr.prepare_request``).

    :raises InputError: the CSR is refused; nothing is written.
    """
    from ceremony.flow import signcsr

    return signcsr.prepare_request(bundle, data, source, name or None)


def sample_csr() -> tuple[bytes, str]:
    """The rehearsal's sample intermediate CSR and its name."""
    from ceremony import demo

    return demo.sample_csr(), demo.SAMPLE_CSR


# ------------------------------------------------------------ share entry


class ShareEntry:
    """Shares typed one custodian at a time; a bad share is refused at once, by name.

    Accepted shares stay in memory only; :meth:`mnemonics` hands them to the
    flow. Nothing here logs or prints a share.
    """

    def __init__(self, threshold: int, set_id: str | None = None) -> None:
        from ceremony.backup.shares import ShareCollector

        self.threshold = threshold
        self.set_id = set_id
        """The recorded set (``id 01234``): a share of any other set is refused at once."""
        self._collector = ShareCollector()
        self._accepted: list[str] = []
        self.presented_by: list[str] = []

    def __repr__(self) -> str:
        return f"ShareEntry(accepted={len(self._accepted)}, threshold={self.threshold})"

    def add(self, custodian: str, text: str) -> str:
        """Accept ``custodian``'s share; return a status line without any share word.

        :raises ShareError: the share is mistyped, foreign, a duplicate, or not a share.
        """
        import shamir_mnemonic

        from ceremony.backup.shares import format_set_id, normalise_mnemonic

        if custodian in self.presented_by:
            raise ShareError(f"{custodian}: has presented a share already")
        if not text.strip():
            raise ShareError(f"{custodian}: no share words entered")
        try:
            share = shamir_mnemonic.Share.from_mnemonic(normalise_mnemonic(text))
        except (ShareError, shamir_mnemonic.MnemonicError):
            share = None  # the collector names what is wrong with it
        if (
            share is not None
            and self.set_id is not None
            and (format_set_id(share.identifier) != self.set_id)
        ):
            raise ShareError(
                f"{custodian}: share from another share set ({format_set_id(share.identifier)});"
                f" this ceremony's set is {self.set_id}"
            )
        try:
            status = self._collector.add(text)
        except ShareError as ex:
            raise ShareError(f"{custodian}: {ex.message}") from None
        self._accepted.append(normalise_mnemonic(text))
        self.presented_by.append(custodian)
        return (
            f"{custodian}: share accepted (set {status.set_id}); "
            f"{len(self._accepted)} of {self.threshold} entered"
        )

    @property
    def count(self) -> int:
        return len(self._accepted)

    @property
    def complete(self) -> bool:
        return len(self._accepted) >= self.threshold

    def mnemonics(self) -> list[str]:
        return list(self._accepted)


# ----------------------------------------------------------------- session


@dataclass(frozen=True)
class NotedException:
    description: str
    remediation: str
    actor: Actor


@dataclass
class CeremonySession:
    """One ceremony as the wizard runs it: bundle, HSM, event log, one step at a time.

    Every method may block (files, HSM); the GUI calls them from its worker
    thread, one at a time. Exceptions the witness notes before the event log
    is open are kept and recorded as soon as it opens.
    """

    plan: CeremonyPlan
    rehearsal: bool
    folder: Path
    prompter: Prompter
    sys_net: Path = SYS_NET
    module_path: str | None = None
    bundle: Bundle | None = None
    definition: CeremonyFile | None = None
    hsm: Hsm | None = None
    ctx: Context | None = None
    transcript: Path | None = None
    state: dict[str, Any] = field(default_factory=dict)
    """Ceremony input the flow reads from ``Context.state`` (a CSR, a revocation)."""
    _noted: list[NotedException] = field(default_factory=list)

    # -- before the log opens

    def prepare_bundle(self, definition: bytes | None = None) -> CeremonyFile:
        """Create the bundle with ``definition`` (new root ceremony), or read its ceremony file."""
        if definition is not None:
            bundle = start_bundle(self.folder, definition)
        else:
            bundle = Bundle(self.folder)
            if not bundle.exists(CEREMONY_FILE):
                raise InputError(f"{self.folder}: holds no ceremony file")
        if self.rehearsal:
            bundle.path(REHEARSAL).mkdir(exist_ok=True)
        self.bundle = bundle
        self.definition = load_definition(bundle)
        return self.definition

    def detect_hsm(self, module_path: str | None = None) -> HsmReport:
        """Load the PKCS#11 module (SoftHSM2 in ``rehearsal/`` for a rehearsal); list tokens."""
        if module_path is not None:
            self.module_path = module_path or None
        try:
            path = self.module_path or default_module_path()
        except CeremonyError as ex:
            return HsmReport("(default)", problem=ex.message)
        home = self.bundle.path(REHEARSAL) if self.rehearsal and self.bundle else None
        try:
            hsm = Hsm(path, softhsm_home=home)
            tokens = tuple(
                TokenFacts(label, _token_rows(hsm.info(label).as_dict())) for label in hsm.labels()
            )
        except CeremonyError as ex:
            self.hsm = None
            return HsmReport(path, problem=ex.message)
        self.hsm = hsm
        return HsmReport(path, hsm.description, tokens)

    def preflight_report(self, module_path: str | None = None) -> PreflightReport:
        interfaces = tuple(preflight.interfaces(self.sys_net))
        up = tuple(i.name for i in interfaces if i.up and not i.loopback)
        digest, words = software_words()
        return PreflightReport(
            interfaces=interfaces,
            network_up=up,
            rehearsal=self.rehearsal,
            software_version=software.version(),
            software_hash=digest,
            software_words=words,
            hsm=self.detect_hsm(module_path),
        )

    # -- the log

    def open(self, present: Sequence[str]) -> list[dict[str, Any]]:
        """Open (or reopen) the ceremony log and run its opening steps.

        A new ceremony records ``ceremony.open`` and ``preflight``; a resumed
        one records who is present now and at which step it continues.
        """
        if self.bundle is None or self.hsm is None:
            raise InputError("the bundle and the HSM must be ready before the ceremony opens")
        if self.ctx is None:
            ctx, folder = open_context(
                self.bundle, self.plan.kind, self.hsm, self.prompter, self.rehearsal
            )
            ctx.state.update(self.state)
            ctx.state["sys_net"] = self.sys_net
            self.ctx, self.transcript = ctx, folder
            if ctx.log.events:
                self._note_resume(present)
        else:
            self.ctx.hsm = self.hsm
        self._flush_noted()
        events = []
        for name in OWNED_STEPS:
            if self._has_step(name) and self.ctx.log.find(name) is None:
                events.append(self.run(name))
        return events

    def _note_resume(self, present: Sequence[str]) -> None:
        ctx = self._context()
        done = [e["step"] for e in ctx.log.events if e["event"] == "step"]
        ctx.exception(
            f"the ceremony was interrupted after step {done[-1] if done else '(none)'}; "
            f"resumed with {', '.join(present)} present",
            "the ceremony continues at its last commit point; recorded steps are not repeated",
            ctx.actor(Role.ADMINISTRATOR),
        )

    def _has_step(self, name: str) -> bool:
        return any(s.name == name for s in self.plan.steps())

    def done_steps(self) -> frozenset[str]:
        if self.ctx is None:
            return frozenset()
        return frozenset(e["step"] for e in self.ctx.log.events if e["event"] == "step")

    def run(self, name: str) -> dict[str, Any]:
        """Run step ``name`` (recorded before this returns); its event."""
        ctx = self._context()
        step = self.plan.step(name)
        recorded = ctx.log.find(name)
        if recorded is not None:
            return recorded
        had_pins = ctx.pins is not None
        try:
            return run_step(ctx, step)
        except BaseException:
            if not had_pins:
                ctx.pins = None  # a wrong or aborted activation is asked again on retry
            raise

    def expected_set(self, purpose: str) -> str | None:
        """The recorded share set (``id 01234``) that ``purpose`` shares must belong to."""
        ctx = self.ctx
        if ctx is None:
            return None
        try:
            if purpose == "activation":
                from ceremony.flow.root import newest_step

                event = newest_step(ctx, "token.init")
                return str(event["payload"]["activation"]["set_id"])
            if purpose == "recovery":
                from ceremony.flow.backup import BackupFacts

                return str(BackupFacts.load(ctx.bundle).set_id)
        except (CeremonyError, KeyError, TypeError, ValueError):
            return None
        return None

    def result(self, event: Mapping[str, Any]) -> StepResult:
        if self.bundle is None:
            raise InputError("no bundle")
        return step_result(self.bundle, event)

    def note_exception(self, description: str, remediation: str, by: str | None = None) -> bool:
        """Record a deviation the witness noted; False when kept until the log opens."""
        if not description.strip():
            raise InputError("exception: a description is required")
        actor = self._actor(by)
        noted = NotedException(
            " ".join(description.split()), " ".join(remediation.split()) or "(none given)", actor
        )
        self._noted.append(noted)
        if self.ctx is None:
            return False
        self._flush_noted()
        return True

    def _actor(self, name: str | None) -> Actor:
        people = self.definition.participants if self.definition else ()
        for p in people:
            if p.name == name:
                return Actor(p.name, p.role.value)
        if self.definition is not None:
            w = self.definition.by_role(Role.WITNESS)
            return Actor(w.name, w.role.value)
        return Actor(name or "witness", Role.WITNESS.value)

    def _flush_noted(self) -> None:
        ctx = self._context()
        while self._noted:
            n = self._noted.pop(0)
            ctx.exception(n.description, n.remediation, n.actor)

    def finish(self) -> None:
        """After the last step: the plan's closers, then the manifest."""
        ctx = self._context()
        if self.transcript is None:
            raise InputError("no transcript folder")
        for closer in self.plan.closers():
            closer(ctx, self.transcript)
        ctx.bundle.write_manifest()

    def verify(self) -> list[tuple[bool, str]]:
        """``ceremony verify`` on the bundle: (passed, line) per check."""
        from ceremony.audit.verify import verify_bundle

        return [(c.ok, c.line()) for c in verify_bundle(self.folder)]

    def _context(self) -> Context:
        if self.ctx is None:
            raise InputError("the ceremony is not open yet")
        return self.ctx

    @property
    def custodians(self) -> tuple[Participant, ...]:
        return self.definition.custodians if self.definition else ()

    def performer(self, step: Step) -> str:
        if self.definition is None:
            return step.role.value
        people = [p.name for p in self.definition.participants if p.role is step.role]
        return f"{step.role.value}: {', '.join(people)}" if people else step.role.value


def _token_rows(info: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(flatten({k: v for k, v in info.items() if k != "label"}))


__all__ = [
    "OWNED_STEPS",
    "BundleProbe",
    "CeremonyPlan",
    "CeremonySession",
    "CertificateReview",
    "Choices",
    "Draft",
    "HsmReport",
    "IssuedCa",
    "Navigator",
    "Page",
    "PreflightReport",
    "ShareEntry",
    "StepResult",
    "View",
    "default_plans",
    "definition_digest",
    "draft_for",
    "issued_intermediates",
    "open_ceremony",
    "probe_bundle",
    "rehearsal_draft",
]
