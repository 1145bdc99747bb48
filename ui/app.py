"""``ceremony-gui``: start the ceremony wizard.

    ceremony-gui [--bundle DIR] [--real] [--kind root|sign-csr|crl|recovery]
                 [--pkcs11-module PATH] [--first-page-only]

``--bundle`` preselects a bundle folder (to resume an interrupted
ceremony); ``--first-page-only`` shows the first page, prints the time from
process start to it and the peak memory, and exits (start-up benchmark).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _process_age_seconds() -> float:
    """Seconds since this process started (Linux /proc), else since this module loaded."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start / ticks
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _LOADED


_LOADED = time.perf_counter()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ceremony-gui", description="The ceremony wizard.")
    p.add_argument("--bundle", type=Path, help="bundle folder to preselect (resume)")
    p.add_argument("--real", action="store_true", help="preselect a real ceremony")
    p.add_argument(
        "--kind", choices=["root", "sign-csr", "crl", "recovery"], help="preselect a ceremony"
    )
    p.add_argument("--pkcs11-module", help="PKCS#11 module (default: SoftHSM2)")
    p.add_argument("--sys-net", type=Path, help=argparse.SUPPRESS)
    p.add_argument(
        "--first-page-only",
        action="store_true",
        help="show the first page, print start-up time and peak memory, exit",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.options import Options
    from ui.style import apply_style
    from ui.window import CeremonyWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("ceremony")
    apply_style(app)
    options = Options(
        module_path=args.pkcs11_module,
        folder=args.bundle,
        kind=args.kind,
        rehearsal=False if args.real else None,
    )
    if args.sys_net:
        options.sys_net = args.sys_net
    if args.bundle is not None and args.kind is None:
        from ceremony.bundle import Bundle
        from ceremony.flow.wizard import open_ceremony

        options.kind = open_ceremony(args.bundle)  # reopened after a crash: offer to resume
        if options.kind is not None and not args.real:
            options.rehearsal = Bundle(args.bundle).is_rehearsal
    window = CeremonyWindow(options)
    window.show()
    if args.first_page_only:
        app.processEvents()
        age = _process_age_seconds()
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"first page shown {age * 1000:.0f} ms after process start; "
            f"peak memory {peak_kib / 1024:.1f} MiB"
        )
        QTimer.singleShot(0, window.shutdown)
        QTimer.singleShot(0, app.quit)
    code = app.exec()
    window.shutdown()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
