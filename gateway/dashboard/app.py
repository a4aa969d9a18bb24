"""The dashboard as an aiohttp Application: `create_app(state)` wires routes, the access
gate, sessions, templates and static files. Nothing here touches the database for
writing; every change goes through `state.act` (see gateway/dashboard/state.py)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from gateway.dashboard import sse
from gateway.dashboard.auth import SessionStore
from gateway.dashboard.keys import JINJA, LIVE, SESSIONS, STATE, STREAMS, THROTTLE
from gateway.dashboard.middleware import gate, security_headers
from gateway.dashboard.render import make_environment
from gateway.dashboard.throttle import LoginThrottle
from gateway.dashboard.state import DashboardState
from gateway.dashboard.views import (alert, alerts, audit, exceptions, item, ledger, login,
                                     metrics, money, order, orders, overview, reconcile, stock,
                                     trace)

__all__ = ["create_app", "STATIC"]

log = logging.getLogger("gateway.dashboard")
STATIC = Path(__file__).parent / "static"


async def _close_streams(app: web.Application) -> None:
    # Open SSE streams would otherwise hold shutdown for its whole timeout.
    tasks = list(app[STREAMS])
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _favicon(request: web.Request) -> web.FileResponse:
    # browsers ask for /favicon.ico whatever the page links; answer with the same icon
    return web.FileResponse(STATIC / "favicon.svg", headers={"Content-Type": "image/svg+xml"})


def create_app(state: DashboardState) -> web.Application:
    s = state.settings
    if not s.secure_cookies:
        log.warning("dashboard: session cookies without the Secure flag (plain http); "
                    "use only on a trusted network or behind TLS")
    app = web.Application(middlewares=[gate], client_max_size=s.max_upload_bytes)
    app[STATE] = state
    app[SESSIONS] = SessionStore(s.session_ttl_s, max_life_s=s.session_max_s)
    app[THROTTLE] = LoginThrottle(s.login_max_failures, s.login_window_s, s.login_lockout_s,
                                   locked_name_delay_s=s.login_locked_name_delay_s)
    app[JINJA] = make_environment(s.currency_decimals)
    app[STREAMS] = set()
    app[LIVE] = sse.SharedSnapshot(state, max_age_s=s.sse_interval_s * 0.9)
    for mod in (login, overview, orders, stock, alerts, exceptions, ledger, reconcile, metrics,
                sse, order, alert, trace, audit, item, money):  # drill-down: order, item, traces
        app.router.add_routes(mod.routes)
    app.router.add_get("/favicon.ico", _favicon)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    app.on_response_prepare.append(security_headers)
    app.on_shutdown.append(_close_streams)
    return app
