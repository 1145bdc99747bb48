"""The evidence bundle: its layout (CONTRACT.md), its manifest, its transcripts.

Every path an event records is relative to the bundle root. Files are
written once (:func:`ceremony.media.atomic.write_new`); only ``SHA256SUMS``,
``root/root-ca.crl`` (a copy of the newest numbered CRL) and
``cps/cps-appendix.pdf`` are regenerated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ceremony.errors import InputError
from ceremony.media.atomic import WrittenFile, replace_file, sha256_file, write_new

MANIFEST = "SHA256SUMS"
CEREMONY_FILE = "ceremony.toml"
ROOT_CERT = "root/root-ca.pem"
ROOT_CRL = "root/root-ca.crl"
BACKUP_WRAPPED = "backup/root-key.wrapped"
BACKUP_FACTS = "backup/backup.json"
SIGNER_CERT = "issued/transcript-signer.pem"
CPS = "cps/cps-appendix.pdf"
REHEARSAL = "rehearsal"
TRANSCRIPT_RE = re.compile(r"^(\d{3})-([a-z-]+)$")


def numbered_crl(number: int) -> str:
    return f"root/root-ca-{number}.crl"


@dataclass(frozen=True)
class Bundle:
    root: Path

    def path(self, rel: str) -> Path:
        return self.root / rel

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def write(self, rel: str, data: bytes, mode: int = 0o644) -> WrittenFile:
        return write_new(self.path(rel), data, mode)

    def replace(self, rel: str, data: bytes) -> WrittenFile:
        return replace_file(self.path(rel), data)

    def read(self, rel: str) -> bytes:
        try:
            return self.path(rel).read_bytes()
        except FileNotFoundError:
            raise InputError(f"{self.path(rel)}: missing from the bundle") from None

    @property
    def is_rehearsal(self) -> bool:
        return self.path(REHEARSAL).is_dir()

    def transcripts(self) -> list[Path]:
        folder = self.path("transcripts")
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_dir() and TRANSCRIPT_RE.match(p.name))

    def open_transcript(self, kind: str) -> Path | None:
        """The newest transcript folder of ``kind`` whose ceremony did not close."""
        from ceremony.audit.eventlog import read_events

        for folder in reversed(self.transcripts()):
            if not folder.name.endswith(f"-{kind}"):
                continue
            if not (folder / "events.jsonl").exists():
                return folder
            else:
                events = list(read_events(folder / "events.jsonl"))
                if not any(e.get("step") == "ceremony.close" for e in events):
                    return folder
        return None

    def new_transcript(self, kind: str) -> Path:
        existing = [int(TRANSCRIPT_RE.match(p.name).group(1)) for p in self.transcripts()]  # type: ignore[union-attr]
        folder = self.path(f"transcripts/{max(existing, default=0) + 1:03d}-{kind}")
        folder.mkdir(parents=True)
        return folder

    def manifest_entries(self) -> list[tuple[str, str]]:
        """(sha256, relative path) of every file but the manifest and rehearsal/."""
        out = []
        for p in sorted(self.root.rglob("*")):
            rel = p.relative_to(self.root).as_posix()
            if not p.is_file() or rel == MANIFEST or rel.split("/")[0] == REHEARSAL:
                continue
            if p.name.startswith(".") and p.name.endswith(".partial"):
                continue
            out.append((sha256_file(p), rel))
        return out

    def manifest_current(self) -> bool:
        """True when ``SHA256SUMS`` lists exactly the bundle's files as they are now."""
        if not self.exists(MANIFEST):
            return False
        text = "".join(f"{h}  {rel}\n" for h, rel in self.manifest_entries())
        return self.read(MANIFEST).decode(errors="replace") == text

    def latest_transcript(self, kind: str) -> Path | None:
        found = [f for f in self.transcripts() if f.name.endswith(f"-{kind}")]
        return found[-1] if found else None

    def write_manifest(self) -> WrittenFile:
        text = "".join(f"{h}  {rel}\n" for h, rel in self.manifest_entries())
        return self.replace(MANIFEST, text.encode())
