"""Volume discovery: /proc/mounts parsing, removable detection on a built sysfs tree, folders."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceremony.media.volumes import (
    FolderSource,
    LinuxSource,
    MountEntry,
    Volume,
    VolumeSource,
    decode_udev_label,
    find_volume,
    parse_mounts,
    unescape_mount_field,
)

SAMPLE_MOUNTS = r"""proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/nvme0n1p2 / ext4 rw,relatime,errors=remount-ro 0 0
/dev/sdb1 /media/custodian/CEREMONY\040USB vfat rw,nosuid,nodev,relatime,uid=1000 0 0
/dev/mmcblk0p1 /media/custodian/SD\134card exfat ro,nosuid,nodev,relatime 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=1620000k,mode=755 0 0
this line is broken
"""


def test_parse_mounts_sample() -> None:
    entries = parse_mounts(SAMPLE_MOUNTS)
    assert [e.device for e in entries] == [
        "proc",
        "/dev/nvme0n1p2",
        "/dev/sdb1",
        "/dev/mmcblk0p1",
        "tmpfs",
        "this",
    ]
    stick = entries[2]
    assert stick == MountEntry(
        device="/dev/sdb1",
        mount_point="/media/custodian/CEREMONY USB",
        fs_type="vfat",
        options=("rw", "nosuid", "nodev", "relatime", "uid=1000"),
    )
    assert not stick.read_only
    assert entries[3].mount_point == "/media/custodian/SD\\card"
    assert entries[3].read_only


def test_parse_mounts_skips_short_lines() -> None:
    assert parse_mounts("\n/dev/sdb1 /mnt\n") == []


def test_unescaping() -> None:
    assert unescape_mount_field(r"/media/a\040b\011c\012d") == "/media/a b\tc\nd"
    assert unescape_mount_field(r"/media/caf\303\251") == "/media/café"
    assert decode_udev_label(r"MY\x20STICK") == "MY STICK"
    assert decode_udev_label(r"ROOT\x2fCA") == "ROOT/CA"


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


def _disk(sys_root: Path, bus_path: str, disk: str, removable: str, parts: list[str]) -> None:
    """Build /sys/devices/<bus_path>/block/<disk>[/<part>] and /sys/class/block links."""
    node = sys_root / "devices" / bus_path / "block" / disk
    node.mkdir(parents=True)
    (node / "removable").write_text(removable + "\n")
    _link(sys_root / "class" / "block" / disk, node)
    for part in parts:
        (node / part).mkdir()
        (node / part / "partition").write_text("1\n")
        _link(sys_root / "class" / "block" / part, node / part)


@pytest.fixture
def fake_system(tmp_path: Path) -> tuple[LinuxSource, dict[str, Path]]:
    """A fabricated /sys, /dev and /proc/mounts whose mount points are real folders."""
    sys_root, dev = tmp_path / "sys", tmp_path / "dev"
    _disk(sys_root, "pci0000:00/0000:00:17.0/ata1/host0", "sda", "0", ["sda1"])
    _disk(sys_root, "pci0000:00/0000:00:14.0/usb2/2-1/host6", "sdb", "1", ["sdb1"])
    _disk(sys_root, "pci0000:00/0000:00:14.0/usb2/2-2/host7", "sdc", "0", ["sdc1"])
    _disk(sys_root, "platform/mmc0/mmc0:0001", "mmcblk0", "0", ["mmcblk0p1"])
    _disk(sys_root, "virtual", "dm-0", "0", [])
    _link(sys_root / "devices" / "virtual" / "block" / "dm-0" / "slaves" / "sdc1", dev / "x")
    for name in ("sda1", "sdb1", "sdc1", "mmcblk0p1", "dm-0"):
        dev.mkdir(exist_ok=True)
        (dev / name).touch()
    _link(dev / "mapper" / "vault", dev / "dm-0")
    _link(dev / "disk" / "by-label" / r"CEREMONY\x20USB", dev / "sdb1")
    _link(dev / "disk" / "by-label" / "SYSTEM", dev / "sda1")
    mounts = {name: tmp_path / "media" / name for name in ("system", "stick", "usb-ssd", "sd")}
    mounts["vault"] = tmp_path / "media" / "vault"
    for folder in mounts.values():
        folder.mkdir(parents=True)
    text = "\n".join(
        [
            f"{dev}/sda1 {mounts['system']} ext4 rw 0 0",
            f"{dev}/sdb1 {mounts['stick']} vfat rw,nosuid 0 0",
            f"{dev}/sdc1 {mounts['usb-ssd']} ext4 ro 0 0",
            f"{dev}/mmcblk0p1 {mounts['sd']} exfat rw 0 0",
            f"{dev}/mapper/vault {mounts['vault']} ext4 rw 0 0",
            f"{dev}/sdb1 {tmp_path}/media/gone vfat rw 0 0",
            f"tmpfs {tmp_path}/media tmpfs rw 0 0",
        ]
    )
    (tmp_path / "mounts").write_text(text + "\n")
    source = LinuxSource(
        tmp_path / "mounts", sys_root / "class" / "block", dev / "disk" / "by-label"
    )
    return source, mounts


def test_linux_source_lists_removable_volumes(
    fake_system: tuple[LinuxSource, dict[str, Path]],
) -> None:
    source, mounts = fake_system
    volumes = source.volumes()
    assert [v.mount_point for v in volumes] == sorted(
        [mounts["stick"], mounts["usb-ssd"], mounts["sd"], mounts["vault"]], key=str
    )
    stick = find_volume(source, mounts["stick"])
    assert stick is not None
    assert stick.label == "CEREMONY USB"
    assert stick.display_name == "CEREMONY USB"
    assert stick.device.endswith("/sdb1")
    assert not stick.read_only
    # the folder shares a file system others write to: its free space moves between two reads
    free = shutil.disk_usage(mounts["stick"]).free
    assert abs(stick.free_bytes - free) <= free // 100
    ssd = find_volume(source, mounts["usb-ssd"])
    assert ssd is not None and ssd.read_only and ssd.label is None
    assert ssd.display_name == "usb-ssd"
    assert find_volume(source, mounts["system"]) is None


def test_linux_source_can_include_fixed_disks(
    fake_system: tuple[LinuxSource, dict[str, Path]],
) -> None:
    source, mounts = fake_system
    fixed = LinuxSource(source.mounts, source.sys_class_block, source.by_label, include_fixed=True)
    system = find_volume(fixed, mounts["system"])
    assert system is not None and system.label == "SYSTEM"


def test_removable_detection(fake_system: tuple[LinuxSource, dict[str, Path]]) -> None:
    source, _ = fake_system
    assert source.is_removable("sdb1")  # removable flag of the parent disk
    assert source.is_removable("sdb")
    assert source.is_removable("sdc1")  # removable=0 but on a USB bus
    assert source.is_removable("mmcblk0p1")  # SD card
    assert source.is_removable("dm-0")  # LUKS on a USB disk
    assert not source.is_removable("sda1")
    assert not source.is_removable("nvme9n9")


def test_linux_source_missing_files(tmp_path: Path) -> None:
    assert LinuxSource(tmp_path / "no-mounts").volumes() == []


def test_linux_source_on_this_system() -> None:
    volumes = LinuxSource(include_fixed=True).volumes()
    assert any(v.mount_point == Path("/") for v in volumes)
    assert all(isinstance(v, Volume) for v in LinuxSource().volumes())


def test_folder_source_presents_folders_as_they_appear(tmp_path: Path) -> None:
    first, second = tmp_path / "STICK-A", tmp_path / "STICK-B"
    first.mkdir()
    source: VolumeSource = FolderSource([second, first])
    (only,) = source.volumes()
    assert only == Volume(
        mount_point=first,
        label="STICK-A",
        device=str(first),
        read_only=False,
        free_bytes=only.free_bytes,
    )
    assert only.free_bytes > 0
    second.mkdir()
    assert [v.label for v in source.volumes()] == ["STICK-A", "STICK-B"]
    first.rmdir()
    assert [v.label for v in source.volumes()] == ["STICK-B"]


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mounting is not permitted here: {result.stderr.strip()}")


@pytest.fixture
def loop_volume(tmp_path: Path) -> Iterator[Path]:
    """A real ext4 file system on a loop device, labelled CEREMONY."""
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 is not installed")
    image, mnt = tmp_path / "stick.img", tmp_path / "mnt"
    with image.open("wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-L", "CEREMONY", str(image)], check=True)
    mnt.mkdir()
    _mount("-o", "loop", str(image), str(mnt))
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_linux_source_sees_a_real_mount(loop_volume: Path) -> None:
    volume = find_volume(LinuxSource(include_fixed=True), loop_volume)
    assert volume is not None
    assert volume.device.startswith("/dev/loop")
    assert not volume.read_only
    assert 0 < volume.free_bytes < 8 << 20
    assert find_volume(LinuxSource(), loop_volume) is None  # a loop device is not removable
    _mount("-o", "remount,ro", str(loop_volume))
    volume = find_volume(LinuxSource(include_fixed=True), loop_volume)
    assert volume is not None and volume.read_only
    folder_view = FolderSource([loop_volume]).volumes()
    assert folder_view[0].read_only
