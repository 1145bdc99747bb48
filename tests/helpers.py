"""Test helpers: the CLI as a subprocess, refusal checks, pkcs11-tool."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ceremony.hsm.module import default_module_path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, env: dict[str, str] | None = None, timeout: int = 600) -> Result:
    """Run ``ceremony ARGS`` in a fresh process, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CEREMONY_FAULT")}
    full_env.pop("SOFTHSM2_CONF", None)
    full_env.update(env or {})
    p = subprocess.run(
        [sys.executable, "-m", "ceremony", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def assert_refused(result: Result, code: int, *words: str) -> None:
    """A refusal: the exit code, exactly one ``error:`` line naming ``words``, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in result.stderr + result.stdout
    for w in words:
        assert w in lines[0], (w, lines[0])


def pkcs11_tool(conf: Path, *args: str) -> str:
    """Run OpenSC's pkcs11-tool, an independent PKCS#11 reader, on a SoftHSM2 config."""
    p = subprocess.run(
        ["pkcs11-tool", "--module", default_module_path(), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        check=True,
    )
    return p.stdout


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` (folders, files, token objects) with its content's SHA-256,
    to show that a refusal left nothing behind and changed nothing."""
    import hashlib

    out: dict[str, str] = {}
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink() or not p.is_file():
            out[rel] = "folder" if p.is_dir() else "other"
        elif p.suffix == ".lock" and "tokens" in p.parts:
            out[rel] = "lock"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
