"""Console script ``ceremony-online``: the online CA, from the optional ``online`` extra."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from ceremony.online.cli import main as online_main
    except ImportError as ex:
        missing = ex.name or "a dependency"
        print(
            f"error: ceremony-online needs the online extra ({missing} is not installed): "
            "pip install 'ceremony[online]'",
            file=sys.stderr,
        )
        return 2
    return online_main()


if __name__ == "__main__":
    sys.exit(main())
