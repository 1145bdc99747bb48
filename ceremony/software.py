"""What software ran the ceremony: the installation's identity, recorded in every log.

The ``ceremony`` and ``ui`` packages are identified by a hash of their source
files; everything else by the name and version of every installed
distribution, Python, the operating system (``/etc/os-release``) and the
kernel. Each ceremony's opening event carries :func:`identity`, so an auditor
can tell the software of one ceremony from another's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import platform
import sys
from functools import cache
from pathlib import Path
from typing import Any

import ceremony

OS_RELEASE = Path("/etc/os-release")
OS_FIELDS = ("PRETTY_NAME", "ID", "VERSION_ID", "VERSION_CODENAME")


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@cache
def package_hash() -> str:
    """SHA-256 over the relative path and bytes of every ``.py`` file of the package."""
    return _tree_hash(Path(ceremony.__file__).parent)


@cache
def ui_hash() -> str | None:
    """The same hash of the ``ui`` package, found without importing it (no Qt here)."""
    spec = importlib.util.find_spec("ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    return _tree_hash(Path(next(iter(spec.submodule_search_locations))))


def version() -> str:
    return ceremony.__version__


def distributions() -> list[str]:
    """``name==version`` of every installed distribution, sorted."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[str(name).lower()] = str(dist.version)
    return [f"{n}=={v}" for n, v in sorted(found.items())]


def os_release(path: Path = OS_RELEASE) -> dict[str, str]:
    """The identifying fields of ``/etc/os-release`` (empty where the file is missing)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(errors="replace")[:16384]
    except OSError:
        return out
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in OS_FIELDS:
            out[key] = value.strip().strip('"')
    return out


@cache
def identity() -> dict[str, Any]:
    """The whole installation, as the opening event records it."""
    dists = distributions()
    uname = platform.uname()
    return {
        "ceremony": {"version": version(), "sha256": package_hash()},
        "ui": {"sha256": ui_hash()},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "distributions": dists,
        "distributions_sha256": hashlib.sha256("\n".join(dists).encode()).hexdigest(),
        "os": os_release(),
        "kernel": {"release": uname.release, "version": uname.version, "machine": uname.machine},
    }
