"""One alert: its card and a picture of its figure over time — scrap % per hour at the
operation against the limit, or a component issued against its standard."""

from __future__ import annotations

from aiohttp import web
from markupsafe import Markup

from gateway.alerts.store import LIST_COLUMNS
from gateway.dashboard import charts, fmt, series
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render

routes = web.RouteTableDef()


def _pct(v: float) -> str:
    return f"{v:.1f} %"


def scrap_chart(conn, alert: dict) -> Markup:
    """Scrap % per hour of the alert's order at its operation, the limit drawn along."""
    op = int(alert["key"].rsplit(":op", 1)[1])
    points = series.output(conn, 60, alert["work_order"], operation=op)
    return charts.line_chart(
        [p["bucket"][11:] for p in points],
        {"scrap_pct": [p["scrap_pct"] for p in points],
         "limit": [alert["threshold"]] * len(points)},
        _pct, f"scrap % per hour of {alert['work_order']} op {op}, against its limit")


def consumption_chart(conn, alert: dict, standards: dict) -> Markup | None:
    """The component issued to the order so far against its standard so far (and the
    limit, the standard plus the rule's max_pct, as the alert recorded it)."""
    row = conn.execute("SELECT item, planned FROM work_orders WHERE work_order = ?",
                       (alert["work_order"],)).fetchone()
    per_unit = standards.get(row[0], {}).get(alert["item"]) if row else None
    if per_unit is None:  # the BOM no longer hand-issues it: no standard to draw
        return None
    points = series.consumption(conn, alert["work_order"], alert["item"], per_unit, row[1])
    ratio = alert["threshold"] / alert["expected"] if alert["expected"] else None
    lines = {"issued": [p["issued"] for p in points],
             "standard": [p["standard"] for p in points]}
    if ratio is not None:
        lines["limit"] = [p["standard"] * ratio for p in points]
    return charts.line_chart([p["ts"][11:19] for p in points], lines, fmt.qty,
                             f"{alert['item']} issued to {alert['work_order']} against"
                             " its standard")


@routes.get(r"/alerts/{id:\d+}", name="alert")
async def alert(request: web.Request) -> web.Response:
    state = request.app[STATE]
    alert_id = int(request.match_info["id"])

    def read(conn):
        row = conn.execute(f"SELECT {', '.join(LIST_COLUMNS)} FROM alerts WHERE id = ?",
                           (alert_id,)).fetchone()
        if row is None:
            return None, None
        a = dict(zip(LIST_COLUMNS, row))
        if a["rule"] == "scrap_rate" and a["work_order"]:
            return a, scrap_chart(conn, a)
        if a["rule"] == "consumption" and a["work_order"]:
            return a, consumption_chart(conn, a, state.settings.issue_standards)
        return a, None

    a, chart = await state.db.run(read)
    if a is None:
        raise web.HTTPNotFound(text=f"No alert {alert_id} in the journal.")
    return render(request, "alert.html", page="alerts", a=a, chart=chart)
