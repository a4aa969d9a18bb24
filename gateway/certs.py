"""OPC-UA application instance certificates: a key and a self-signed certificate with the
application URI in subjectAltName and the key usages the OPC-UA profile asks for.
`gateway cert create` makes the gateway's own; simulators/certs.py builds the test PLC's
and a test CA from the same pieces. Keys are written unencrypted, readable by the owner
only (0600): the gateway must read them unattended at start."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import pathlib
import socket
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertFiles", "HOSTS", "make_opcua_cert", "new_key", "alt_names", "write_pem",
           "cert_builder", "fingerprint"]

HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True, slots=True)
class CertFiles:
    """Paths of one certificate and its private key (both PEM)."""

    cert: pathlib.Path
    key: pathlib.Path

    def der(self) -> bytes:
        """The certificate in DER, the form OPC-UA puts on the wire (and pins)."""
        return x509.load_pem_x509_certificate(self.cert.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )


def new_key() -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key, the size Basic256Sha256 asks for."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def alt_names(hosts: tuple[str, ...], uri: str | None) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    if uri:
        names.append(x509.UniformResourceIdentifier(uri))
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def write_pem(folder: pathlib.Path, name: str, cert: x509.Certificate, key) -> CertFiles:
    """`<name>.pem` and `<name>.key.pem` in `folder`; the key is 0600 from its first byte."""
    folder.mkdir(parents=True, exist_ok=True)
    files = CertFiles(folder / f"{name}.pem", folder / f"{name}.key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.unlink(missing_ok=True)
    fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption()))
    return files


def cert_builder(subject: str, issuer: x509.Name | None, public_key, days: int) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    # Backdated a little so a host clock slightly behind does not see "not yet valid".
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
    )


def make_opcua_cert(
    folder: pathlib.Path | str,
    name: str,
    application_uri: str,
    *,
    server: bool,
    hosts: tuple[str, ...] | None = None,
    days: int = 365,
) -> CertFiles:
    """A self-signed OPC-UA application instance certificate for `application_uri`."""
    # asyncua checks the certificate against this machine's name; include it by default.
    hosts = hosts or (*HOSTS, socket.gethostname())
    key = new_key()
    # OPC-UA servers also act as clients (discovery registration), so they get both.
    purposes = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        purposes.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    cert = (
        cert_builder(name, None, key.public_key(), days)
        .add_extension(x509.SubjectAlternativeName(alt_names(hosts, application_uri)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return write_pem(pathlib.Path(folder), name, cert, key)


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as AA:BB:..., what PLC tools show to compare."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
