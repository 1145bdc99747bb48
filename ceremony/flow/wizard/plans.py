"""The ceremonies the wizard offers (their steps come from the flow) and its kinds of page."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ceremony.errors import InputError
from ceremony.flow.ceremonies import Closer
from ceremony.flow.engine import Step


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
    TARGET = "target"
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
            inputs=(View.TARGET,),
        ),
    ]
    return {p.kind: p for p in plans}
