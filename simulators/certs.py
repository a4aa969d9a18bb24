"""Test and demo certificates: a CA, servers and clients, written as PEM files in a folder.

Never for production: keys are unencrypted and live next to the certificates. Two uses:

- OPC-UA application instance certificates (self-signed, with the application URI in
  subjectAltName, the key usages the OPC-UA profile asks for);
- TLS for Mosquitto: a CA and a server certificate it signed, for `localhost` and
  127.0.0.1, so clients can verify the broker with the CA file alone.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import pathlib
import socket
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _alt_names(hosts: tuple[str, ...], uri: str | None) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    if uri:
        names.append(x509.UniformResourceIdentifier(uri))
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write(folder: pathlib.Path, name: str, cert: x509.Certificate, key) -> CertFiles:
    folder.mkdir(parents=True, exist_ok=True)
    files = CertFiles(folder / f"{name}.pem", folder / f"{name}.key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


def _builder(subject: str, issuer: x509.Name | None, public_key, days: int) -> x509.CertificateBuilder:
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
    key = _key()
    # OPC-UA servers also act as clients (discovery registration), so they get both.
    purposes = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        purposes.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    cert = (
        _builder(name, None, key.public_key(), days)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts, application_uri)), critical=False)
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
    return _write(pathlib.Path(folder), name, cert, key)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A CA and a server certificate signed by it."""

    ca: CertFiles
    server: CertFiles


def make_tls(folder: pathlib.Path | str, hosts: tuple[str, ...] = HOSTS, days: int = 365) -> TlsFiles:
    """A CA plus a TLS server certificate for `hosts`, as Mosquitto's `cafile/certfile/keyfile`."""
    folder = pathlib.Path(folder)
    ca_key = _key()
    ca_cert = (
        _builder("gateway test CA", None, ca_key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = _key()
    server_cert = (
        _builder(hosts[0], ca_cert.subject, server_key.public_key(), days)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts, None)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return TlsFiles(_write(folder, "ca", ca_cert, ca_key), _write(folder, "server", server_cert, server_key))
