"""Start or resume a ceremony on a bundle: pick the transcript folder, open the
log, run the steps, close with the manifest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ceremony.audit import record
from ceremony.audit.eventlog import GENESIS, EventLog, read_events
from ceremony.audit.guide import GUIDE_NAME, verifying_text
from ceremony.bundle import CEREMONY_FILE, Bundle
from ceremony.config import ceremonyfile
from ceremony.config.ceremonyfile import CeremonyFile
from ceremony.errors import InputError, MediaError
from ceremony.flow.engine import Context, Step, run_all
from ceremony.flow.prompts import Prompter
from ceremony.hsm.module import Hsm
from ceremony.media.atomic import sha256_file

TRANSCRIPT = "transcript.pdf"

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
    folder = folder or bundle.open_transcript(kind) or _unfinished(bundle, kind)
    link = chain_link(bundle, folder or bundle.next_transcript(kind))
    folder = folder or bundle.new_transcript(kind)
    log = EventLog(
        folder / "events.jsonl",
        ceremony_id(folder, bundle.read(CEREMONY_FILE)),
        kind,
        genesis=GENESIS if link is None else str(link["final_hash"]),
    )
    ctx = Context(bundle, log, prompter, definition, rehearsal, hsm)
    ctx.state["previous"] = link
    token = record.current_token(record.load(bundle.transcripts()))
    if kind != "recovery" and token is not None and token.get("label"):
        ctx.state["token_label"] = str(token["label"])  # after a recovery: the new token
    return ctx, folder


def _closed(folder: Path) -> bool:
    log = folder / "events.jsonl"
    return log.exists() and any(e.get("step") == "ceremony.close" for e in read_events(log))


def _unfinished(bundle: Bundle, kind: str) -> Path | None:
    """The last ceremony, if it is of ``kind`` and closed without its transcript written."""
    folders = bundle.transcripts()
    if folders and folders[-1].name.endswith(f"-{kind}") and _closed(folders[-1]):
        if not (folders[-1] / TRANSCRIPT).exists():
            return folders[-1]
    return None


def chain_link(bundle: Bundle, folder: Path) -> dict[str, Any] | None:
    """What the ceremony in ``folder`` opens with: the previous ceremony's id, number and
    final event hash (and its transcript's SHA-256); ``None`` for the first ceremony.

    :raises InputError: another ceremony is unfinished (it must be completed first, or
        the chain would fork), or the ceremony before ``folder`` is missing.
    """
    number = int(folder.name[:3])
    for other in bundle.transcripts():
        if other == folder:
            continue
        if not _closed(other) or not (other / TRANSCRIPT).exists():
            raise InputError(
                f"{other}: that ceremony is unfinished; run its command again to complete it"
                " before another ceremony starts"
            )
    if number == 1:
        return None
    before = [f for f in bundle.transcripts() if int(f.name[:3]) == number - 1]
    if not before:
        raise InputError(f"{folder}: ceremony {number - 1:03d} is missing from the bundle")
    events = list(read_events(before[0] / "events.jsonl"))
    link: dict[str, Any] = {
        "ceremony": events[0]["ceremony"],
        "number": number - 1,
        "kind": events[0]["kind"],
        "final_hash": events[-1]["hash"],
        "transcript_sha256": sha256_file(before[0] / TRANSCRIPT),
    }
    return link


def run_ceremony(
    ctx: Context, folder: Path, steps: Sequence[Step], closers: Sequence[Closer]
) -> None:
    run_all(ctx, steps)
    close_ceremony(ctx, folder, closers)


def close_ceremony(ctx: Context, folder: Path, closers: Sequence[Closer]) -> None:
    """After the close event: the closing documents, then the manifest; the lock released."""
    for closer in closers:
        closer(ctx, folder)
    if not ctx.bundle.exists(GUIDE_NAME) or ctx.bundle.read(GUIDE_NAME) != verifying_text():
        ctx.bundle.replace(GUIDE_NAME, verifying_text())
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
