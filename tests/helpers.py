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


def make_csr(path: Path, common_name: str = "Example Issuing CA", **attrs: str) -> Path:
    """A good intermediate CSR (P-256, CA:TRUE pathLen 0) for ``common_name``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Issuing")]
    names += [x509.NameAttribute(getattr(NameOID, k.upper()), v) for k, v in attrs.items()]
    names.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def start_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``ceremony ARGS`` started in the background (see :func:`run_cli`)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CEREMONY_FAULT")}
    full_env.pop("SOFTHSM2_CONF", None)
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "ceremony", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )


def wait_stopped(proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Wait until ``proc`` stopped itself (``CEREMONY_FAULT_INJECT=step:stop``)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {proc.communicate()}")
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "T":
            return
        time.sleep(0.05)
    raise AssertionError("the process did not stop")
