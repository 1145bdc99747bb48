"""``scripts/screenshots DIR``: the real wizard, offscreen, through a full rehearsal.

Runs a root ceremony (five custodians, three needed), then with three of
the five present an intermediate signing ceremony (the sample CSR on a
simulated USB stick), a CRL ceremony revoking that intermediate, and a
recovery into a new token, on one rehearsal bundle; saves one PNG per page
and per question panel into
DIR/<ceremony>/, for the README and for reviews. ``--scale 2`` renders at twice the pixel density
(the high-DPI look). Runs without pytest: the same driver as the GUI tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/screenshots", description=__doc__)
    p.add_argument("out", type=Path, help="folder for the PNG files")
    p.add_argument("--scale", type=float, default=1.0, help="device pixel ratio (e.g. 2)")
    p.add_argument("--key", default="ecdsa-p384", help="root key type of the rehearsal")
    p.add_argument("--size", default="1366x768", help="window size in logical pixels")
    args = p.parse_args(argv)
    width, height = (int(x) for x in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="ceremony-screenshots-"))
    if os.environ.setdefault("QT_QPA_PLATFORM", "offscreen") == "offscreen":
        import json

        screen = {"name": "screen", "x": 0, "y": 0, "width": width, "height": height + 80}
        (work / "screen.json").write_text(json.dumps({"screens": [screen]}))
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={work / 'screen.json'}"
    if args.scale != 1.0:
        os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    def qt_message(kind: QtMsgType, context: object, text: str) -> None:
        if "does not support propagateSizeHints" in text:
            return  # the offscreen platform cannot size a window to its hints; no fault here
        print(f"Qt: {text}", file=sys.stderr)

    qInstallMessageHandler(qt_message)

    from ceremony.flow.wizard import sample_csr
    from ceremony.media.volumes import FolderSource
    from tests.gui.driver import OffscreenBot, WizardDriver
    from ui.options import Options
    from ui.style import apply_style
    from ui.window import CeremonyWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    apply_style(app)
    net = work / "net" / "lo"
    net.mkdir(parents=True)
    (net / "flags").write_text("0x1009\n")
    stick = work / "media" / "CSR-STICK"
    stick.mkdir(parents=True)
    data, name = sample_csr()
    (stick / name).write_bytes(data)
    options = Options(sys_net=work / "net", media=FolderSource([stick]), media_poll_ms=200)
    cards: dict[tuple[str, str], str] = {}
    results = []
    try:
        absent = ("Custodian 2", "Custodian 4")
        for kind in ("root", "sign-csr", "crl", "recovery"):
            window = CeremonyWindow(options)
            window.resize(width, height)
            window.show()
            window.activateWindow()
            QTest.qWaitForWindowActive(window)
            driver = WizardDriver(window, OffscreenBot(), args.out / kind)
            driver.cards = cards
            bundle = work / "bundle"
            try:
                if kind == "root":
                    valid = driver.rehearse_root(bundle, key=args.key, threshold=3, shares=5)
                elif kind == "sign-csr":
                    valid = driver.sign_csr(bundle, name, absent=absent)
                elif kind == "crl":
                    valid = driver.revoke(bundle, absent=absent)
                else:
                    valid = driver.recover(bundle, "root-ca-restored", absent=absent)
            finally:
                window.shutdown()
                window.close()
            print(f"{kind}: {driver.count} screenshots in {args.out / kind}; valid: {valid}")
            results.append(valid)
        return 0 if all(results) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
