"""`ceremony verify` and `ceremony --help` load only what they use: no HTTP client stack
(aiohttp, which pyHanko imports for network time stamps and fetching), no PKCS#11, no PDF
rendering, no Qt. Signing documents needs no aiohttp either."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("aiohttp", "pkcs11", "reportlab", "qrcode", "PySide6", "sqlalchemy", "starlette")

PROBE = """
import json, sys
from ceremony import cli
try:
    code = cli.run(sys.argv[1:])
except SystemExit as ex:
    code = ex.code
heavy = {heavy!r}
print(json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))
"""


def _loaded(*args: str | Path) -> tuple[int, list[str]]:
    p = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *map(str, args)],
        capture_output=True,
        text=True,
    )
    code, loaded = json.loads(p.stdout.strip().splitlines()[-1])
    return int(code or 0), list(loaded)


@pytest.mark.parametrize("args", [["--help"], ["verify", "--help"]])
def test_help_loads_nothing_heavy(args: list[str]) -> None:
    assert _loaded(*args) == (0, [])


def test_verify_loads_no_network_hsm_or_rendering_code(demo_bundle: Path) -> None:
    assert _loaded("verify", demo_bundle) == (0, [])


def test_signing_a_document_loads_no_http_client() -> None:
    code = (
        "import sys, ceremony.audit.pdfsign, ceremony.audit.pdfverify, pyhanko.sign;"
        " print('aiohttp' in sys.modules)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "False"


def test_a_network_client_refuses_to_be_made() -> None:
    code = (
        "import ceremony.audit\n"
        "from pyhanko.sign.timestamps import HTTPTimeStamper\n"
        "HTTPTimeStamper('http://tsa.example/')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 1
    assert "InputError: nothing is fetched over a network" in p.stderr


WITHOUT_AIOHTTP = (
    "import sys\n"
    "sys.modules['aiohttp'] = None  # import aiohttp fails, as on the ceremony machine\n"
    "from ceremony import cli\n"
    "sys.exit(cli.run(sys.argv[1:]))\n"
)


def test_a_whole_rehearsal_and_its_verification_run_without_aiohttp(tmp_path: Path) -> None:
    """scripts/setup --ceremony removes aiohttp: every ceremony and verify work without it."""
    out = tmp_path / "bundle"
    for args in (["demo", "--out", str(out)], ["crl", str(out)], ["verify", str(out)]):
        p = subprocess.run(
            [sys.executable, "-c", WITHOUT_AIOHTTP, *args], capture_output=True, text=True
        )
        assert p.returncode == 0, (args, p.stdout[-2000:], p.stderr[-2000:])
