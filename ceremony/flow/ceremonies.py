"""Start or resume a ceremony on a bundle: pick the transcript folder, open the
log, run the steps, close with the documents and the manifest.

Every ceremony resumes from any interruption. Under the bundle's lock,
:func:`open_context` first clears what a dead process left: transcript folders
no event was ever written into, and temporary files of writes that never
finished (removed on record in the ceremony's log). A ceremony whose close
event is recorded but whose closing documents are not all written is
*closing*: :func:`finish_closings` writes them (again) before anything else
happens, so rerunning the interrupted command always ends in a bundle that
verifies. :func:`close_ceremony` is idempotent: the transcript is kept once
written, the CPS appendix and the manifest are regenerated.
"""

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
from ceremony.faults import inject_fault
from ceremony.flow.engine import Context, Step, run_all
from ceremony.flow.prompts import Prompter
from ceremony.hsm.module import Hsm
from ceremony.media.atomic import sha256_file

CLOSE = "ceremony.close"
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
    removed = clear_leftovers(bundle, prompter)
    if folder is not None and not folder.is_dir():
        folder = None
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
    if not _closed(folder):
        for item in removed:
            ctx.exception(
                f"file {item['path']} ({item['size']} bytes, sha256 {item['sha256']}) was the"
                " temporary file of a write an interruption cut short; named in no event",
                "the file was removed; the write is done again",
            )
    return ctx, folder


def _closed(folder: Path) -> bool:
    log = folder / "events.jsonl"
    return log.exists() and any(e.get("step") == CLOSE for e in read_events(log))


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


def clear_leftovers(bundle: Bundle, prompter: Prompter) -> list[dict[str, Any]]:
    """Remove empty transcript folders and unfinished writes' temporary files; the latter's
    path, size and SHA-256, for the record. Call with the bundle's lock held."""
    for folder in bundle.empty_transcripts():
        for entry in folder.iterdir():
            entry.unlink()
        folder.rmdir()
        prompter.progress("resume", f"{folder.name}: no event was ever recorded; folder removed")
    removed = []
    for rel in bundle.leftovers():
        path = bundle.path(rel)
        item = {"path": rel, "size": path.stat().st_size, "sha256": sha256_file(path)}
        path.unlink()
        prompter.progress("resume", f"{rel}: temporary file of an interrupted write; removed")
        removed.append(item)
    return removed


def interrupted_closings(bundle: Bundle) -> list[Path]:
    """Transcript folders whose ceremony is closed but whose closing documents are not all
    written (oldest first): a signed transcript missing, or the newest one's CPS appendix or
    manifest not regenerated after it."""
    out = []
    newest_closed = False
    for folder in bundle.transcripts():
        newest_closed = _closed(folder)
        if newest_closed and not (folder / TRANSCRIPT).is_file():
            out.append(folder)
    folders = bundle.transcripts()
    if newest_closed and not out and not bundle.closing_complete(folders[-1]):
        out.append(folders[-1])
    return out


def kind_of(folder: Path) -> str:
    return folder.name[4:]


def finish_closings(
    bundle: Bundle,
    hsm: Hsm,
    prompter: Prompter,
    rehearsal: bool,
    closers: Sequence[Closer],
    prepare: Callable[[Context], None] | None = None,
) -> list[Path]:
    """Write the closing documents of every ceremony :func:`interrupted_closings` finds;
    the folders finished. ``prepare`` sets up a context as its ceremony kind needs
    (the token a recovery restored into)."""
    done = []
    for folder in interrupted_closings(bundle):
        ctx, _ = open_context(bundle, kind_of(folder), hsm, prompter, rehearsal, folder)
        if prepare is not None:
            prepare(ctx)
        prompter.progress(
            CLOSE, f"{folder.name}: closed, its closing documents interrupted; writing them"
        )
        close_ceremony(ctx, folder, closers, unlock=False)
        done.append(folder)
    return done


def run_ceremony(
    ctx: Context, folder: Path, steps: Sequence[Step], closers: Sequence[Closer]
) -> None:
    run_all(ctx, steps)
    close_ceremony(ctx, folder, closers)


def close_ceremony(
    ctx: Context, folder: Path, closers: Sequence[Closer], unlock: bool = True
) -> None:
    """After the close event: the closing documents, then the manifest; the lock released.

    Idempotent: temporary files of an interrupted write are removed first, a transcript
    already written is kept, the CPS appendix and the manifest are written again.
    """
    clear_leftovers(ctx.bundle, ctx.prompter)
    for closer in closers:
        name = getattr(closer, "__name__", "document").removeprefix("write_")
        inject_fault(f"close.{name}", "before")
        closer(ctx, folder)
        inject_fault(f"close.{name}", "after")
    if not ctx.bundle.exists(GUIDE_NAME) or ctx.bundle.read(GUIDE_NAME) != verifying_text():
        ctx.bundle.replace(GUIDE_NAME, verifying_text())
    inject_fault("close.manifest", "before")
    ctx.bundle.write_manifest()
    if unlock:
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
