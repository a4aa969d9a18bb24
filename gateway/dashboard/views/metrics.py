"""`/metrics` in Prometheus text format: for a scraper holding the bearer token
(`[dashboard] metrics_token_env`), a logged-in dashboard user, or anyone when
`metrics_public = true`. Being on loopback earns nothing: a reverse proxy on the same
host would make that everyone."""

from __future__ import annotations

import hmac

from aiohttp import web

from gateway.dashboard.keys import STATE
from gateway.dashboard.render import session_of
from gateway.dashboard.state import DatabaseUnavailable
from gateway.metrics import CONTENT_TYPE_LATEST

routes = web.RouteTableDef()


def bearer_ok(request: web.Request, token: str | None) -> bool:
    """True when the request carries `Authorization: Bearer <token>` for this token."""
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and \
        hmac.compare_digest(sent.strip().encode(), token.encode())


@routes.get("/metrics", name="metrics")
async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    settings = state.settings
    s = session_of(request)
    if not (settings.metrics_public or bearer_ok(request, settings.metrics_token)
            or (s is not None and s.user is not None)):
        raise web.HTTPUnauthorized(
            text="/metrics: send Authorization: Bearer <token> (the token in the variable "
                 "named by [dashboard] metrics_token_env) or log in",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if state.metrics is None:
        raise web.HTTPNotFound(text="/metrics: no metrics registry wired")
    try:
        await state.db.run(state.metrics.refresh_from_db)
    except DatabaseUnavailable:
        pass  # the counters are still worth scraping before the database exists
    state.metrics.set_devices(state.devices())
    return web.Response(body=state.metrics.render(),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})
