"""Run one measured command in this process and print a JSON line of figures.

``python -m ceremony.bench.measure demo OUT KEY`` or ``... verify OUT``: wall
seconds, peak RSS (MiB) of this process and seconds spent in PKCS#11 calls.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from ceremony.hsm.errors import HsmClock

    start = time.perf_counter()
    if argv[0] == "demo":
        from ceremony.demo import run_demo
        from ceremony.hsm.keys import KeyAlgorithm

        run_demo(Path(argv[1]), KeyAlgorithm.parse(argv[2]))
    elif argv[0] == "verify":
        from ceremony.audit.verify import verify_bundle

        checks = verify_bundle(Path(argv[1]))
        if not all(c.ok for c in checks):
            print(json.dumps({"error": [c.line() for c in checks if not c.ok]}))
            return 1
    elif argv[0] == "drill":
        from ceremony.bench.custody import drill

        print(json.dumps({"drill": drill(argv[1])}))
        return 0
    else:
        raise SystemExit(f"unknown measurement {argv[0]!r}")
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "peak_mib": peak, "hsm": HsmClock.seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
