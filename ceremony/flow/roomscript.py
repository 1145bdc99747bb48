"""The room's script: for every step, what is read aloud, who does what with which object,
and what the result means.

One text for the wizard's step pages and the printed pre-ceremony script, so
the room reads on paper what it sees on the screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from ceremony.config.ceremonyfile import CeremonyFile
from ceremony.flow.engine import Step


@dataclass(frozen=True)
class Duty:
    who: str
    does: str


@dataclass(frozen=True)
class StepScript:
    read_aloud: str
    duties: tuple[Duty, ...]
    means: str


A, W, C, OP = "Ceremony administrator", "Witness", "Custodians", "Operator"

SCRIPTS: dict[str, StepScript] = {
    "ceremony.open": StepScript(
        "We open the ceremony. I read the SHA-256 of the ceremony file aloud; everyone compares "
        "it with the reviewed copy they hold. Each participant present signs in.",
        (
            Duty(A, "reads the ceremony file hash aloud, ticks who is present"),
            Duty(W, "compares the hash with the reviewed copy, initials the sign-in sheet"),
            Duty(C, "sign the sign-in sheet"),
        ),
        "The log starts with the ceremony file's hash, the software's hash and who is present "
        "or absent.",
    ),
    "preflight": StepScript(
        "Preflight: the HSM is detected, no network interface is up, and the clock is checked "
        "against the reference clock.",
        (
            Duty(A, "reads the software hash and the UTC time aloud"),
            Duty(W, "checks the clock against the reference and the hash against the published"),
        ),
        "The machine, its software and the HSM are recorded as they were at the start.",
    ),
    "token.init": StepScript(
        "We initialize the HSM token. Its PINs are drawn by the HSM and nobody sees them: they "
        "exist only as activation shares, one per custodian.",
        (
            Duty(A, "starts the step and calls each custodian to the screen in turn"),
            Duty(
                C,
                "each checks their printed activation share card against the screen and takes"
                " a tamper-evident bag for it",
            ),
            Duty(W, "watches that only the custodian called looks; types each bag's serial"),
        ),
        "The token exists; M activation shares unlock it, fewer reveal nothing.",
    ),
    "activation.proof": StepScript(
        "Each custodian proves their activation card before anything depends on it: they type "
        "the words the screen asks for, at random positions, from their card, then seals it in "
        "its bag.",
        (
            Duty(C, "each types the words asked from their activation card, then seals it"),
            Duty(W, "watches that only the custodian called looks, and the bags sealed"),
        ),
        "Every activation card is readable and opens this token; a wrong word is named and the "
        "share shown again so the card can be corrected.",
    ),
    "root.key": StepScript(
        "We generate the root key pair inside the HSM. The private key never leaves it.",
        (Duty(A, "starts the step"), Duty(W, "reads back the key's attributes")),
        "The root key exists only in the token, with the attributes shown.",
    ),
    "root.certificate": StepScript(
        "We sign the self-signed root certificate. I read every field of the preview aloud "
        "before it is signed; afterwards we read its fingerprint aloud.",
        (
            Duty(A, "reads the preview aloud, starts the step, reads the fingerprint"),
            Duty(W, "compares the preview with the ceremony file, initials the fingerprint"),
        ),
        "The root certificate is signed: this fingerprint identifies the root CA from now on.",
    ),
    "signer.key": StepScript(
        "We generate the key that signs this ceremony's transcripts, inside the HSM.",
        (Duty(A, "starts the step"), Duty(W, "notes the key label")),
        "Transcripts of this bundle are signed by this key, certified by the root.",
    ),
    "signer.certificate": StepScript(
        "The root certifies the transcript-signing key. I read the preview aloud first.",
        (Duty(A, "reads the preview aloud, starts the step"), Duty(W, "initials the fingerprint")),
        "Auditors check every transcript's signature against this certificate.",
    ),
    "backup.create": StepScript(
        "We back up the root key: it is wrapped under a new backup key, and the backup key is "
        "split into recovery shares, printed on cards, one per custodian.",
        (
            Duty(A, "prints the cards, calls each custodian to the screen"),
            Duty(
                C,
                "each checks their printed recovery card against the screen and takes a "
                "tamper-evident bag for it",
            ),
            Duty(W, "types each bag's serial into the wizard"),
        ),
        "Any M recovery shares rebuild the root key into a new token; fewer reveal nothing.",
    ),
    "backup.proof": StepScript(
        "Each custodian proves their recovery card by typing words at random positions, then "
        "seals it in its bag.",
        (
            Duty(C, "each types the words asked from their card, then seals it in its bag"),
            Duty(W, "watches the bags sealed"),
        ),
        "Every recovery card is readable and belongs to this backup.",
    ),
    "backup.drill": StepScript(
        "Restore drill: M custodians type their recovery shares, the root key is unwrapped into "
        "a scratch token, proven, and the scratch token destroyed.",
        (
            Duty(C, "M of them type their recovery share"),
            Duty(W, "confirms the scratch token is destroyed"),
        ),
        "The backup works: the root key can be rebuilt from M shares.",
    ),
    "root.seal": StepScript(
        "Now that the backup is proven, the root key is sealed: the HSM will refuse to export "
        "it, even wrapped, and to change its attributes.",
        (Duty(A, "starts the step"), Duty(W, "reads back the key's attributes")),
        "The root key can never leave this token again; only the proven backup can rebuild it.",
    ),
    "signer.replace": StepScript(
        "If this ceremony revokes the transcript signer in use, its key is destroyed first and "
        "the root certifies a new one, which signs this ceremony's transcript.",
        (Duty(A, "starts the step"), Duty(W, "notes the old and the new signer certificate")),
        "The record goes on under a signer that is not revoked.",
    ),
    "crl.issue": StepScript(
        "We sign the next root CRL. I read its number, dates and every revoked serial aloud "
        "from the preview before it is signed.",
        (Duty(A, "reads the preview aloud, starts the step"), Duty(W, "initials the CRL number")),
        "Relying parties treat the listed certificates as revoked from now on.",
    ),
    "csr.review": StepScript(
        "We review the certificate request brought by the operator: its subject, key and "
        "fingerprints are read aloud and confirmed by typing.",
        (
            Duty(OP, "reads the CSR's fingerprint from their own record"),
            Duty(A, "reads the CSR's fields aloud"),
            Duty(W, "types the confirmation phrase when both agree"),
        ),
        "The request the root will sign is the one the operator announced.",
    ),
    "activation": StepScript(
        "M custodians activate the root key with their activation shares.",
        (
            Duty(C, "M of those present type their activation share, one at a time"),
            Duty(W, "watches that nobody else sees the screen"),
        ),
        "The root key is unlocked for this ceremony and matched to the root certificate.",
    ),
    "intermediate.sign": StepScript(
        "We sign the intermediate CA certificate. I read every field of the preview aloud "
        "before it is signed; afterwards its fingerprint.",
        (
            Duty(A, "reads the preview aloud, starts the step"),
            Duty(OP, "confirms the fields"),
            Duty(W, "initials the fingerprint"),
        ),
        "The intermediate CA may issue certificates under this root, within these fields.",
    ),
    "media.export": StepScript(
        "We write the outputs to the operator's removable media and read them back.",
        (Duty(OP, "plugs the media in and takes it away"), Duty(W, "notes the media")),
        "The operator carries the outputs out; the bundle keeps its own copy.",
    ),
    "recovery.shares": StepScript(
        "M custodians present their recovery shares; the backup key's check value must match.",
        (Duty(C, "M of those present type their recovery share"), Duty(W, "watches")),
        "The backup key is rebuilt in memory; nothing is written yet.",
    ),
    "recovery.unwrap": StepScript(
        "The root key is unwrapped into the new token and proven with a signature that the "
        "root certificate verifies.",
        (Duty(A, "starts the step"), Duty(W, "reads the proof result")),
        "The new token holds the root key; the root CA works again.",
    ),
    "recovery.old-token": StepScript(
        "I name the token that held the root key until now and state what became of it: "
        "destroyed here in the room, kept as the ceremony file's procedures say, or lost.",
        (
            Duty(A, "states the old token's fate"),
            Duty(W, "watches its destruction, or notes where it is kept"),
        ),
        "The record says which tokens hold the root key; a lost token's keys are treated as "
        "compromised.",
    ),
    "ceremony.close": StepScript(
        "We close the ceremony. The log is closed, the transcript signed, and the bundle "
        "checked with ceremony verify.",
        (Duty(A, "closes the ceremony"), Duty(W, "signs the paper script and sign-in sheet")),
        "The record is complete and verifiable by an auditor.",
    ),
}


NATIVE_SCRIPTS: dict[str, StepScript] = {
    "root.key": StepScript(
        "We generate the root key pair inside the HSM, non-extractable from birth: the HSM "
        "will never export it, not even wrapped.",
        (Duty(A, "starts the step"), Duty(W, "reads back the key's attributes")),
        "The root key exists only in the token; only the HSM vendor's backup can copy it.",
    ),
    "backup.create": StepScript(
        "We back up the root key by the HSM vendor's procedure from the ceremony file. I read "
        "each step aloud; the credential holders do it on the backup device.",
        (
            Duty(A, "reads the vendor's procedure aloud step by step"),
            Duty("Credential holders", "present their backup device credentials"),
            Duty(W, "checks the device's serial on the device and types it to confirm"),
        ),
        "The backup device named in the ceremony file holds the root key.",
    ),
    "backup.proof": StepScript(
        "The holders of the backup device's credentials named in the ceremony file are present.",
        (Duty(W, "checks each credential holder is in the room"),),
        "The backup device's credentials are held by the people the ceremony file names.",
    ),
    "backup.drill": StepScript(
        "Restore drill: the backup device signs a random challenge with the root key; the root "
        "certificate's key verifies the signature.",
        (Duty(A, "connects the backup device and starts the step"), Duty(W, "watches")),
        "The backup device holds the root key.",
    ),
    "root.seal": StepScript(
        "We read the root key's attributes back: it has never been extractable and its "
        "settings cannot change.",
        (Duty(A, "starts the step"), Duty(W, "reads back the key's attributes")),
        "The root key can never leave this token; the vendor's backup holds its copy.",
    ),
}
"""The steps that read differently where the ceremony file's backup is hsm-native."""


def script_for(step: Step, definition: CeremonyFile | None = None) -> StepScript:
    """The step's script under ``definition``; a step without its own text reads its
    activity."""
    native = definition is not None and definition.native_backup is not None
    found = (NATIVE_SCRIPTS if native else {}).get(step.name) or SCRIPTS.get(step.name)
    if found is not None:
        return found
    activity = step.activity if definition is None else step.activity_for(definition)
    return StepScript(activity + ".", (Duty(A, "starts the step"),), "Recorded in the log.")
