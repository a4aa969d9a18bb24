"""Stock by location and status; held stock (any status but available) stands out.
Quantities are totalled per unit of measure (pieces and kilograms never add up)."""

from __future__ import annotations

from itertools import groupby

from aiohttp import web

from gateway.dashboard import queries
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render

routes = web.RouteTableDef()


def by_uom(rows: list[dict], uoms: dict[str, str]) -> list[tuple[str, float]]:
    """Quantity totals per unit of measure, units in name order; an item whose unit the
    master data does not give counts under "?"."""
    out: dict[str, float] = {}
    for r in rows:
        u = uoms.get(r["item"], "?")
        out[u] = out.get(u, 0.0) + r["qty"]
    return sorted(out.items())


@routes.get("/stock", name="stock")
async def stock(request: web.Request) -> web.Response:
    state = request.app[STATE]
    uoms = state.settings.item_uoms
    data = await state.db.run(queries.stock)
    locations = []
    for loc, rows in groupby(data["rows"], key=lambda r: r["location"]):
        rows = list(rows)
        locations.append({"location": loc, "rows": rows,
                          "value": sum(r["value"] for r in rows), "qty": by_uom(rows, uoms),
                          "held": sum(1 for r in rows if r["status"] != "available")})
    by_status = [s | {"qty": by_uom([r for r in data["rows"] if r["status"] == s["status"]],
                                    uoms)} for s in data["by_status"]]
    return render(request, "stock.html", page="stock", locations=locations,
                  by_status=by_status, total_qty=by_uom(data["rows"], uoms),
                  total_value=sum(s["value"] for s in data["by_status"]),
                  held_value=sum(s["value"] for s in data["by_status"] if s["status"] != "available"))
