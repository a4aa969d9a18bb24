"""Login and logout. Wrong name and wrong password look the same; passwords are never logged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from gateway.dashboard.auth import COOKIE
from gateway.dashboard.keys import SESSIONS, STATE, THROTTLE
from gateway.dashboard.peers import client_address
from gateway.dashboard import roles
from gateway.dashboard.render import render, session_of
from gateway.dashboard.views.audit import note

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


def name_for_log(users, name: str) -> str:
    """What a log line may say about the name field: the name if it is a user's, else
    only its length and a keyed digest (people type passwords into the name field)."""
    if users.get(name) is not None:
        return name  # a user's name: NAME_RE's safe alphabet, nothing to quote
    digest = hmac.new(_LOG_KEY, name.encode("utf-8"), hashlib.sha256).hexdigest()[:10]
    return f"<unknown name, {len(name)} chars, #{digest}>"


_LOG_KEY = secrets.token_bytes(16)  # per process: digests correlate lines, never reverse


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    nxt = safe_next(str(form.get("next", "/")))
    throttle = request.app[THROTTLE]
    users = request.app[STATE].users
    addr = client_address(request)
    keys = throttle.keys(name, addr)
    # No await between the check and the count: parallel guesses cannot outrun the limit.
    admission = throttle.admit(keys)
    if not admission.admitted:
        said = name_for_log(users, name)
        log.warning("login refused (throttled): name=%s addr=%s", said, addr)
        await note(request, "login_refused", detail=f"throttled for {admission.wait_s:.0f} s",
                   actor=said)
        return render(request, "login.html", status=429, next=nxt,
                      error="Too many failed attempts. Try again in "
                            f"{math.ceil(admission.wait_s)} s.")
    user = None
    try:
        if admission.delay_s:
            await asyncio.sleep(admission.delay_s)
        if name and password:
            user = await asyncio.to_thread(users.verify, name, password)
    finally:
        throttle.settle(keys, ok=user is not None)
    if user is None:
        said = name_for_log(users, name)
        log.warning("login failed: name=%s addr=%s", said, addr)
        await note(request, "login_failed", actor=said,
                   detail="slowed: the name is locked" if admission.name_locked else "")
        return render(request, "login.html", status=401, next=nxt,
                      error="Wrong name or password.")
    sessions = request.app[SESSIONS]
    sessions.drop(session_of(request).sid)  # a fresh id on login: no session fixation
    s = sessions.new(user)
    log.info("login: name=%r role=%s addr=%s", user.name, user.role, addr)
    await note(request, "login", detail=user.role, actor=user.name)
    # no page asked for: the role's own landing page (gateway.dashboard.roles)
    resp = web.HTTPSeeOther(roles.home(user.role) if nxt == "/" else nxt)
    set_session_cookie(request, resp, s.sid)
    raise resp


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.StreamResponse:
    s = session_of(request)
    request.app[SESSIONS].drop(s.sid)
    await note(request, "logout")
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(COOKIE, path="/")
    raise resp
