"""Overview: devices and their connection state, the headline numbers, recent events."""

from __future__ import annotations

from aiohttp import web

from gateway.dashboard import lines, queries, wip
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render

routes = web.RouteTableDef()


def device_rows(state) -> list[dict]:
    """Device status dicts, normalised so a missing key never breaks the page."""
    out = []
    for d in state.devices():
        alarms = d.get("alarms") or []
        out.append({"id": str(d.get("id", "?")), "driver": str(d.get("driver", "")),
                    "state": str(d.get("state", "unknown")),
                    "last_reading_ts": d.get("last_reading_ts"),
                    "readings_per_s": float(d.get("readings_per_s") or 0.0),
                    "reason": str(d.get("reason") or ""),
                    # what the Problem column shows: why it is not connected, else a
                    # standing notice of a connected one (MQTT 3.1.1 and its limits)
                    "problem": str(d.get("reason") or d.get("notice") or ""),
                    "alarms": [str(a) for a in (alarms if isinstance(alarms, (list, tuple)) else [alarms])]})
    return sorted(out, key=lambda d: d["id"])


@routes.get("/", name="overview")
async def overview(request: web.Request) -> web.Response:
    state = request.app[STATE]
    live = await state.db.run(queries.live_counts)
    data = await state.db.run(queries.overview)
    orders = await state.db.run(lambda c: queries.work_orders(c, state.settings))
    line_charts = await state.db.run(lambda c: lines.line_charts(c, state.settings.line_rates))
    return render(request, "overview.html", page="overview", devices=device_rows(state),
                  live=live, wip=open_wip(orders, state.settings.charged_later),
                  recent_rows=lines.recent_rows(data["recent"]), line_charts=line_charts,
                  **data)


def open_wip(orders: list[dict], later: dict) -> dict:
    """The open orders' WIP split (charged by kind, relieved) and, when some are
    negative, why: for the WIP card."""
    open_ = [o for o in orders if o["status"] == "open"]
    total = {k: 0 for k in ("material", "labor", "overhead", "relieved")}
    for o in open_:
        for k, v in wip.split(o).items():
            total[k] += v
    notes = [f"{o['work_order']}: {n}" for o in open_ if (n := wip.note(o, later))]
    return total | {"notes": notes}
