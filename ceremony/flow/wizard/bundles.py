"""What a chosen bundle folder holds: can it take this ceremony, is one open to resume."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ceremony.audit.eventlog import read_events
from ceremony.bundle import CEREMONY_FILE, Bundle
from ceremony.errors import CeremonyError
from ceremony.flow.wizard.plans import CeremonyPlan, default_plans


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
