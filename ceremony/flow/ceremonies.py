"""Start or resume a ceremony on a bundle: pick the transcript folder, open the
log, run the steps, close with the manifest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from ceremony.audit.eventlog import EventLog
from ceremony.bundle import CEREMONY_FILE, Bundle
from ceremony.config import ceremonyfile
from ceremony.config.ceremonyfile import CeremonyFile
from ceremony.errors import InputError, MediaError
from ceremony.flow.engine import Context, Step, run_all
from ceremony.flow.prompts import Prompter
from ceremony.hsm.module import Hsm

Closer = Callable[[Context, Path], None]


def ceremony_id(folder: Path, definition: bytes) -> str:
    return f"{folder.name}-{hashlib.sha256(definition).hexdigest()[:8]}"


def load_definition(bundle: Bundle) -> CeremonyFile:
    data = bundle.read(CEREMONY_FILE)
    return ceremonyfile.parse(data, str(bundle.path(CEREMONY_FILE)))


def open_context(
    bundle: Bundle,
    kind: str,
    hsm: Hsm,
    prompter: Prompter,
    rehearsal: bool,
    folder: Path | None = None,
) -> tuple[Context, Path]:
    """The open ceremony of ``kind`` to resume (or ``folder``), else a new transcript folder.

    Takes the bundle's lock (held until :func:`close_ceremony` or the end of the process).
    """
    bundle.lock()
    definition = load_definition(bundle)
    folder = folder or bundle.open_transcript(kind) or bundle.new_transcript(kind)
    log = EventLog(folder / "events.jsonl", ceremony_id(folder, bundle.read(CEREMONY_FILE)), kind)
    return Context(bundle, log, prompter, definition, rehearsal, hsm), folder


def run_ceremony(
    ctx: Context, folder: Path, steps: Sequence[Step], closers: Sequence[Closer]
) -> None:
    run_all(ctx, steps)
    close_ceremony(ctx, folder, closers)


def close_ceremony(ctx: Context, folder: Path, closers: Sequence[Closer]) -> None:
    """After the close event: the closing documents, then the manifest; the lock released."""
    for closer in closers:
        closer(ctx, folder)
    ctx.bundle.write_manifest()
    ctx.bundle.unlock()


def start_bundle(out: Path, definition: bytes) -> Bundle:
    """A new bundle folder with its ceremony file, or the same bundle to resume; locked.

    A folder this call created is removed again if it refuses.
    """
    bundle = Bundle(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    created = _make_folders(out)
    try:
        bundle.lock()
        if bundle.exists(CEREMONY_FILE):
            if bundle.read(CEREMONY_FILE) != definition:
                raise InputError(f"{out}: holds a different ceremony file; use a new folder")
            return bundle
        if any(out.iterdir()):
            raise InputError(f"{out}: folder is not empty and holds no ceremony; use a new folder")
        bundle.write(CEREMONY_FILE, definition)
    except BaseException:
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return bundle


def _make_folders(out: Path) -> list[Path]:
    """Create ``out`` and missing parents; the ones created, innermost first."""
    missing = []
    p = out
    while not p.exists():
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as ex:
            raise MediaError(f"{folder}: cannot be created: {ex.strerror}") from ex
    return missing
