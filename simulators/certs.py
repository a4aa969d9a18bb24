"""Test and demo certificates: a CA, servers and clients, written as PEM files in a folder.

Never for production: keys are unencrypted and live next to the certificates. Two uses:

- OPC-UA application instance certificates (self-signed, with the application URI in
  subjectAltName): `make_opcua_cert`, the same code as `gateway cert create`
  (gateway/certs.py);
- TLS for Mosquitto and the dashboard: a CA and a server certificate it signed, for
  `localhost` and 127.0.0.1, so clients can verify the server with the CA file alone.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.certs import (HOSTS, CertFiles, alt_names, cert_builder, make_opcua_cert,
                           new_key, write_pem)

__all__ = ["CertFiles", "TlsFiles", "make_opcua_cert", "make_tls"]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A CA, a server certificate and a client certificate signed by it."""

    ca: CertFiles
    server: CertFiles
    client: CertFiles  # for a broker that requires client certificates


def make_tls(folder: pathlib.Path | str, hosts: tuple[str, ...] = HOSTS, days: int = 365) -> TlsFiles:
    """A CA plus a TLS server certificate for `hosts`, as Mosquitto's `cafile/certfile/keyfile`,
    and a client certificate the CA signed."""
    folder = pathlib.Path(folder)
    ca_key = new_key()
    ca_cert = (
        cert_builder("gateway test CA", None, ca_key.public_key(), days)
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
    server_key = new_key()
    server_cert = (
        cert_builder(hosts[0], ca_cert.subject, server_key.public_key(), days)
        .add_extension(x509.SubjectAlternativeName(alt_names(hosts, None)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    client_key = new_key()
    client_cert = (
        cert_builder("gateway test client", ca_cert.subject, client_key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return TlsFiles(write_pem(folder, "ca", ca_cert, ca_key),
                    write_pem(folder, "server", server_cert, server_key),
                    write_pem(folder, "client", client_cert, client_key))
