"""pyHanko without its network clients: the ceremony machine never fetches.

``import pyhanko.sign`` loads pyHanko's HTTP time-stamp client and the
certificate validator's HTTP fetchers, and with them aiohttp (an HTTP client
stack of about 0.4 s of imports), although no document of this tool is
time-stamped over a network and validation is given every certificate and CRL
it needs (``allow_fetching=False``). :func:`without_network_clients` puts
stand-in modules in their place before pyHanko is imported: the same names,
refusing to run. Call it before any ``pyhanko`` import.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from ceremony.errors import InputError


class _Offline:
    """Stands in for a pyHanko network client: refuses to be made."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise InputError("nothing is fetched over a network on the ceremony machine")


STAND_INS = {
    "pyhanko.sign.timestamps.aiohttp_client": "HTTPTimeStamper",
    "pyhanko_certvalidator.fetchers.aiohttp_fetchers": "AIOHttpFetcherBackend",
}
"""Module -> the one name pyHanko imports from it."""


def without_network_clients() -> None:
    for module, name in STAND_INS.items():
        if module in sys.modules:
            continue
        stand_in = types.ModuleType(module, __doc__)
        setattr(stand_in, name, type(name, (_Offline,), {"__module__": module}))
        sys.modules[module] = stand_in
