"""Bootstrap of an empty data folder: a rehearsal hierarchy made the real way.

The offline/online loop runs end to end, unattended, on SoftHSM2:

1. ``init-intermediate``: the issuing key is generated in the data folder's
   token and its CSR written to ``rehearsal/``;
2. the ceremony engine's rehearsal (``ceremony demo``) runs the root key
   ceremony in ``rehearsal/root-ceremony/`` and signs that CSR in its signing
   ceremony, with transcripts ``ceremony verify`` checks;
3. ``import-intermediate`` installs the signed certificate as the active issuer.

The work is done in ``.bootstrap/`` inside the data folder and moved into
place at the end, ``online.toml`` last: an interrupted bootstrap leaves a
folder the next ``serve`` starts again from scratch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ceremony.errors import FaultError
from ceremony.online.config import BOOTSTRAP_DIR, CONFIG_NAME, DataFolder, render_config
from ceremony.online.hierarchy import rehearsal_config
from ceremony.online.intermediate import import_intermediate, init_intermediate

ROOT_CEREMONY = "root-ceremony"
ISSUING_CA_NAME = "online-issuing-ca"
ISSUING_CA_SUBJECT = "Ceremony Rehearsal Issuing CA"


def root_bundle(folder: DataFolder) -> Path:
    """The rehearsal evidence bundle of the root that signed the bootstrap issuer."""
    return folder.rehearsal / ROOT_CEREMONY


def bootstrap_rehearsal(folder: DataFolder) -> str:
    """Fill an empty data folder with a rehearsal hierarchy; return the issuer id."""
    folder.create()
    try:
        return _bootstrap(folder)
    except OSError as ex:
        raise FaultError(
            f"--data {folder.root}: bootstrap failed ({ex.strerror}: {ex.filename}); "
            "run serve again to start over"
        ) from ex


def _bootstrap(folder: DataFolder) -> str:
    from ceremony.demo import CsrToSign, run_demo

    work = DataFolder(folder.root / BOOTSTRAP_DIR)
    if work.root.exists():
        shutil.rmtree(work.root)
    work.root.mkdir()
    work.rehearsal.mkdir(mode=0o700)
    (work.root / CONFIG_NAME).write_text(render_config(rehearsal_config()))
    csr = init_intermediate(work.root, work.rehearsal, ISSUING_CA_SUBJECT, "ecdsa-p256")
    bundle = run_demo(root_bundle(work), csr=CsrToSign(csr.read_bytes(), csr.name, ISSUING_CA_NAME))
    issuer_id = import_intermediate(
        work.root,
        bundle.path(f"issued/{ISSUING_CA_NAME}.pem"),
        bundle.path("root/root-ca.pem"),
        None,
    )
    for entry in sorted(work.root.iterdir(), key=lambda p: p.name == CONFIG_NAME):
        entry.rename(folder.root / entry.name)
    work.root.rmdir()
    return issuer_id
