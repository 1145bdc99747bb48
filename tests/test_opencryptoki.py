"""The whole rehearsal on a second PKCS#11 implementation: openCryptoki's software token.

It differs from SoftHSM2 exactly where a ceremony leans on the token: PINs of 4 to 8
characters, RSA only (no EC at all), no CKM_AES_KEY_WRAP_PAD (AES wrapping through
CKM_AES_CBC_PAD only), no CKM_SHA256_RSA_PKCS, neither CKA_WRAP_WITH_TRUSTED nor
CKA_TRUSTED, and one token (the drill unwraps beside the root key). The tests run in
file order on one token held under the machine-wide lock (see tests/opencryptoki.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ceremony.config import ceremonyfile
from ceremony.hsm.capabilities import pin_format
from ceremony.x509 import lint
from tests import opencryptoki
from tests.helpers import ROOT, assert_refused, run_cli


@pytest.fixture(scope="module")
def module() -> Iterator[str]:
    with opencryptoki.factory_token() as path:
        yield path


@pytest.fixture(scope="module")
def so_pin_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("so") / "so.pin"
    path.write_text(opencryptoki.FACTORY_SO_PIN + "\n")
    return path


def _demo(module: str, so_pin_file: Path, out: Path, key: str) -> Any:
    return run_cli(
        "demo", "--out", out, "--key", key, "--pkcs11-module", module, "--so-pin-file", so_pin_file
    )


def _events(bundle: Path, folder: str = "001-root") -> list[dict[str, Any]]:
    text = (bundle / "transcripts" / folder / "events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _payload(bundle: Path, step: str) -> dict[str, Any]:
    return next(e for e in _events(bundle) if e["step"] == step)["payload"]


def _user_pin(bundle: Path) -> str:
    from ceremony.flow.quorum import recover_pins

    secrets = json.loads((bundle / "rehearsal/secrets.json").read_text())
    return recover_pins(secrets["activation_shares"][:3], pin_format(4, 8)).user_pin


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)


def test_tokens_lists_the_factory_token_with_its_capabilities(module: str) -> None:
    r = run_cli("tokens", "--pkcs11-module", module)
    assert r.returncode == 0, r.stderr
    assert "(not initialized, slot 3): IBM Corp. IBM SoftTok" in r.stdout
    assert "PIN length 4 to 8; generated PINs: 8 characters" in r.stdout
    assert "key types: rsa-3072, rsa-4096" in r.stdout
    assert "split-wrap backup: CKM_AES_CBC_PAD" in r.stdout


def test_p384_is_refused_before_anything_is_written(
    module: str, so_pin_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    r = _demo(module, so_pin_file, out, "ecdsa-p384")
    assert_refused(r, 3, "IBM SoftTok", "ECDSA P-384", "CKM_EC_KEY_PAIR_GEN", "rsa-3072")
    assert not out.exists()
    assert "(not initialized, slot 3)" in run_cli("tokens", "--pkcs11-module", module).stdout


def test_a_wrong_factory_so_pin_is_refused(module: str, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("12345678\n")
    r = _demo(module, wrong, tmp_path / "bundle", "rsa-3072")
    assert_refused(r, 2, "refuses the SO PIN")


@pytest.fixture(scope="module")
def bundle(module: str, so_pin_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    opencryptoki.reset()  # the refusal tests above leave the token as it came
    out = tmp_path_factory.mktemp("oc") / "bundle"
    r = _demo(module, so_pin_file, out, "rsa-3072")
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def test_demo_from_the_factory_so_pin_verifies(bundle: Path) -> None:
    v = run_cli("verify", bundle)
    assert v.returncode == 0, v.stdout
    assert "0 failed" in v.stdout and "REHEARSAL" in v.stdout
    token = _payload(bundle, "token.init")
    assert token["factory_so_pin_replaced"] is True
    assert token["pins"] == {
        "length": 8,
        "format": "8 characters of 57 (letters and digits)",
        "entropy_bits": 46,
    }
    assert token["capabilities"]["rsa_pkcs1_signing"].startswith("hash on the host")


def test_openssl_and_pkilint_accept_what_the_token_signed(bundle: Path) -> None:
    root = bundle / "root/root-ca.pem"
    for cert in (
        root,
        bundle / "issued/transcript-signer.pem",
        bundle / "issued/sample-intermediate.pem",
    ):
        ok = _openssl("verify", "-x509_strict", "-CAfile", root, cert)
        assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
        der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        assert lint.blocking(lint.lint_certificate(der)) == [], cert
    crl = _openssl(
        "crl", "-inform", "DER", "-in", bundle / "root/root-ca.crl", "-CAfile", root, "-noout"
    )
    assert crl.returncode == 0 and "verify OK" in crl.stdout + crl.stderr, crl.stderr
    assert lint.blocking(lint.lint_crl((bundle / "root/root-ca.crl").read_bytes())) == []
    cert = x509.load_pem_x509_certificate(root.read_bytes())
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 3072
    signer = x509.load_pem_x509_certificate((bundle / "issued/transcript-signer.pem").read_bytes())
    assert isinstance(signer.public_key(), rsa.RSAPublicKey), "no EC on this token"


def test_weaker_protection_is_recorded_and_the_root_key_sealed(bundle: Path) -> None:
    exceptions = [e["payload"]["description"] for e in _events(bundle) if e["event"] == "exception"]
    for attribute in ("CKA_WRAP_WITH_TRUSTED", "CKA_MODIFIABLE"):
        assert any(f"IBM SoftTok, serial 123) does not give {attribute}" in x for x in exceptions)
    protection = _payload(bundle, "root.key")["protection"]
    assert {a["attribute"] for a in protection["accepted"]} == {
        "CKA_WRAP_WITH_TRUSTED",
        "CKA_MODIFIABLE",
    }
    assert any("unwrap ignored CKA_SENSITIVE, CKA_EXTRACTABLE" in p for p in protection["probed"])
    sealed = _payload(bundle, "root.seal")["key"]["attributes"]
    assert sealed["CKA_EXTRACTABLE"] is False and sealed["CKA_MODIFIABLE"] is False
    assert sealed["CKA_WRAP_WITH_TRUSTED"] is None and sealed["CKA_LOCAL"] is True
    drill = _payload(bundle, "backup.drill")["drill"]
    assert drill["scratch_token"] is None and drill["scratch_key_destroyed"] is True
    assert drill["restored_attributes"]["CKA_SENSITIVE"] is True
    assert drill["restored_attributes"]["CKA_EXTRACTABLE"] is False
    backup = json.loads((bundle / "backup/backup.json").read_text())
    assert backup["wrap_mechanism"].startswith("CKM_AES_CBC_PAD")
    assert len(bytes.fromhex(backup["wrap_iv"])) == 16 and backup["wrap_trusted"] is False
    cps = subprocess.run(
        ["pdftotext", bundle / "cps/cps-appendix.pdf", "-"], capture_output=True, text=True
    ).stdout
    assert "Accepted weaker state: CKA_WRAP_WITH_TRUSTED" in " ".join(cps.split())


def test_pkcs11_tool_reads_the_keys_back(bundle: Path) -> None:
    listing = opencryptoki.pkcs11_tool(
        "--token-label", "root-ca", "--login", "--pin", _user_pin(bundle), "--list-objects"
    )
    keys = {b.split("label:")[1].split()[0]: b for b in listing.split("Private Key Object")[1:]}
    assert sorted(keys) == ["root-ca-key", "transcript-signer-key"], "the drill's key is gone"
    assert "extractable" not in keys["root-ca-key"].split("Access:")[1].splitlines()[0]
    assert "never extractable" in keys["transcript-signer-key"]
    r = subprocess.run(
        [
            "pkcs11-tool",
            "--module",
            opencryptoki.MODULE,
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            opencryptoki.FACTORY_SO_PIN,
            "--list-objects",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0, "the factory SO PIN was replaced"


ATTACK = textwrap.dedent(
    """
    import sys, pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    lib = pkcs11.lib(sys.argv[1])
    with lib.get_token(token_label="root-ca").open(rw=True, user_pin=sys.argv[2]) as s:
        key = s.get_key(object_class=ObjectClass.PRIVATE_KEY, label="root-ca-key")
        aes = s.generate_key(KeyType.AES, 256, store=False,
                             template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False})
        for name, attack in (
            ("wrap", lambda: aes.wrap_key(key, mechanism=Mechanism.AES_CBC_PAD,
                                          mechanism_param=bytes(16))),
            ("value", lambda: key[Attribute.PRIVATE_EXPONENT]),
            ("extractable", lambda: key.__setitem__(Attribute.EXTRACTABLE, True)),
            ("copy", lambda: key.copy({Attribute.EXTRACTABLE: True})),
        ):
            try:
                attack()
                print(name, "DONE")
            except pkcs11.exceptions.PKCS11Error as ex:
                print(name, "refused", type(ex).__name__)
    """
)


def test_the_insider_with_the_user_pin_cannot_take_the_root_key_out(bundle: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", ATTACK, opencryptoki.MODULE, _user_pin(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:4] == [
        "wrap refused KeyUnextractable",
        "value refused AttributeSensitive",
        "extractable refused AttributeReadOnly",
        "copy refused AttributeReadOnly",
    ], r.stdout


def _csr(cn: str) -> bytes:
    key = rsa.generate_private_key(65537, 3072)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def test_signing_and_crl_ceremonies_on_the_token(bundle: Path, tmp_path: Path) -> None:
    csr = tmp_path / "issuing.csr"
    csr.write_bytes(_csr("Example Rehearsal Issuing CA 2"))
    r = run_cli("sign-csr", bundle, csr, "--name", "issuing-2")
    assert r.returncode == 0, r.stderr
    r = run_cli("crl", bundle)
    assert r.returncode == 0, r.stderr
    v = run_cli("verify", bundle)
    assert v.returncode == 0 and "0 failed" in v.stdout, v.stdout
    root = bundle / "root/root-ca.pem"
    ok = _openssl("verify", "-x509_strict", "-CAfile", root, bundle / "issued/issuing-2.pem")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    crl = bundle / "root/root-ca.crl"
    assert (
        x509.load_der_x509_crl(crl.read_bytes())
        .extensions.get_extension_for_class(x509.CRLNumber)
        .value.crl_number
        == 2
    )
    assert lint.blocking(lint.lint_crl(crl.read_bytes())) == []


def test_nothing_secret_outside_rehearsal(bundle: Path) -> None:
    from ceremony.flow.quorum import recover_pins

    secrets = json.loads((bundle / "rehearsal/secrets.json").read_text())
    pins = recover_pins(secrets["activation_shares"][:3], pin_format(4, 8))
    needles = [pins.user_pin, pins.so_pin, opencryptoki.FACTORY_SO_PIN]
    needles += [" ".join(s.split()[:4]) for s in secrets["activation_shares"]]
    needles += [
        " ".join(s.split()[:4])
        for s in (bundle / "rehearsal/backup-shares.txt").read_text().splitlines()
    ]
    for path in bundle.rglob("*"):
        if path.is_file() and "rehearsal" not in path.relative_to(bundle).parts:
            data = path.read_bytes()
            for n in needles:
                assert n.encode() not in data, (path, "holds a secret")


DRIVER = textwrap.dedent(
    """
    import sys
    import ceremony.terminal as terminal
    from tests.test_terminal_ceremony import ScriptedTerminal
    term = ScriptedTerminal()
    terminal.ConsoleIO = lambda: term
    from ceremony import cli
    sys.exit(cli.run(sys.argv[1:]))
    """
)


def test_a_reviewed_file_that_does_not_accept_the_weaker_state_stops_before_the_root_key(
    module: str, tmp_path: Path
) -> None:
    """``ceremony root`` with a ceremony file (no [[key_protection.accept]]) on this token."""
    opencryptoki.reset()
    cf = ceremonyfile.rehearsal_definition(ceremonyfile.KeyAlgorithm.RSA_3072)
    cfile = tmp_path / "ceremony.toml"
    cfile.write_bytes(ceremonyfile.render(cf))
    loc = tmp_path / "locator.toml"
    loc.write_text(f'rehearsal = true\n[hsm]\nmodule = "{module}"\n')
    out = tmp_path / "bundle"
    so = tmp_path / "so.pin"
    so.write_text(opencryptoki.FACTORY_SO_PIN)
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            DRIVER,
            "root",
            "--ceremony",
            cfile,
            "--locator",
            loc,
            "--out",
            out,
            "--so-pin-file",
            so,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 3, r.stdout + r.stderr
    assert lines[-1].startswith("error: token 'root-ca' (IBM Corp. IBM SoftTok, serial 123):")
    assert "refuses CKA_WRAP_WITH_TRUSTED" in lines[-1] and "key_protection.accept" in lines[-1]
    steps = [e["step"] for e in _events(out) if e["event"] == "step"]
    assert "root.key" not in steps and not (out / "root/root-ca.pem").exists()
