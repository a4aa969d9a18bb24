"""Server-side rendering: the Jinja environment, filters for money and quantities, and
the page context every template gets (user, role, CSRF token, flash messages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from gateway.dashboard import fmt, roles
from gateway.dashboard.keys import JINJA, SESSION, STATE
from gateway.users import may_do

__all__ = ["make_environment", "render", "flash", "session_of"]

TEMPLATES = Path(__file__).parent / "templates"


def make_environment(decimals: int) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = lambda v, sign=False: fmt.money(v, decimals, sign=sign)
    env.filters["qty"] = fmt.qty
    env.filters["unit_cost"] = lambda v: fmt.unit_cost(v, decimals)
    env.filters["age"] = fmt.age
    env.filters["ts"] = fmt.short_ts
    env.filters["oldest"] = fmt.oldest
    env.filters["visible"] = fmt.visible
    return env


def session_of(request: web.Request):
    return request.get(SESSION)


def flash(request: web.Request, message: str, kind: str = "ok") -> None:
    """Show `message` on the next page this session renders (post/redirect/get)."""
    s = session_of(request)
    if s is not None:
        s.data.setdefault("flash", []).append((kind, message))


def render(request: web.Request, template: str, *, status: int = 200, page: str = "",
           **ctx: Any) -> web.Response:
    s = session_of(request)
    state = request.app[STATE]
    html = request.app[JINJA].get_template(template).render(
        page=page, session=s, user=s.user if s else None, role=s.role if s else None,
        csrf=s.csrf if s else "", settings=state.settings,
        may_act=bool(s and s.may_act),
        may_do=lambda action: may_do(s.role if s else None, action), nav=roles.nav(s.role if s else None),
        flashes=s.data.pop("flash", []) if s else [],
        static=lambda f: str(request.app.router["static"].url_for(filename=f)), **ctx)
    return web.Response(text=html, status=status, content_type="text/html")
