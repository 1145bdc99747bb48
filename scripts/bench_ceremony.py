"""Driver of scripts/bench-ceremony (see there)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEYS = {
    "ecdsa-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ecdsa-p384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "rsa-3072": ["-newkey", "rsa:3072"],
    "rsa-4096": ["-newkey", "rsa:4096"],
    "ed25519": ["-newkey", "ed25519"],
}
RUNS = 3


def measure(*args: str) -> dict[str, float]:
    p = subprocess.run(
        [sys.executable, "-m", "ceremony.bench.measure", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(p.stdout.strip().splitlines()[-1])


def openssl_baseline(key: str, work: Path) -> float:
    """A root certificate and a CRL by plain openssl commands, as a script folder would."""
    start = time.perf_counter()
    (work / "index.txt").write_text("")
    (work / "crlnumber").write_text("01\n")
    (work / "ca.cnf").write_text(
        "[ca]\ndefault_ca=c\n[c]\ndatabase=index.txt\ncrlnumber=crlnumber\n"
        "default_md=sha384\ndefault_crl_days=365\n"
        "[req]\ndistinguished_name=dn\nx509_extensions=v3\nprompt=no\n[dn]\nCN=Bench Root\n"
        "[v3]\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    run = lambda *a: subprocess.run(a, cwd=work, check=True, capture_output=True)  # noqa: E731
    run(
        "openssl",
        "req",
        "-x509",
        "-config",
        "ca.cnf",
        *KEYS[key],
        "-nodes",
        "-keyout",
        "root.key",
        "-out",
        "root.pem",
        "-days",
        "7305",
    )
    run(
        "openssl",
        "ca",
        "-config",
        "ca.cnf",
        "-gencrl",
        "-keyfile",
        "root.key",
        "-cert",
        "root.pem",
        "-out",
        "root.crl",
        *(["-md", "default"] if key == "ed25519" else []),
    )
    return time.perf_counter() - start


def custody() -> None:
    from ceremony.bench.custody import ITERATION_EXPONENT, split_recover

    print(f"\nSLIP-39 3-of-5 split and recovery of the 32-byte backup key, median of {RUNS}")
    base = sorted(split_recover(0) for _ in range(RUNS))[RUNS // 2]
    ours = sorted(split_recover(ITERATION_EXPONENT) for _ in range(RUNS))[RUNS // 2]
    print(f"  exponent 0 (baseline):       split {base[0]:.3f} s, recover {base[1]:.3f} s")
    print(
        f"  exponent {ITERATION_EXPONENT} (ours, 640k PBKDF2): split {ours[0]:.3f} s, recover "
        f"{ours[1]:.3f} s  ({ours[0] / base[0]:.0f}x, {ours[1] / base[1]:.0f}x)"
    )
    print("\nrestore drill on its own (shares -> scratch token -> unwrap -> proof -> delete)")
    for key in ("ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bundle"
            measure("demo", str(out), key)
            p = subprocess.run(
                [sys.executable, "-m", "ceremony.bench.measure", "drill", str(out)],
                capture_output=True,
                text=True,
                check=True,
            )
            t = json.loads(p.stdout.strip().splitlines()[0])["drill"]
            print(f"  {key:<11} {t:.2f} s")


def child(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process, from its own rusage."""
    return child_cpu(argv, env, cwd)[:2]


def child_cpu(
    argv: list[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one child process."""
    import os

    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{argv[0]} exited with status {status}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def five_ceremonies(out: Path) -> None:
    """root + sign-csr (demo), a recovery into a new token, two CRL ceremonies."""
    cli = [sys.executable, "-m", "ceremony"]
    subprocess.run([*cli, "demo", "--out", str(out)], check=True, capture_output=True)
    shares = out.parent / "shares.txt"
    lines = (out / "rehearsal/backup-shares.txt").read_text().splitlines()
    shares.write_text("\n".join(lines[:3]) + "\n")
    for args in (
        ["restore", str(out), "--shares", str(shares), "--to-token", "root-ca-2"],
        ["crl", str(out)],
        ["crl", str(out)],
    ):
        subprocess.run([*cli, *args], check=True, capture_output=True)


def verify_start() -> None:
    """`ceremony verify` of a five-ceremony bundle and `ceremony --help`, as processes, against
    the interpreter's own start and `sha256sum -c` of the same bundle, in the same run."""
    import os

    runs = 5
    env = dict(os.environ)
    cli = [sys.executable, "-m", "ceremony"]

    def median(argv: list[str], cwd: Path | None = None) -> tuple[float, float, float]:
        results = sorted(child_cpu(argv, env, cwd) for _ in range(runs))
        return results[runs // 2]

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle"
        five_ceremonies(out)
        verify = median([*cli, "verify", str(out)])
        sums = median(["sha256sum", "-c", "SHA256SUMS"], cwd=out)
    helps = median([*cli, "--help"])
    bare = median([sys.executable, "-c", "pass"])
    print(f"\nprocess start to exit, median of {runs} (wall s / CPU s / peak MiB)")
    for name, (wall, peak, cpu) in (
        ("ceremony verify, 5 ceremonies", verify),
        ("ceremony --help", helps),
        ("python -c pass (baseline)", bare),
        ("sha256sum -c (baseline)", sums),
    ):
        print(f"  {name:<31} {wall:6.2f} / {cpu:6.2f} / {peak:6.1f}")
    print(
        f"  verify: {verify[2] / bare[2]:.0f}x the interpreter's CPU, "
        f"{verify[2] - bare[2]:.2f} CPU s of its own; --help: {helps[2] - bare[2]:.2f} CPU s"
    )


BARE_QT = (
    "from PySide6.QtWidgets import QApplication, QLabel; a = QApplication([]); "
    "w = QLabel('x'); w.show(); a.processEvents()"
)


def gui() -> None:
    import os

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    gui_bin = str(Path(sys.executable).parent / "ceremony-gui")
    ours = sorted(child([gui_bin, "--first-page-only"], env) for _ in range(RUNS))[RUNS // 2]
    bare = sorted(child([sys.executable, "-c", BARE_QT], env) for _ in range(RUNS))[RUNS // 2]
    print(f"\nwizard cold start to first page (offscreen), median of {RUNS}")
    print(f"  ceremony-gui:           {ours[0]:.2f} s, peak {ours[1]:.0f} MiB")
    print(f"  bare PySide6 window:    {bare[0]:.2f} s, peak {bare[1]:.0f} MiB (baseline)")
    print(f"  ratio: {ours[0] / bare[0]:.1f}x time, {ours[1] / bare[1]:.1f}x memory")


def main() -> int:
    if sys.argv[1:] == ["--verify"]:
        verify_start()
        return 0
    print(f"ceremony demo per key type, median of {RUNS} runs (2-core machine)")
    print(
        f"{'key':<11} {'demo s':>8} {'peak MiB':>9} {'HSM s':>7} {'HSM %':>6} "
        f"{'openssl s':>10} {'ratio':>7}"
    )
    for key in KEYS:
        if key == "ed25519":
            continue  # SoftHSM2 cannot wrap Ed25519 keys: the root ceremony refuses them
        rows, base = [], []
        for _ in range(RUNS):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "bundle"
                rows.append(measure("demo", str(out), key))
                b = Path(tmp) / "openssl"
                b.mkdir()
                base.append(openssl_baseline(key, b))
        rows.sort(key=lambda r: r["wall"])
        m = rows[len(rows) // 2]
        ob = sorted(base)[len(base) // 2]
        print(
            f"{key:<11} {m['wall']:>8.2f} {max(r['peak_mib'] for r in rows):>9.1f} "
            f"{m['hsm']:>7.2f} {100 * m['hsm'] / m['wall']:>5.0f}% {ob:>10.3f} "
            f"{m['wall'] / ob:>6.1f}x"
        )
    custody()
    gui()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle"
        measure("demo", str(out), "ecdsa-p384")
        v = sorted((measure("verify", str(out)) for _ in range(RUNS)), key=lambda r: r["wall"])
        start = time.perf_counter()
        subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, check=True, capture_output=True)
        sums = time.perf_counter() - start
    m = v[len(v) // 2]
    print(
        f"\nceremony verify (ecdsa-p384 bundle): {m['wall']:.2f} s, peak {m['peak_mib']:.1f} MiB;"
        f" baseline sha256sum -c alone {sums:.3f} s, ratio {m['wall'] / sums:.0f}x"
    )
    verify_start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
