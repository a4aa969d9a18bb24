"""CSRF defence for every POST: the request must come from our own origin and carry the
session's token (form field `csrf` or header `X-CSRF-Token`). Missing either → 403."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

from gateway.dashboard.auth import Session

__all__ = ["check_origin", "check_token"]


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: web.Request, allowed: tuple[str, ...] = (), *,
                 scheme: str | None = None) -> None:
    """Raise 403 unless Origin (or, lacking it, Referer) is this server or an allowed one;
    `scheme` is the one the browser used (https behind a TLS proxy), else this socket's."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        referer = request.headers.get("Referer")
        origin = _origin_of(referer) if referer else None
    else:
        origin = origin.lower()
    if not origin:
        raise web.HTTPForbidden(text="refused: POST without an Origin or Referer header")
    own = f"{scheme or request.scheme}://{request.host}".lower()
    if origin != own and origin not in {a.lower().rstrip("/") for a in allowed}:
        raise web.HTTPForbidden(text=f"refused: Origin {origin!r} is not {own!r}")


async def check_token(request: web.Request, session: Session) -> None:
    """Raise 403 unless the POST carries this session's CSRF token."""
    sent = request.headers.get("X-CSRF-Token")
    if sent is None:
        form = await request.post()  # cached by aiohttp: the handler reads it again free
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent:
        raise web.HTTPForbidden(text="refused: missing CSRF token (reload the page)")
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise web.HTTPForbidden(text="refused: wrong CSRF token (reload the page)")
