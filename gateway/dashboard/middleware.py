"""The gate every request passes: Host check, session lookup, login required, CSRF and
Origin on every POST, supervisors only for anything that changes state. It fails closed:
a path not listed as public needs a logged-in session.

Who is asking, as seen through a reverse proxy, is gateway.dashboard.peers."""

from __future__ import annotations

import logging
import sqlite3
from urllib.parse import quote, urlsplit

from aiohttp import web

from gateway.dashboard.auth import COOKIE, follow_users_file
from gateway.dashboard.csrf import check_origin, check_token
from gateway.dashboard.keys import SESSION, SESSIONS, STATE
from gateway.dashboard.peers import _ip, client_address, request_scheme
from gateway.dashboard.render import render
from gateway.dashboard.roles import PAGE_ROLES, may_see
from gateway.dashboard.state import DatabaseUnavailable
from gateway.dashboard.views.audit import note
from gateway.dashboard.views.login import set_session_cookie

__all__ = ["gate", "security_headers"]

log = logging.getLogger("gateway.dashboard")

# Paths open without login; /metrics checks token-or-login itself.
PUBLIC_PREFIXES = ("/static/", "/favicon.ico")
LOGIN, LOGOUT, METRICS, STREAM = "/login", "/logout", "/metrics", "/events"

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def host_allowed(request: web.Request) -> bool:
    """Host is an IP literal, localhost or one of `server_names`: a page of a rebound
    foreign name (DNS rebinding) is refused before it reaches anything."""
    try:
        name = (urlsplit(f"//{request.host}").hostname or "").rstrip(".")
    except ValueError:
        return False
    if not name:
        return False
    if _ip(name) is not None or name == "localhost":
        return True
    names = {n.lower().rstrip(".") for n in request.app[STATE].settings.server_names}
    return name in names


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, errors included, gets these headers."""
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    if request_scheme(request) == "https":
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")


@web.middleware
async def gate(request: web.Request, handler):
    path = request.path
    if not host_allowed(request):
        log.warning("refused %s %s from %s: Host %r is not a name of this dashboard",
                    request.method, path, client_address(request), request.host)
        raise web.HTTPMisdirectedRequest(
            text=f"refused: Host {request.host!r} is not a name of this dashboard "
                 "(add it to [dashboard] server_names)")
    if path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    sessions = request.app[SESSIONS]
    users = request.app[STATE].users
    # a stat per request: removals take effect at once
    for gone in follow_users_file(sessions, users):
        await note(request, "session_ended", detail="removed or changed in the users file",
                   actor=gone.user, address="gateway")
    s = sessions.get(request.cookies.get(COOKIE))
    if s is not None and s.user is not None and not s.matches(users.get(s.user)):
        sessions.drop(s.sid)  # changed in this process since the file was last read
        s = None
    fresh = None
    if s is None and path == LOGIN:
        # The login form needs a CSRF token too, so it gets an anonymous session.
        s = fresh = sessions.new()
    request[SESSION] = s
    logged_in = s is not None and s.user is not None
    if path == METRICS:
        return await handler(request)
    if path != LOGIN and not logged_in:
        if request.method in ("GET", "HEAD") and path != STREAM:
            raise web.HTTPSeeOther(f"{LOGIN}?next={quote(request.path_qs, safe='/')}")
        raise web.HTTPUnauthorized(text="login required")
    if not may_see(s.role, path):
        raise web.HTTPForbidden(text=f"refused: {s.user} is a {s.role}; this page is for "
                                     f"{' and '.join(sorted(PAGE_ROLES[path]))}s")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_origin(request, request.app[STATE].settings.allowed_origins,
                     scheme=request_scheme(request))
        try:
            await check_token(request, s)
        except web.HTTPForbidden:
            if path != LOGIN:
                raise
            # A login form left open past its session's life: refuse, but hand out a
            # fresh form instead of a bare 403 page.
            s = request[SESSION] = fresh = sessions.new()
            resp = render(request, "login.html", status=403, next="/",
                          error="The login form had expired. Please log in again.")
            set_session_cookie(request, resp, fresh.sid)
            return resp
        if path not in (LOGIN, LOGOUT) and not s.may_act:
            log.warning("refused %s %s: %r is a %s", request.method, path, s.user, s.role)
            raise web.HTTPForbidden(text=f"refused: {s.user} is a {s.role}; "
                                         "only supervisors and controllers may change anything")
    try:
        resp = await handler(request)
    except web.HTTPNotFound as exc:
        # unknown routes and unknown records alike get the styled page, not aiohttp's text
        resp = render(request, "error.html", status=404, title="Not found",
                      message=exc.text if exc.text and not exc.text.startswith("404")
                      else f"There is no page at {request.path}.", back=True)
    except DatabaseUnavailable as exc:
        resp = render(request, "error.html", status=503, title="Database unavailable",
                      message=str(exc))
    except sqlite3.OperationalError as exc:
        # e.g. the gateway created the file but not yet its tables, or holds a long lock
        log.warning("dashboard read of %s failed: %s", request.path, exc)
        resp = render(request, "error.html", status=503, title="Database busy or incomplete",
                      message=f"reading the gateway database failed: {exc}")
    if fresh is not None:
        set_session_cookie(request, resp, fresh.sid)
    return resp
