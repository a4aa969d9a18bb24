"""The dashboard's TLS server context: TLS 1.2 or newer, the ssl module's default cipher
list (forward-secret AEAD suites), the server's order preferred."""

from __future__ import annotations

import ssl

__all__ = ["server_context"]


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A context serving `cert_file` (PEM, leaf first) with `key_file`; raises ssl.SSLError
    or OSError when they cannot be read or do not belong together."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_COMPRESSION
    ctx.load_cert_chain(cert_file, key_file)
    return ctx
