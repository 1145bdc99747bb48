"""Pebble for the reference runs: see :mod:`ceremony.online.bench.pebble`."""

from __future__ import annotations

from ceremony.online.bench.pebble import Pebble, start_pebble

__all__ = ["Pebble", "start_pebble"]
