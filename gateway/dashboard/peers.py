"""Who is asking, as seen through a reverse proxy: `request_scheme` and `client_address`
believe X-Forwarded-Proto / X-Forwarded-For only when the socket's peer is one of
`trusted_proxies`; from anyone else those headers are ignored (anyone can send them)."""

from __future__ import annotations

import functools
import ipaddress
import logging

from aiohttp import web

from gateway.dashboard.keys import STATE

__all__ = ["client_address", "request_scheme"]

log = logging.getLogger("gateway.dashboard")


@functools.lru_cache(maxsize=32)
def _networks(proxies: tuple[str, ...]) -> tuple:
    # validated at config load; a bad entry here (a test's settings) trusts nobody
    nets = []
    for p in proxies:
        try:
            nets.append(ipaddress.ip_network(p, strict=False))
        except ValueError:
            log.warning("trusted_proxies: %r is not an address or CIDR; ignored", p)
    return tuple(nets)


def _ip(text: str | None):
    try:
        return ipaddress.ip_address(text.strip().strip("[]").split("%")[0]) if text else None
    except ValueError:
        return None


def _is_proxy(request: web.Request, addr) -> bool:
    nets = _networks(request.app[STATE].settings.trusted_proxies)
    return addr is not None and any(addr.version == n.version and addr in n for n in nets)


def request_scheme(request: web.Request) -> str:
    """'https' or 'http' as the browser used it: X-Forwarded-Proto counts only from a
    trusted proxy (the value it added last), else the scheme of this very connection."""
    if _is_proxy(request, _ip(request.remote)):
        sent = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        if sent in ("http", "https"):
            return sent
    return request.scheme


def client_address(request: web.Request) -> str | None:
    """The client's address for logs and throttling: the socket's peer, or, when that
    peer is a trusted proxy, the nearest X-Forwarded-For hop that is not one."""
    peer = request.remote
    if not _is_proxy(request, _ip(peer)):
        return peer
    hops = [h for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
            if h.strip()]
    for hop in reversed(hops):
        addr = _ip(hop)
        if addr is None:
            return peer  # garbage where a proxy writes an address: believe the socket
        if not _is_proxy(request, addr):
            return str(addr)
    return peer
