"""The trust kit: the root certificate and how to trust it on common platforms."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ceremony import pgpwords
from ceremony.x509.serial import serial_text

_INSTALL = """How to trust the root certificate {cn}
{rule}

First compare the SHA-256 fingerprint with the one read aloud at the ceremony
(FINGERPRINTS.txt); trust nothing that differs.

Debian, Ubuntu
  sudo cp {name}.crt /usr/local/share/ca-certificates/{name}.crt
  sudo update-ca-certificates

RHEL, Fedora, Rocky, Alma
  sudo cp {name}.pem /etc/pki/ca-trust/source/anchors/{name}.pem
  sudo update-ca-trust extract

Windows (administrator PowerShell)
  Import-Certificate -FilePath {name}.crt -CertStoreLocation Cert:\\LocalMachine\\Root

macOS
  sudo security add-trusted-cert -d -r trustRoot \\
    -k /Library/Keychains/System.keychain {name}.pem

Java keystores
  keytool -importcert -noprompt -alias {name} -file {name}.pem \\
    -keystore "$JAVA_HOME/lib/security/cacerts" -storepass changeit

Kubernetes (cert-manager trust-manager)
  kubectl -n cert-manager create configmap {name} --from-file={name}.pem
  and a Bundle whose spec.sources lists configMap {{name: {name}, key: {name}.pem}}
  and whose spec.target.configMap.key is ca-certificates.crt.
"""


def fingerprint_lines(cert: x509.Certificate) -> list[str]:
    sha256 = cert.fingerprint(hashes.SHA256())
    sha1 = cert.fingerprint(hashes.SHA1())
    return [
        f"Subject:  {cert.subject.rfc4514_string()}",
        f"Serial:   {serial_text(cert.serial_number)}",
        f"Valid:    {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}",
        f"SHA-256:  {sha256.hex(':').upper()}",
        f"          {pgpwords.words(sha256)}",
        f"SHA-1:    {sha1.hex(':').upper()} (legacy tools only)",
    ]


def trust_kit(root: x509.Certificate, name: str = "root-ca") -> dict[str, bytes]:
    """File name -> bytes for the ``trust-kit/`` folder on the media."""
    cn_attrs = root.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    cn = str(cn_attrs[0].value) if cn_attrs else root.subject.rfc4514_string()
    pem = root.public_bytes(serialization.Encoding.PEM)
    return {
        f"trust-kit/{name}.pem": pem,
        f"trust-kit/{name}.crt": pem,
        f"trust-kit/{name}.der": root.public_bytes(serialization.Encoding.DER),
        "trust-kit/FINGERPRINTS.txt": ("\n".join(fingerprint_lines(root)) + "\n").encode(),
        "trust-kit/INSTALL.txt": _INSTALL.format(
            cn=cn, rule="=" * (33 + len(cn)), name=name
        ).encode(),
    }
