"""`gateway cert create -c FILE`: the gateway's OPC-UA client key and self-signed
application instance certificate, with the application URI the driver will claim in
its subjectAltName (see docs/operations.md, "OPC-UA certificates")."""

from __future__ import annotations

import argparse
import pathlib
import socket
import sys

DEFAULT_NAME = "gateway-client"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["create"], help="create: a new key and certificate")
    p.add_argument("-c", "--config", metavar="FILE",
                   help="gateway.toml: names the URI after [gateway] id and puts the files "
                        "in a pki/ folder beside it")
    p.add_argument("--uri", help="application URI (default urn:<host>:shopfloor-gateway:<id>)")
    p.add_argument("--out", metavar="DIR", help="folder for the files (default: pki/ beside "
                                                "the config)")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"file name stem (default {DEFAULT_NAME})")
    p.add_argument("--days", type=int, default=3 * 365, help="validity (default 1095 days)")
    p.add_argument("--force", action="store_true", help="replace existing files")


def application_uri(gateway_id: str, host: str | None = None) -> str:
    """The URI the gateway's certificate carries and its OPC-UA session claims."""
    return f"urn:{host or socket.gethostname()}:shopfloor-gateway:{gateway_id}"


def run(args: argparse.Namespace) -> int:
    from gateway.certs import fingerprint, make_opcua_cert

    uri, out = args.uri, pathlib.Path(args.out) if args.out else None
    if args.config:
        from gateway.commands._common import load_config_or_exit

        config = load_config_or_exit(args.config)
        uri = uri or application_uri(config.gateway.id)
        out = out or config.base_dir / "pki"
    if uri is None or out is None:
        print("gateway cert create: give -c FILE, or both --uri and --out", file=sys.stderr)
        return 2
    if not uri.startswith("urn:") and "://" not in uri:
        print(f"gateway cert create: --uri: expected a URI like urn:host:app, got {uri!r}",
              file=sys.stderr)
        return 2
    if args.days < 1:
        print(f"gateway cert create: --days: must be at least 1, got {args.days}", file=sys.stderr)
        return 2
    existing = [p for p in (out / f"{args.name}.pem", out / f"{args.name}.key.pem") if p.exists()]
    if existing and not args.force:
        print(f"gateway cert create: {existing[0]} exists; --force replaces it (the PLC must "
              "then trust the new certificate)", file=sys.stderr)
        return 1
    files = make_opcua_cert(out, args.name, uri, server=False, days=args.days)
    der = files.der()
    der_file = out / f"{args.name}.der"
    der_file.write_bytes(der)
    print("\n".join([
        f"certificate {files.cert} (and {der_file.name} in DER for the PLC's tool)",
        f"key         {files.key} (mode 0600: keep it on this machine)",
        f"application URI {uri}",
        f"SHA-256 {fingerprint(der)}",
        "In gateway.toml, on the [[devices]] entry of the PLC:",
        f'  client_cert = "{files.cert}"',
        f'  client_key = "{files.key}"',
        "Then trust the certificate in the PLC (docs/operations.md, OPC-UA certificates).",
    ]))
    return 0
