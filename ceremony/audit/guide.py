"""``VERIFYING.txt``: how an auditor checks a bundle without this tool.

Every ceremony writes the same text into the bundle (before the manifest, which
lists it). It names only standard tools (``sha256sum``, ``openssl``, poppler's
``pdfsig`` and ``pdfdetach``, NSS's ``certutil``, pyHanko) and ends with a short
Python script, standard library only, that checks the event-hash rule and the
chain rule and prints the bundle's head as ``ceremony verify`` does.
"""

from __future__ import annotations

GUIDE_NAME = "VERIFYING.txt"

CHAIN_SCRIPT = """\
import hashlib, json, pathlib, re, sys

bundle = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
folders = sorted(p for p in (bundle / "transcripts").iterdir() if p.is_dir())
prev, bad = "0" * 64, 0
for number, folder in enumerate(folders, 1):
    if not re.fullmatch(r"%03d-[a-z-]+" % number, folder.name):
        print(f"{folder.name}: expected ceremony {number:03d} here"); bad += 1
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    for seq, line in enumerate(lines, 1):
        event = json.loads(line)
        body = {k: v for k, v in event.items() if k != "hash"}
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canon.encode("utf-8")).hexdigest()
        if event["seq"] != seq or event["prev"] != prev or event["hash"] != digest:
            print(f"{folder.name} event {seq}: breaks the chain"); bad += 1
        if not event["ceremony"].startswith(folder.name + "-"):
            print(f"{folder.name} event {seq}: belongs to {event['ceremony']}"); bad += 1
        prev = event["hash"]
print(f"head: {len(folders)} ceremonies, final event hash {prev}")
sys.exit(1 if bad else 0)
"""
"""Checks every log of the bundle as one chain; prints the head; exit 1 on any break."""


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" if line else "\n" for line in text.splitlines())


GUIDE = f"""\
How to verify this evidence bundle
==================================

`ceremony verify BUNDLE` runs every check below (and more) in one command. This
file says how to do the same with standard tools, so that nobody has to trust
this software to trust the bundle. Run the commands inside the bundle folder.
Hashes and fingerprints are written as lowercase hex without separators, and
certificate serial numbers as lowercase hex with an even count of digits,
everywhere in the bundle: `openssl x509 -serial` prints the same serial in
upper case, `openssl x509 -fingerprint` the same fingerprint with colons.

1. Every file is listed with its SHA-256 (everything but rehearsal/ and the
   list itself):

    sha256sum -c SHA256SUMS
    find . -type f ! -name SHA256SUMS ! -path './rehearsal/*' | sed 's|^\\./||' | sort \\
      | diff - <(sed 's/^[0-9a-f]*  //' SHA256SUMS | sort)

   SHA256SUMS itself is not signed: the signed documents below fix what it lists.

2. The root certificate is the one whose fingerprint was read aloud at the
   root ceremony (also printed in every transcript and the CPS appendix):

    openssl x509 -in root/root-ca.pem -noout -subject -fingerprint -sha256

3. Every certificate in issued/ and the root CRL are signed by the root:

    for c in issued/*.pem; do openssl verify -CAfile root/root-ca.pem "$c"; done
    openssl crl -inform DER -in root/root-ca.crl -CAfile root/root-ca.pem -noout

4. Every transcript and the CPS appendix carry a PDF signature by a transcript
   signer the root certified. With an NSS database that trusts only the root:

    nss=$(mktemp -d) && certutil -N -d "$nss" --empty-password
    certutil -A -d "$nss" -n root -t "CT,C,C" -i root/root-ca.pem
    for f in transcripts/*/transcript.pdf cps/cps-appendix.pdf; do
      pdfsig -nssdir "$nss" "$f"; done

   Each signature must say "Signature is Valid" and "Certificate is Trusted".
   With pyHanko (pip install pyhanko-cli):

    pyhanko sign validate --pretty-print --trust root/root-ca.pem FILE.pdf

   The signer must be a transcript signer this bundle recorded: the
   certificate issued/transcript-signer*.pem named in the outputs of a
   signer.certificate event (by its SHA-256) of the same or an earlier
   ceremony, not replaced or revoked by an event before the document was
   signed. pdfsig prints the signer's name; `pdfsig -dump` writes the
   signer's certificate to compare.

5. Each transcript embeds the ceremony's event log; it must be byte for byte
   the events.jsonl beside it:

    log=$(mktemp)
    for d in transcripts/*/; do
      pdfdetach -save 1 -o "$log" "$d/transcript.pdf"
      cmp "$log" "$d/events.jsonl" && echo "$d: embedded log matches"; done

6. The event logs form one hash chain across the whole bundle.
   Event-hash rule: an event's "hash" is the SHA-256 of its JSON without the
   "hash" member, keys sorted, no spaces (separators "," and ":"), UTF-8, non-
   ASCII characters written as themselves. Chain rule: the first event of
   ceremony 001 has "prev" = 64 zeros; every other event's "prev" is the hash of
   the event before it, and the first event of ceremony N has the final event
   hash of ceremony N-1. Folders are numbered 001, 002, ... without a gap, and
   each folder's name starts the ceremony id inside it. The final event hash of
   the last ceremony is the bundle's head: keep it apart from the bundle after
   every ceremony and compare it next time (ceremony verify --expect-head HEX).
   This script (Python 3, standard library only) checks both rules and prints
   the head:

{_indent(CHAIN_SCRIPT)}
   Save it as chain.py outside the bundle and run it on the bundle folder:

    python3 chain.py .

7. Everything outside rehearsal/ was produced by a recorded event: each file
   is named in the "outputs" (or "inputs") of an event, with its SHA-256 and
   size, except SHA256SUMS, this file, cps/cps-appendix.pdf (signed, it lists
   every transcript with its SHA-256) and root/root-ca.crl (a copy of the
   newest root/root-ca-<number>.crl).

A bundle with a rehearsal/ folder, or whose opening events say
"rehearsal":true, is a practice run: its keys, PINs and shares prove nothing.
"""


def verifying_text() -> bytes:
    """The guide as every ceremony writes it into the bundle."""
    return GUIDE.encode()
