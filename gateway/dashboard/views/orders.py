"""Work orders: good and scrap against plan, WIP value, cost against standard so far."""

from __future__ import annotations

from aiohttp import web

from gateway.dashboard import queries, wip
from gateway.release_check import components_in
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render

routes = web.RouteTableDef()

VARIANCES = ("material_usage", "material_price", "labor_efficiency", "overhead_efficiency")


def overproduced(order: dict) -> bool:
    """More good units than planned (over 100 % of plan): a supervisor should know."""
    return bool(order["planned"]) and order["good"] > order["planned"]


def with_figures(order: dict, decimals: int) -> dict:
    """Adds progress and the variance so far.

    Variance so far = what the order has been charged (debits to WIP) minus the standard
    cost of its good output (good × std unit cost). While the order runs it includes
    material and hours not yet turned into good units; at close the engine splits the
    real variance into the four kinds, which are shown instead.
    """
    planned = order["planned"] or 0.0
    done = order["good"] + order["scrap"]
    scale = max(planned, done, 1e-9)
    std = order.get("std_unit_cost")
    standard_output = round(order["good"] * std * 10**decimals) if std is not None else None
    closed = order["status"] == "closed"
    return order | {
        "pct_good": min(100.0, 100.0 * order["good"] / scale),
        "pct_scrap": min(100.0, 100.0 * order["scrap"] / scale),
        "pct_planned": min(100.0, 100.0 * planned / scale),
        "progress": (100.0 * order["good"] / planned) if planned else 0.0,
        "overproduced": overproduced(order),
        # released short of components: from the open exception, gone when it is resolved
        "short": components_in(order["short_reason"]) if order.get("short_reason") else [],
        "standard_output": standard_output,
        "variance_so_far": (order["charged"] - standard_output)
        if standard_output is not None and not closed else None,
        "variances": {k: order[k] for k in VARIANCES},
        "variance_total": sum(order[k] for k in VARIANCES),
    }


async def load(state) -> list[dict]:
    rows = await state.db.run(lambda c: queries.work_orders(c, state.settings))
    return [with_figures(r, state.settings.currency_decimals)
            | {"split": wip.split(r), "wip_note": wip.note(r, state.settings.charged_later)}
            for r in rows]


@routes.get("/orders", name="orders")
async def orders(request: web.Request) -> web.Response:
    state = request.app[STATE]
    rows = await load(state)
    open_rows = [r for r in rows if r["status"] == "open"]
    return render(request, "orders.html", page="orders", orders=rows,
                  open_count=len(open_rows), wip_total=sum(r["wip"] for r in open_rows))
