"""The ceremony wizard's headless core: which page comes next, and the session it drives.

Each module holds one concern, and the Qt layer in ``ui/`` only attaches a
page to each view; every path is tested without Qt
(``tests/test_wizard_flow.py``):

- :mod:`.plans`: the ceremonies offered and the kinds of page;
- :mod:`.navigation`: the page after each page, and Back;
- :mod:`.bundles`: what a chosen bundle folder holds;
- :mod:`.drafts`: the ceremony file the room signs in to;
- :mod:`.preflight`: network, software and HSM facts before the log opens;
- :mod:`.review`: recorded steps and certificates as the room reviews them;
- :mod:`.inputs`: a CSR to sign, an intermediate to revoke;
- :mod:`.shares`: shares typed by their holders;
- :mod:`.session`: the bundle, HSM and event log of one ceremony.

A step added to a ceremony's step list gets its page without any change here
or in ``ui/``.
"""

from ceremony.flow.wizard.bundles import BundleProbe, open_ceremony, probe_bundle
from ceremony.flow.wizard.drafts import Draft, definition_digest, draft_for, rehearsal_draft
from ceremony.flow.wizard.inputs import (
    IssuedCa,
    issued_intermediates,
    revocation_reasons,
    revocation_request,
    sample_csr,
    signing_request,
)
from ceremony.flow.wizard.navigation import OWNED_STEPS, Choices, Navigator, Page
from ceremony.flow.wizard.plans import CeremonyPlan, View, default_plans
from ceremony.flow.wizard.preflight import SYS_NET, HsmReport, PreflightReport, TokenFacts
from ceremony.flow.wizard.review import CertificateReview, StepResult
from ceremony.flow.wizard.session import CeremonySession
from ceremony.flow.wizard.shares import ShareEntry

__all__ = [
    "OWNED_STEPS",
    "SYS_NET",
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
    "TokenFacts",
    "View",
    "default_plans",
    "definition_digest",
    "draft_for",
    "issued_intermediates",
    "open_ceremony",
    "probe_bundle",
    "rehearsal_draft",
    "revocation_reasons",
    "revocation_request",
    "sample_csr",
    "signing_request",
]
