"""Import from and export to media, including read-only, full and removed media (real mounts)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ceremony.errors import InputError, MediaError
from ceremony.media.transfer import (
    MANIFEST,
    Candidate,
    export_files,
    list_candidates,
    read_candidate,
)
from ceremony.media.volumes import FolderSource

KiB = 1024
MiB = 1024 * KiB


def _csr(cn: str, encoding: serialization.Encoding) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(encoding)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# Import


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    root = tmp_path / "stick"
    root.mkdir()
    return root


def test_candidates_are_recognised_by_content(stick: Path) -> None:
    pem = _csr("pem", serialization.Encoding.PEM)
    der = _csr("der", serialization.Encoding.DER)
    (stick / "request.txt").write_bytes(pem)
    (stick / "sub" / "deeper").mkdir(parents=True)
    (stick / "sub" / "deeper" / "blob.bin").write_bytes(der)
    (stick / "a" / "b" / "c" / "d").mkdir(parents=True)
    (stick / "a" / "b" / "c" / "d" / "too-deep.csr").write_bytes(pem)
    (stick / "notes.txt").write_text("not a CSR\n")
    (stick / "photo.der").write_bytes(b"\x30\x03\x02\x01\x00")
    (stick / "empty.csr").touch()
    (stick / "report.csr").write_text("a letter, not a request\n")
    os.mkfifo(stick / "pipe.csr")
    (stick / "link.csr").symlink_to("/etc/passwd")
    candidates = list_candidates(stick)
    assert candidates == [
        Candidate(stick / "link.csr", 0, None, None, "a symbolic link; not followed"),
        Candidate(
            stick / "report.csr",
            24,
            None,
            _sha(b"a letter, not a request\n"),
            "not a CSR: neither a PEM CERTIFICATE REQUEST block nor a DER CSR",
        ),
        Candidate(stick / "request.txt", len(pem), "PEM", _sha(pem)),
        Candidate(stick / "sub" / "deeper" / "blob.bin", len(der), "DER", _sha(der)),
    ]
    assert [c.accepted for c in candidates] == [False, False, True, True]


def test_oversize_file_is_listed_as_refused_without_being_read(stick: Path) -> None:
    huge = stick / "huge.bin"
    with huge.open("wb") as f:
        f.write(b"-----BEGIN CERTIFICATE REQUEST-----\n")
        f.truncate(16 << 30)  # sparse: reading it whole would take minutes and 16 GiB
    (stick / "big-video.mp4").write_bytes(b"\x00" * (2 * MiB))
    start = time.monotonic()
    (candidate,) = list_candidates(stick)
    assert time.monotonic() - start < 5
    assert candidate == Candidate(
        huge, 16 << 30, None, None, "16.0 GiB, larger than the 1.0 MiB limit"
    )
    with pytest.raises(InputError, match=r"16\.0 GiB, larger than the 1\.0 MiB limit"):
        read_candidate(huge)
    small_limit = list_candidates(stick, max_size=10)
    assert [c.path.name for c in small_limit] == ["huge.bin"]


def test_read_candidate_checks_size_type_and_hash(stick: Path) -> None:
    pem = _csr("pem", serialization.Encoding.PEM)
    path = stick / "req.csr"
    path.write_bytes(pem)
    data, digest = read_candidate(path, expected_sha256=_sha(pem).upper())
    assert (data, digest) == (pem, _sha(pem))
    path.write_bytes(pem.replace(b"-----END", b"\n-----END"))
    with pytest.raises(InputError, match="changed since it was listed"):
        read_candidate(path, expected_sha256=digest)
    with pytest.raises(InputError, match="larger than the 100 bytes limit"):
        read_candidate(path, 100)
    (stick / "link.csr").symlink_to(path)
    os.mkfifo(stick / "pipe.csr")
    for name, reason in [
        ("link.csr", "a symbolic link"),
        ("pipe.csr", "not a regular file"),
        ("missing.csr", "no such file"),
        (".", "not a regular file"),
    ]:
        with pytest.raises(InputError, match=reason) as info:
            read_candidate(stick / name)
        assert type(info.value) is InputError


def test_listing_a_missing_volume_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="cannot list the volume"):
        list_candidates(tmp_path / "unplugged")


# Export

FILES = {
    "issuing-ca-1.pem": b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "chain.pem": b"chain\n",
    "trust-kit/root-ca.der": bytes(range(256)) * 4,
    "trust-kit/README.txt": b"How to trust the root\n",
}


def test_export_writes_files_and_a_checkable_manifest(stick: Path) -> None:
    result = export_files(stick, "issuing-ca-1", FILES)
    folder = stick / "issuing-ca-1"
    assert result.folder == folder
    assert [w.path for w in result.files] == [folder / name for name in FILES]
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    assert result.manifest.path == folder / MANIFEST
    manifest = (folder / MANIFEST).read_text()
    assert manifest == "".join(sorted(f"{_sha(d)}  {n}\n" for n, d in FILES.items()))
    check = subprocess.run(
        ["sha256sum", "-c", MANIFEST], cwd=folder, capture_output=True, text=True, check=True
    )
    assert check.stdout.count(": OK") == len(FILES)
    assert _tree(stick) == [
        "issuing-ca-1",
        "issuing-ca-1/SHA256SUMS",
        "issuing-ca-1/chain.pem",
        "issuing-ca-1/issuing-ca-1.pem",
        "issuing-ca-1/trust-kit",
        "issuing-ca-1/trust-kit/README.txt",
        "issuing-ca-1/trust-kit/root-ca.der",
    ]


def test_export_never_overwrites(stick: Path) -> None:
    export_files(stick, "out", {"a.pem": b"first"})
    with pytest.raises(InputError, match="already exists; exports never overwrite"):
        export_files(stick, "out", {"a.pem": b"second"})
    assert (stick / "out" / "a.pem").read_bytes() == b"first"
    (stick / "plain-file").write_bytes(b"keep")
    with pytest.raises(InputError, match="already exists"):
        export_files(stick, "plain-file", {"a.pem": b"x"})
    assert (stick / "plain-file").read_bytes() == b"keep"


@pytest.mark.parametrize(
    ("folder", "files", "reason"),
    [
        ("", {"a": b""}, "not a portable file name"),
        ("..", {"a": b""}, "not a portable file name"),
        ("a/b", {"a": b""}, "not a portable file name"),
        ("out", {}, "no files to write"),
        ("out", {"../escape.pem": b""}, "not a portable file name"),
        ("out", {"/etc/x": b""}, "not a portable file name"),
        ("out", {"a//b": b""}, "not a portable file name"),
        ("out", {"what?.pem": b""}, "not a portable file name"),
        ("out", {"trailing.": b""}, "not a portable file name"),
        ("out", {"SHA256SUMS": b""}, "written by the export itself"),
        ("out", {"Root.pem": b"", "root.PEM": b""}, "collide on FAT media"),
        ("out", {"kit": b"", "kit/a.pem": b""}, "needs 'kit' to be a folder"),
    ],
)
def test_export_refuses_bad_names_before_touching_the_media(
    stick: Path, folder: str, files: dict[str, bytes], reason: str
) -> None:
    with pytest.raises(InputError, match=reason):
        export_files(stick, folder, files)
    assert _tree(stick.parent) == ["stick"]


def test_export_to_a_missing_volume(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="the volume is not available"):
        export_files(tmp_path / "unplugged", "out", {"a.pem": b"x"})


# Faults on real file systems (root can mount; elsewhere these tests skip)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True)


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount something on a fresh folder; every mount is undone afterwards."""
    mounted: list[Path] = []

    def do(*args: str, name: str = "media") -> Path:
        point = tmp_path / name
        point.mkdir(exist_ok=True)
        result = _run("mount", *args, str(point))
        if result.returncode != 0:
            pytest.skip(f"mounting is not permitted here: {result.stderr.strip()}")
        mounted.append(point)
        return point

    yield do
    for point in reversed(mounted):
        for _ in range(5):
            if not os.path.ismount(point):
                break
            _run("umount", "-l", str(point))


def test_read_only_media(mount: Callable[..., Path]) -> None:
    media = mount("-t", "tmpfs", "-o", "size=1m,ro", "tmpfs")
    with pytest.raises(MediaError, match="read-only") as info:
        export_files(media, "out", {"a.pem": b"x"})
    assert info.value.exit_code == 3
    assert _tree(media) == []
    assert FolderSource([media]).volumes()[0].read_only


def test_media_remounted_read_only(mount: Callable[..., Path]) -> None:
    media = mount("-t", "tmpfs", "-o", "size=1m", "tmpfs")
    export_files(media, "first", {"a.pem": b"x"})
    assert _run("mount", "-o", "remount,ro", str(media)).returncode == 0
    with pytest.raises(MediaError, match="read-only"):
        export_files(media, "second", {"a.pem": b"x"})
    assert _tree(media) == ["first", "first/SHA256SUMS", "first/a.pem"]


def test_too_little_space_is_refused_before_writing(mount: Callable[..., Path]) -> None:
    media = mount("-t", "tmpfs", "-o", "size=64k", "tmpfs")
    with pytest.raises(MediaError, match="not enough space on the media") as info:
        export_files(media, "out", {"big.bin": os.urandom(256 * KiB)})
    assert info.value.exit_code == 3
    assert _tree(media) == []


def test_media_full_mid_export_leaves_nothing(mount: Callable[..., Path]) -> None:
    """Small files pass the free-space estimate, but each takes a 4 KiB page on tmpfs."""
    media = mount("-t", "tmpfs", "-o", "size=64k", "tmpfs")
    files = {f"cert-{i:02}.pem": os.urandom(1000) for i in range(30)}
    with pytest.raises(MediaError) as info:
        export_files(media, "out", files)
    message = info.value.message
    assert "no space left on the device" in message
    assert "rolled back, nothing of it is left" in message
    assert "\n" not in message
    assert _tree(media) == []
    assert shutil.disk_usage(media).used == 0
    export_files(media, "out", {"fits.pem": b"x"})


@pytest.fixture
def ext4_image(tmp_path: Path) -> Path:
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 is not installed")
    image = tmp_path / "stick.img"
    with image.open("wb") as f:
        f.truncate(512 * MiB)
    subprocess.run(["mkfs.ext4", "-q", "-L", "STICK", str(image)], check=True)
    return image


def _detach_when_writing(media: Path, file: Path, done: threading.Event) -> threading.Thread:
    """Lazily unmount ``media`` as soon as the temporary file of ``file`` appears."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not done.is_set():
            try:
                writing = any(
                    n.startswith(f".{file.name}.") and n.endswith(".partial")
                    for n in os.listdir(file.parent)
                )
            except OSError:
                writing = False
            if writing:
                _run("umount", "-l", str(media))
                return
            time.sleep(0.0005)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def test_media_removed_mid_write(mount: Callable[..., Path], ext4_image: Path) -> None:
    """``umount -l`` while the big file is being written: the media vanishes from its path.

    ``small.pem`` is complete by then. The export's open descriptor keeps the
    detached file system alive, so the rollback can still delete the folder
    there; remounting the image proves the stick holds no trace of the export
    (not even the complete first file), and nothing went to the mount point.
    """
    media = mount("-o", "loop", str(ext4_image))
    before = _tree(media)
    files = {"small.pem": b"small\n", "big.bin": os.urandom(192 * MiB), "after.pem": b"x"}
    done = threading.Event()
    watcher = _detach_when_writing(media, media / "out" / "big.bin", done)
    try:
        with pytest.raises(MediaError) as info:
            export_files(media, "out", files)
    finally:
        done.set()
        watcher.join()
    message = info.value.message
    assert info.value.exit_code == 3
    assert "removed" in message, message
    assert "\n" not in message
    assert not os.path.ismount(media)
    assert _tree(media) == []
    for _ in range(50):
        if _run("mount", "-o", "loop", str(ext4_image), str(media)).returncode == 0:
            break
        time.sleep(0.1)
    assert os.path.ismount(media)
    assert _tree(media) == before


class _DetachOnRead(Mapping[str, bytes]):
    """Export data whose first read after the folder exists detaches the media.

    That is the moment between the export's presence check and the write, when
    a write would re-create the folder on the disk underneath the mount point.
    """

    def __init__(self, media: Path, files: dict[str, bytes], trigger: str) -> None:
        self.media, self.files, self.trigger, self.fired = media, files, trigger, False

    def __getitem__(self, name: str) -> bytes:
        if name == self.trigger and not self.fired and (self.media / "out").is_dir():
            self.fired = True
            assert _run("umount", "-l", str(self.media)).returncode == 0
        return self.files[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def test_media_removed_between_files_leaves_nothing_under_the_mount_point(
    mount: Callable[..., Path],
) -> None:
    media = mount("-t", "tmpfs", "-o", "size=1m", "tmpfs")
    files = _DetachOnRead(media, {"first.pem": b"1", "second.pem": b"2"}, "first.pem")
    with pytest.raises(MediaError, match="the media was removed during the export") as info:
        export_files(media, "out", files)
    assert files.fired
    assert "rolled back" in info.value.message
    assert not os.path.ismount(media)
    assert _tree(media) == []
