"""Alerts by rule, state and line; supervisors acknowledge or resolve them with a note."""

from __future__ import annotations

from aiohttp import web

from gateway.alerts.config import RULES
from gateway.alerts.store import list_alerts
from gateway.dashboard import queries
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render
from gateway.dashboard.views.actions import form_text, perform, refuse

routes = web.RouteTableDef()

STATES = ("active", "open", "acknowledged", "resolved", "all")


def _choice(request: web.Request, name: str, allowed, default: str = "") -> str:
    value = request.query.get(name, default)
    if value and value not in allowed:
        raise web.HTTPBadRequest(text=f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


@routes.get("/alerts", name="alerts")
async def alerts(request: web.Request) -> web.Response:
    state = request.app[STATE]
    show = _choice(request, "state", STATES, "active")
    rule = _choice(request, "rule", RULES)
    line = request.query.get("line", "")

    def read(conn):
        lines = [r[0] for r in conn.execute(
            "SELECT DISTINCT line FROM alerts WHERE line IS NOT NULL ORDER BY line")]
        rows = list_alerts(conn, state=None if show == "all" else show, rule=rule or None,
                           line=line or None, limit=500)
        return rows, lines, queries.live_counts(conn)

    rows, lines, live = await state.db.run(read)
    return render(request, "alerts.html", page="alerts", rows=rows, lines=lines, rules=RULES,
                  states=STATES, show=show, rule=rule, line=line, live=live)


async def _act(request: web.Request, action: str) -> web.StreamResponse:
    back = "/alerts"
    key = await form_text(request, "key")
    note = await form_text(request, "note")
    if not key or len(key) > 300:
        refuse(request, back, f"key: {key!r} must be 1 to 300 characters")
    if len(note) > 500:
        refuse(request, back, "note: at most 500 characters")
    return await perform(request, action, back, key=key, note=note)


@routes.post("/alerts/ack")
async def ack(request: web.Request) -> web.StreamResponse:
    return await _act(request, "ack_alert")


@routes.post("/alerts/resolve")
async def resolve(request: web.Request) -> web.StreamResponse:
    return await _act(request, "resolve_alert")
