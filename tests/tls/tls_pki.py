"""Real certificates for the TLS tests, made with ``cryptography``: a CA, a
server certificate for 127.0.0.1 and localhost (IP and DNS SANs), a client
certificate it signed, and a client certificate signed by another CA."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate clients trust and the server asks client certs of
    server: Pair
    client: Pair  # signed by ``ca``; CN CLIENT_CN
    rogue_client: Pair  # signed by another CA; CN CLIENT_CN too
    other_key: Path  # a key that belongs to no certificate here
    warehouse: Pair  # signed by ``ca``; CN WAREHOUSE_CN
    stranger: Pair  # signed by ``ca``; CN STRANGER_CN, in no credentials file


CLIENT_CN = "storefront-eu"
WAREHOUSE_CN = "dc-1.warehouse.example"
STRANGER_CN = "nobody.example"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: Key, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _builder(subject: str, issuer: x509.Name, key: Key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _ca(cn: str) -> tuple[x509.Certificate, Key]:
    key = _key()
    cert = (
        _builder(cn, _name(cn), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str,
    ca: tuple[x509.Certificate, Key],
    usage: x509.ObjectIdentifier,
    san: list[x509.GeneralName] | None = None,
) -> tuple[x509.Certificate, Key]:
    key = _key()
    builder = (
        _builder(cn, ca[0].subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca[1], hashes.SHA256()), key


def _pair(made: tuple[x509.Certificate, Key], directory: Path, name: str) -> Pair:
    return Pair(
        _write_cert(made[0], directory / f"{name}.pem"),
        _write_key(made[1], directory / f"{name}.key"),
    )


def make_pki(directory: Path) -> Pki:
    ca = _ca("holdfast test CA")
    other_ca = _ca("some other CA")
    server = _leaf(
        "holdfast test server",
        ca,
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_auth = ExtendedKeyUsageOID.CLIENT_AUTH
    client = _leaf(CLIENT_CN, ca, client_auth)
    rogue = _leaf(CLIENT_CN, other_ca, client_auth)
    return Pki(
        ca=_write_cert(ca[0], directory / "ca.pem"),
        server=_pair(server, directory, "server"),
        client=_pair(client, directory, "client"),
        rogue_client=_pair(rogue, directory, "rogue-client"),
        other_key=_write_key(_key(), directory / "other.key"),
        warehouse=_pair(_leaf(WAREHOUSE_CN, ca, client_auth), directory, "warehouse"),
        stranger=_pair(_leaf(STRANGER_CN, ca, client_auth), directory, "stranger"),
    )
