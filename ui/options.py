"""What the wizard is started with: command-line choices and test seams."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ceremony.flow.wizard import SYS_NET
from ceremony.media.volumes import LinuxSource, VolumeSource


@dataclass
class Options:
    """Start-up options; tests pass a fake ``sys_net`` tree and a module path."""

    sys_net: Path = SYS_NET
    """Network interfaces folder read by the preflight page."""
    module_path: str | None = None
    """PKCS#11 module; None: ``CEREMONY_PKCS11_MODULE`` or the installed SoftHSM2."""
    folder: Path | None = None
    """Bundle folder to preselect (``--bundle``), e.g. to resume after a crash."""
    kind: str | None = None
    rehearsal: bool | None = None
    media: VolumeSource = field(default_factory=LinuxSource)
    """Where removable media are found (tests: a ``FolderSource``)."""
    media_poll_ms: int = 1500
