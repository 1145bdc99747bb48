"""Generate the CSR test corpus into a folder: every bad CSR, and good ones.

Usage: python make_bad_csrs.py OUT_DIR [--good]

Needs pyca/cryptography and the ``openssl`` command. Nothing generated here is
committed; see README.md for how each file is made and why it is refused.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

SUBJECT = "/C=DE/O=Example Issuing/CN=Example Issuing CA 1"
GOOD_KEYS = {
    "rsa-3072": ["-newkey", "rsa:3072"],
    "rsa-4096": ["-newkey", "rsa:4096"],
    "p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "p384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
}
CA_EXTENSIONS = [
    "-addext",
    "basicConstraints=critical,CA:TRUE,pathlen:0",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
]
HUGE_SIZE = 50 * 1000 * 1000
SHA256 = hashes.SHA256()


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def pem(der: bytes) -> bytes:
    return x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM)


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Issuing"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def build(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
    subject: x509.Name,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    algorithm: hashes.HashAlgorithm | None = SHA256,
) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical)
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def resigned(key: ec.EllipticCurvePrivateKey, csr_pem: bytes, old: bytes, new: bytes) -> bytes:
    """Replace ``old`` by ``new`` (same length) inside the request info and sign it again."""
    csr = x509.load_pem_x509_csr(csr_pem)
    info = csr.tbs_certrequest_bytes
    assert len(old) == len(new) and info.count(old) == 1
    info = info.replace(old, new)
    signature = key.sign(info, ec.ECDSA(hashes.SHA256()))
    ecdsa_with_sha256 = bytes.fromhex("300a06082a8648ce3d040302")
    der = tlv(0x30, info + ecdsa_with_sha256 + tlv(0x03, b"\x00" + signature))
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join(
        [b"-----BEGIN CERTIFICATE REQUEST-----", *lines, b"-----END CERTIFICATE REQUEST-----", b""]
    )


def is_probable_prime(n: int, rounds: int = 32) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, math.isqrt(p) + 1))]


def next_prime(n: int, e: int = 65537) -> int:
    n |= 1
    while True:
        if all(n % p for p in SMALL_PRIMES) and math.gcd(n - 1, e) == 1 and is_probable_prime(n):
            return n
        n += 2


def openssl_prime(bits: int) -> int:
    out = subprocess.run(
        ["openssl", "prime", "-generate", "-bits", str(bits), "-hex"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.strip(), 16)


def rsa_from_primes(p: int, q: int, e: int = 65537) -> rsa.RSAPrivateKey:
    d = pow(e, -1, math.lcm(p - 1, q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public)
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def fermat_key() -> rsa.RSAPrivateKey:
    while True:
        p = next_prime(secrets.randbits(1536) | (3 << 1534))
        q = next_prime(p + secrets.randbits(500) + 2)
        if (p * q).bit_length() == 3072:
            return rsa_from_primes(p, q)


def roca_prime(bits: int) -> int:
    """A prime of the form k*M + (65537^a mod M), M the primorial of the primes up to 167."""
    m = math.prod(p for p in range(2, 168) if all(p % q for q in range(2, math.isqrt(p) + 1)))
    while True:
        k = secrets.randbits(bits - m.bit_length() + 1)
        p = k * m + pow(65537, secrets.randbelow(1 << 64), m)
        if p.bit_length() == bits and p >> (bits - 2) == 3 and math.gcd(p - 1, 65537) == 1:
            if is_probable_prime(p):
                return p


def roca_key() -> rsa.RSAPrivateKey:
    return rsa_from_primes(roca_prime(1536), roca_prime(1536))


def small_factor_key() -> rsa.RSAPrivateKey:
    while True:
        q = openssl_prime(3070)
        if math.gcd(q - 1, 65537) == 1 and (3 * q).bit_length() == 3072:
            return rsa_from_primes(3, q)


def self_signed(key: ec.EllipticCurvePrivateKey, cn: str) -> bytes:
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def make_bad(out: Path) -> list[Path]:
    """Write every bad CSR (and the certificates of already used keys) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    key = ec_key()
    good = build(key, name("Example Issuing CA 1"))
    good_der = x509.load_pem_x509_csr(good).public_bytes(serialization.Encoding.DER)
    files: dict[str, bytes | Callable[[], bytes]] = {}

    files["garbage.csr"] = b"\x01" + hashlib.sha512(b"garbage").digest() * 16
    files["truncated.csr"] = good[: len(good) // 2]
    files["truncated.der"] = good_der[: len(good_der) - 10]
    files["two-csrs.csr"] = good + build(ec_key(), name("Second"))
    files["trailing-garbage.csr"] = good + b"and some more text\n"
    files["trailing-garbage.der"] = good_der + b"\x00\x00"
    flipped = bytearray(good_der)
    flipped[-5] ^= 0x01
    files["bad-signature.csr"] = pem(bytes(flipped))
    files["sha1-signature.csr"] = lambda: _openssl_req(
        out, ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-sha1"]
    )
    files["rsa-1024.csr"] = lambda: _openssl_req(out, ["-newkey", "rsa:1024"])
    files["rsa-2048.csr"] = lambda: _openssl_req(out, ["-newkey", "rsa:2048"])
    files["rsa-exponent-3.csr"] = lambda: _openssl_req(
        out,
        ["-newkey", "rsa", "-pkeyopt", "rsa_keygen_bits:3072", "-pkeyopt", "rsa_keygen_pubexp:3"],
    )
    files["p192.csr"] = lambda: _openssl_ec_req(out, ["-name", "prime192v1"])
    files["explicit-curve.csr"] = lambda: _openssl_ec_req(
        out, ["-name", "prime256v1", "-param_enc", "explicit"]
    )
    files["ed25519.csr"] = build(ed25519.Ed25519PrivateKey.generate(), name("Ed"), algorithm=None)
    files["empty-subject.csr"] = build(key, x509.Name([]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        long_cn = x509.NameAttribute(NameOID.COMMON_NAME, "A" * 10240, _validate=False)
    files["long-cn.csr"] = build(key, x509.Name([long_cn]))
    placeholder = build(key, name("PLACEHOLDER1"))
    files["non-utf8-subject.csr"] = resigned(
        key, placeholder, b"\x0c\x0cPLACEHOLDER1", b"\x0c\x0cPLACE\xff\xfeHOLD1"
    )
    files["bmpstring-subject.csr"] = resigned(
        key, placeholder, b"\x0c\x0cPLACEHOLDER1", b"\x1e\x0c" + "PLACEH".encode("utf-16-be")
    )
    files["control-char-subject.csr"] = resigned(
        key, placeholder, b"\x0c\x0cPLACEHOLDER1", b"\x0c\x0cPLACE\nHOLD\x001"
    )
    many = [
        (
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(f"1.3.6.1.4.1.55555.1.{i}"), b"\x05\x00"
            ),
            False,
        )
        for i in range(300)
    ]
    files["many-extensions.csr"] = build(key, name("Many"), many)
    files["unknown-extension.csr"] = build(key, name("Unknown"), many[:1])
    files["ca-pathlen-5.csr"] = build(
        key, name("Path"), [(x509.BasicConstraints(ca=True, path_length=5), True)]
    )
    files["fermat-weak.csr"] = lambda: build(fermat_key(), name("Fermat"))
    files["roca.csr"] = lambda: build(roca_key(), name("ROCA"))
    files["small-factor.csr"] = lambda: build(small_factor_key(), name("Small factor"))
    issuing = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Issuing")
    files["two-cns.csr"] = build(
        key,
        x509.Name(
            [
                issuing,
                x509.NameAttribute(NameOID.COMMON_NAME, "First CA"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Second CA"),
            ]
        ),
    )
    files["country-xx.csr"] = build(
        key,
        x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"),
                issuing,
                x509.NameAttribute(NameOID.COMMON_NAME, "Nowhere CA"),
            ]
        ),
    )
    files["unknown-attribute.csr"] = build(
        key,
        x509.Name(
            [
                issuing,
                x509.NameAttribute(x509.ObjectIdentifier("1.3.6.1.4.1.55555.2.1"), "odd"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Odd CA"),
            ]
        ),
    )
    files["email-subject.csr"] = build(
        key,
        x509.Name(
            [
                issuing,
                x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ca@example.test"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Mail CA"),
            ]
        ),
    )
    files["zero-width-subject.csr"] = build(key, name("Example\u200b Issuing CA"))
    files["ca-false.csr"] = build(
        key, name("Leaf"), [(x509.BasicConstraints(ca=False, path_length=None), True)]
    )
    root_key, issued_key = ec_key(), ec_key()
    files["root.pem"] = self_signed(root_key, "Example Root CA")
    files["root-key.csr"] = build(root_key, name("Reuses the root key"))
    files["issued.pem"] = self_signed(issued_key, "Example Issuing CA 0")
    files["issued-key.csr"] = build(issued_key, name("Reuses an issued key"))
    files["root-name.csr"] = build(ec_key(), name("Example Root CA"))

    written = []
    for filename, content in files.items():
        path = out / filename
        path.write_bytes(content() if callable(content) else content)
        written.append(path)
    huge = out / "huge.csr"
    with huge.open("wb") as f:
        f.write(b"-----BEGIN CERTIFICATE REQUEST-----\n")
        line = b"A" * 64 + b"\n"
        f.write(line * (HUGE_SIZE // len(line)))
        f.write(b"-----END CERTIFICATE REQUEST-----\n")
    written.append(huge)
    for scratch in out.glob("*.key"):
        scratch.unlink()
    return written


def make_good(out: Path) -> list[Path]:
    """Write good CSRs made by ``openssl req`` (PEM, plus one DER) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for label, key_args in GOOD_KEYS.items():
        path = out / f"{label}.csr"
        openssl(
            "req",
            "-new",
            *key_args,
            "-nodes",
            "-keyout",
            f"{label}.key",
            "-subj",
            SUBJECT,
            *CA_EXTENSIONS,
            "-out",
            path.name,
            cwd=out,
        )
        written.append(path)
    openssl("req", "-in", "p384.csr", "-outform", "DER", "-out", "p384.der", cwd=out)
    written.append(out / "p384.der")
    return written


def _openssl_req(out: Path, key_args: list[str]) -> bytes:
    openssl(
        "req",
        "-new",
        *key_args,
        "-nodes",
        "-keyout",
        "scratch.key",
        "-subj",
        SUBJECT,
        "-out",
        "scratch.csr",
        cwd=out,
    )
    return _take(out / "scratch.csr")


def _openssl_ec_req(out: Path, param_args: list[str]) -> bytes:
    openssl("ecparam", *param_args, "-genkey", "-noout", "-out", "scratch.key", cwd=out)
    openssl("req", "-new", "-key", "scratch.key", "-subj", SUBJECT, "-out", "scratch.csr", cwd=out)
    return _take(out / "scratch.csr")


def _take(path: Path) -> bytes:
    data = path.read_bytes()
    path.unlink()
    return data


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["--good"]):
        sys.exit(__doc__)
    target = Path(sys.argv[1])
    made = make_good(target) if sys.argv[2:] else make_bad(target)
    print("\n".join(str(p) for p in made))
