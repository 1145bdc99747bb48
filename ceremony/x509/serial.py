"""How the product writes a certificate serial number, everywhere (logs, transcripts,
the CPS, the CLI, the wizard): lowercase hex of the number, an even count of digits,
no separators; as ``openssl x509 -serial`` prints it, in lowercase."""

from __future__ import annotations


def serial_text(serial: int) -> str:
    digits = f"{serial:x}"
    return digits if len(digits) % 2 == 0 else "0" + digits
