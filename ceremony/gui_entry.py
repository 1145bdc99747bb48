"""``ceremony-gui``: the Qt wizard (needs the ``gui`` extra)."""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn


def main() -> NoReturn:
    try:
        ui_main = importlib.import_module("ui.app").main
    except ImportError as ex:
        print(
            f"error: the wizard is not available: {ex}; install with pip install '.[gui]'",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.exit(ui_main())
