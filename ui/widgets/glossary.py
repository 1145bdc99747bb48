"""The words of a ceremony, one key press away (F1)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from ui.widgets.text import named

TERMS: tuple[tuple[str, str], ...] = (
    (
        "Token",
        "A protected key store inside the HSM (hardware security module). The root key is "
        "made inside it and never leaves it in clear.",
    ),
    (
        "Share",
        "One part of a secret split among the custodians (SLIP-39 words on a card). One share "
        "alone reveals nothing; enough of them together rebuild the secret.",
    ),
    (
        "Activation share",
        "A share of the token's PINs. M of them unlock the root key for a ceremony.",
    ),
    (
        "Recovery share",
        "A share of the backup key. M of them rebuild the root key into a new token if the "
        "HSM is lost or broken.",
    ),
    (
        "Quorum (M of N)",
        "How many custodians must present their share (M) out of all custodians (N). Fewer "
        "than M learn nothing; any M can act.",
    ),
    (
        "CSR",
        "Certificate signing request: what an intermediate CA brings on a stick, holding its "
        "public key and the name it asks the root to certify.",
    ),
    (
        "CRL",
        "Certificate revocation list: the root's signed list of certificates it no longer "
        "vouches for, with the date of the next list.",
    ),
    (
        "Fingerprint",
        "The SHA-256 of a certificate or file, read aloud as hex or as PGP words: if two "
        "fingerprints match, the two files are the same.",
    ),
    (
        "Commit step",
        "A step that cannot be undone (a key made, a certificate signed). It is read aloud "
        "and the witness agrees before it runs.",
    ),
    (
        "Exception",
        "Any deviation from the script, recorded in the event log with who noted it and what "
        "was done.",
    ),
    (
        "Transcript",
        "The signed PDF of a ceremony's event log, kept in the evidence bundle for auditors.",
    ),
)


class GlossaryDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Glossary")
        layout = QVBoxLayout(self)
        self.text = named(QTextBrowser(), "Glossary of ceremony terms")
        self.text.setHtml("".join(f"<p><b>{term}</b>: {meaning}</p>" for term, meaning in TERMS))
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        named(buttons.button(QDialogButtonBox.StandardButton.Close), "Close the glossary")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, 480)
