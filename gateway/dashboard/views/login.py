"""Login and logout. Wrong name and wrong password look the same; passwords are never logged."""

from __future__ import annotations

import asyncio
import logging
import math
from urllib.parse import urlsplit

from aiohttp import web

from gateway.dashboard.auth import COOKIE
from gateway.dashboard.keys import SESSIONS, STATE, THROTTLE
from gateway.dashboard.render import render, session_of

log = logging.getLogger("gateway.dashboard.auth")
routes = web.RouteTableDef()


def safe_next(target: str | None) -> str:
    """A redirect target that can only be a path on this site; anything else is `/`.

    Browsers drop tabs and newlines from a URL and read a backslash as `/`, so
    `/<TAB>/evil` and `/<backslash>evil` both become `//evil`, another host. Rather than
    normalise the way some browser might, refuse any control, space or non-ASCII
    character and any backslash, then require a path that starts with exactly one `/`
    and names no scheme or host.
    """
    if not target or not target.isascii() or "\\" in target:
        return "/"
    if any(c <= " " or c == "\x7f" for c in target):
        return "/"
    if not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def set_session_cookie(request: web.Request, resp: web.StreamResponse, sid: str) -> None:
    resp.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/",
                    secure=request.app[STATE].settings.secure_cookies)


@routes.get("/login", name="login")
async def login_form(request: web.Request) -> web.Response:
    s = session_of(request)
    if s.user:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return render(request, "login.html", next=safe_next(request.query.get("next")), error=None)


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    nxt = safe_next(str(form.get("next", "/")))
    throttle = request.app[THROTTLE]
    keys = throttle.keys(name, request.remote)
    wait = throttle.locked_for(keys)
    if wait > 0:
        log.warning("login locked out: name=%r addr=%s", name, request.remote)
        return render(request, "login.html", status=429, next=nxt,
                      error=f"Too many failed attempts. Try again in {math.ceil(wait)} s.")
    users = request.app[STATE].users
    user = await asyncio.to_thread(users.verify, name, password) if name and password else None
    if user is None:
        throttle.failed(keys)
        log.warning("login failed: name=%r addr=%s", name, request.remote)
        return render(request, "login.html", status=401, next=nxt,
                      error="Wrong name or password.")
    throttle.succeeded(keys)
    sessions = request.app[SESSIONS]
    sessions.drop(session_of(request).sid)  # a fresh id on login: no session fixation
    s = sessions.new(user.name, user.role)
    log.info("login: name=%r role=%s addr=%s", user.name, user.role, request.remote)
    resp = web.HTTPSeeOther(nxt)
    set_session_cookie(request, resp, s.sid)
    raise resp


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.StreamResponse:
    s = session_of(request)
    request.app[SESSIONS].drop(s.sid)
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(COOKIE, path="/")
    raise resp
