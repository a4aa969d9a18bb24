"""Syntax and range of what the gateway connects to: host names, ports, URLs and OPC-UA
node ids. Each check returns the reason a value is wrong, or None."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from drivers.urls import redact_url

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# ns=<namespace>;<i|s|g|b>=<identifier>, the namespace part optional
_NODE_ID = re.compile(r"^(?:ns=(\d+);)?([isgb])=(.+)$", re.S)
_GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                   r"[0-9A-Fa-f]{12}$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def host_problem(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(_LABEL.match(x) for x in name.split(".")) \
            or name.split(".")[-1].isdigit():
        return f"{host!r} is neither an IP address nor a valid host name"
    return None


def port_problem(port: str | int) -> str | None:
    text = str(port)
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        return f"port {text!r} is out of range 1-65535"
    return None


def url_problem(url: str, schemes: tuple[str, ...], example: str) -> str | None:
    """Scheme, host and port of `url` (the port may be left out: the scheme's default)."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        return f"expected {example}, got {redact_url(url)!r}"
    netloc = parts.netloc.rpartition("@")[2]
    host, sep, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    host = (host if sep else netloc).strip("[]")
    reason = host_problem(host)
    if reason is None and sep:
        reason = port_problem(port)
    return None if reason is None else f"{reason} in {redact_url(url)!r}"


def node_id_problem(node: str) -> str | None:
    m = _NODE_ID.match(node)
    if m is None:
        return (f"not an OPC-UA node id: {node!r}; expected ns=<n>;s=<name> "
                "(or i=<number>, g=<guid>, b=<base64>)")
    ns, kind, ident = m.groups()
    if ns is not None and int(ns) > 65535:
        return f"namespace {ns} is out of range 0-65535 in {node!r}"
    if kind == "i" and not (ident.isdigit() and int(ident) <= 0xFFFFFFFF):
        return f"a numeric identifier is 0-4294967295, got {ident!r} in {node!r}"
    if kind == "g" and not _GUID.match(ident):
        return f"not a GUID: {ident!r} in {node!r}"
    if kind == "b" and not _BASE64.match(ident):
        return f"not base64: {ident!r} in {node!r}"
    return None


def is_loopback_host(host: str | None) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1): this machine only."""
    if not host:
        return False
    host = host.strip("[]").split("%")[0]
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
