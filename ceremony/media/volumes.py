"""Discovery of mounted removable volumes (USB sticks, SD cards) on Linux.

The wizard polls a :class:`VolumeSource` to offer the media the operator
plugs in. :class:`LinuxSource` reads ``/proc/mounts``, keeps block devices
whose disk is removable (``/sys/block/<disk>/removable``, or attached over USB
or MMC, since many USB sticks and SD readers report ``removable=0``) and
takes labels from ``/dev/disk/by-label``. Its paths are parameters, so tests
can point it at a fabricated tree. :class:`FolderSource` presents given
folders as volumes, for tests and rehearsals without a stick.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Volume:
    """A mounted file system the ceremony may read from or write to."""

    mount_point: Path
    label: str | None
    """File-system label, if it has one."""
    device: str
    """Block device (``/dev/sdb1``), or the folder for a :class:`FolderSource`."""
    read_only: bool
    free_bytes: int
    """Bytes available to this process."""

    @property
    def display_name(self) -> str:
        return self.label or self.mount_point.name or str(self.mount_point)


class VolumeSource(Protocol):
    """Anything that can list the volumes currently available."""

    def volumes(self) -> list[Volume]:
        """Return the volumes present now, sorted by mount point."""
        ...


@dataclass(frozen=True)
class MountEntry:
    """One line of ``/proc/mounts``."""

    device: str
    mount_point: str
    fs_type: str
    options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


_OCTAL = re.compile(rb"\\([0-7]{3})")
_UDEV_HEX = re.compile(rb"\\x([0-9a-fA-F]{2})")


def unescape_mount_field(field: str) -> str:
    """Decode the octal escapes (``\\040`` for a space) the kernel writes in mount fields."""
    raw = _OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), os.fsencode(field))
    return os.fsdecode(raw)


def parse_mounts(text: str) -> list[MountEntry]:
    """Parse the text of ``/proc/mounts``; malformed lines are skipped."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        device, mount_point, fs_type, options = fields[:4]
        entries.append(
            MountEntry(
                device=unescape_mount_field(device),
                mount_point=unescape_mount_field(mount_point),
                fs_type=fs_type,
                options=tuple(options.split(",")),
            )
        )
    return entries


def decode_udev_label(name: str) -> str:
    """Decode a ``/dev/disk/by-label`` entry name (udev writes ``\\x20`` for a space)."""
    raw = _UDEV_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), os.fsencode(name))
    return raw.decode("utf-8", "replace")


def space(path: Path) -> tuple[int, bool]:
    """Return ``(free bytes for this process, read-only flag)`` of the file system at ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize, bool(st.f_flag & os.ST_RDONLY)


class LinuxSource:
    """Removable volumes of the running Linux system."""

    def __init__(
        self,
        mounts: Path = Path("/proc/self/mounts"),
        sys_class_block: Path = Path("/sys/class/block"),
        by_label: Path = Path("/dev/disk/by-label"),
        *,
        include_fixed: bool = False,
    ) -> None:
        """``include_fixed`` also lists block devices that are not removable."""
        self.mounts = mounts
        self.sys_class_block = sys_class_block
        self.by_label = by_label
        self.include_fixed = include_fixed

    def volumes(self) -> list[Volume]:
        try:
            entries = parse_mounts(self.mounts.read_text(errors="surrogateescape"))
        except OSError:
            return []
        labels = self._labels()
        found: dict[str, Volume | None] = {}
        for entry in entries:
            # A later mount on the same point hides the earlier one.
            found[entry.mount_point] = self._volume(entry, labels)
        return sorted((v for v in found.values() if v), key=lambda v: str(v.mount_point))

    def _volume(self, entry: MountEntry, labels: dict[str, str]) -> Volume | None:
        if not entry.device.startswith("/"):
            return None
        device = os.path.realpath(entry.device)
        if not self.include_fixed and not self.is_removable(Path(device).name):
            return None
        mount_point = Path(entry.mount_point)
        try:
            free, statvfs_ro = space(mount_point)
        except OSError:
            return None
        return Volume(
            mount_point=mount_point,
            label=labels.get(device),
            device=entry.device,
            read_only=entry.read_only or statvfs_ro,
            free_bytes=free,
        )

    def is_removable(self, name: str, _depth: int = 0) -> bool:
        """Return whether block device ``name`` (``sdb1``, ``mmcblk0p1``, ``dm-0``) is removable.

        A partition is judged by its disk; a device-mapper device (LUKS) by the
        devices under it.
        """
        node = self.sys_class_block / name
        try:
            real = node.resolve(strict=True)
        except OSError:
            return False
        disk = real.parent if (real / "partition").exists() else real
        slaves = disk / "slaves"
        if _depth < 4 and slaves.is_dir():
            under = [s.name for s in slaves.iterdir()]
            if under:
                return all(self.is_removable(s, _depth + 1) for s in under)
        try:
            if (disk / "removable").read_text().strip() == "1":
                return True
        except OSError:
            pass
        return "/usb" in str(disk) or disk.name.startswith("mmcblk")

    def _labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        try:
            entries = list(self.by_label.iterdir())
        except OSError:
            return labels
        for link in entries:
            labels[os.path.realpath(link)] = decode_udev_label(link.name)
        return labels


class FolderSource:
    """Presents folders as volumes; a folder that does not exist is a volume not plugged in."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [Path(f) for f in folders]

    def volumes(self) -> list[Volume]:
        found = []
        for folder in self.folders:
            if not folder.is_dir():
                continue
            try:
                free, read_only = space(folder)
            except OSError:
                continue
            found.append(
                Volume(
                    mount_point=folder,
                    label=folder.name,
                    device=str(folder),
                    read_only=read_only or not os.access(folder, os.W_OK),
                    free_bytes=free,
                )
            )
        return sorted(found, key=lambda v: str(v.mount_point))


def find_volume(source: VolumeSource, mount_point: Path) -> Volume | None:
    """Return the volume mounted at ``mount_point`` if the source lists it now."""
    for volume in source.volumes():
        if volume.mount_point == Path(mount_point):
            return volume
    return None
