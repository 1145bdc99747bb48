"""The one error tree of the product.

Every refusal the user can cause is an :class:`InputError` (exit 2); every
fault outside our control (HSM, media, disk) is a :class:`FaultError`
(exit 3). The CLI prints ``error: <message>`` on one line and exits with
:attr:`CeremonyError.exit_code`.
"""

from __future__ import annotations


class CeremonyError(Exception):
    """Base of every error the product raises on purpose."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0])


class InputError(CeremonyError):
    """Input refused: bad file, bad share, policy violation, usage (exit 2)."""

    exit_code = 2


class PolicyError(InputError):
    """A certificate, CRL or CSR violates the profile or the lint gate."""


class ConfigError(InputError):
    """The ceremony file or the secrets/locator file is malformed."""


class ShareError(InputError):
    """A recovery or activation share is wrong, foreign, duplicated or missing."""


class FaultError(CeremonyError):
    """Fault outside our control: HSM/token error, media removed, disk full (exit 3)."""

    exit_code = 3


class HsmError(FaultError):
    """The PKCS#11 module or token failed or refused."""


class MediaError(FaultError):
    """Removable media or the file system failed during a read or write."""


class VerificationFailed(CeremonyError):
    """``verify`` found the evidence invalid (exit 1)."""

    exit_code = 1
