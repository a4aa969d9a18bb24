"""Stock by location and status; held stock (any status but available) stands out."""

from __future__ import annotations

from itertools import groupby

from aiohttp import web

from gateway.dashboard import queries
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render

routes = web.RouteTableDef()


@routes.get("/stock", name="stock")
async def stock(request: web.Request) -> web.Response:
    state = request.app[STATE]
    data = await state.db.run(queries.stock)
    locations = []
    for loc, rows in groupby(data["rows"], key=lambda r: r["location"]):
        rows = list(rows)
        locations.append({"location": loc, "rows": rows,
                          "value": sum(r["value"] for r in rows),
                          "held": sum(1 for r in rows if r["status"] != "available")})
    return render(request, "stock.html", page="stock", locations=locations,
                  by_status=data["by_status"],
                  total_value=sum(s["value"] for s in data["by_status"]),
                  held_value=sum(s["value"] for s in data["by_status"] if s["status"] != "available"))
