"""`/metrics` in Prometheus text format: open to loopback clients, else login required."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from gateway.dashboard.keys import STATE
from gateway.dashboard.render import session_of
from gateway.dashboard.state import DatabaseUnavailable
from gateway.metrics import CONTENT_TYPE_LATEST

routes = web.RouteTableDef()


def is_loopback(addr: str | None) -> bool:
    # Only the socket's peer address counts: X-Forwarded-For is trivially forged.
    try:
        return addr is not None and ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


@routes.get("/metrics", name="metrics")
async def metrics(request: web.Request) -> web.Response:
    s = session_of(request)
    if not is_loopback(request.remote) and (s is None or s.user is None):
        raise web.HTTPUnauthorized(text="/metrics: login required from a non-loopback client")
    state = request.app[STATE]
    if state.metrics is None:
        raise web.HTTPNotFound(text="/metrics: no metrics registry wired")
    try:
        await state.db.run(state.metrics.refresh_from_db)
    except DatabaseUnavailable:
        pass  # the counters are still worth scraping before the database exists
    state.metrics.set_devices(state.devices())
    return web.Response(body=state.metrics.render(),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})
