"""One work order: progress, cost against standard over time, variances by kind, its
events (each linked to its trace) and its journal lines."""

from __future__ import annotations

from aiohttp import web

from gateway.dashboard import charts, fmt, lines, queries, series, wip
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render
from gateway.dashboard.views.orders import VARIANCES, with_figures

routes = web.RouteTableDef()

VARIANCE_LABELS = {"material_usage": "Material usage", "material_price": "Material price",
                   "labor_efficiency": "Labor efficiency",
                   "overhead_efficiency": "Overhead efficiency"}


def _read(conn, work_order: str, settings) -> dict | None:
    found = queries.work_orders(conn, settings, work_order)
    if not found:
        return None
    order = with_figures(found[0], settings.currency_decimals)
    order |= {"split": wip.split(order), "wip_note": wip.note(order, settings.charged_later)}
    return {"order": order,
            "events": queries.order_events(conn, work_order),
            "lines": queries.order_lines(conn, work_order),
            "output": lines.order_output(conn, work_order),
            "build_up": series.cost_build_up(conn, work_order, settings.wip_account,
                                             order["std_unit_cost"],
                                             settings.currency_decimals)}


@routes.get("/orders/{work_order}", name="order")
async def order(request: web.Request) -> web.Response:
    state = request.app[STATE]
    wo = request.match_info["work_order"]
    data = await state.db.run(lambda c: _read(c, wo, state.settings))
    if data is None:
        raise web.HTTPNotFound(text=f"No work order {wo} in the journal.")
    d = state.settings.currency_decimals
    o, build = data["order"], data["build_up"]
    money = lambda v: fmt.money(round(v), d)  # noqa: E731 - axis labels
    figures = {
        "output": data["output"],
        "build_up": charts.line_chart(
            [f"#{p['seq']}" for p in build],
            {"charged": [p["charged"] for p in build]}
            | ({"standard": [p["standard"] for p in build]}
               if o["std_unit_cost"] is not None else {}),
            money, f"charged to {wo} against the standard cost of its output"),
        "variances": charts.signed_bars(
            [(VARIANCE_LABELS[k], o[k]) for k in VARIANCES], money,
            f"variances of {wo} at close") if o["status"] == "closed" else None,
    }
    return render(request, "order.html", page="orders", o=o, events=data["events"],
                  lines=data["lines"], charts=figures)
