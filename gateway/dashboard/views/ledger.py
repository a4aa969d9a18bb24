"""Ledger: trial balance from journal_lines, recent batches, the upstream backlog, and
quarantined batches a supervisor can send again."""

from __future__ import annotations

from aiohttp import web

from gateway.dashboard import charts, fmt, queries, series
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render
from gateway.dashboard.views.actions import perform, refuse

routes = web.RouteTableDef()


@routes.get("/ledger", name="ledger")
async def ledger(request: web.Request) -> web.Response:
    state = request.app[STATE]
    data = await state.db.run(queries.ledger)
    lines = await state.db.run(queries.recent_lines)
    groups = {"wip": (state.settings.wip_account,), "stock": state.settings.inventory_accounts}
    buckets, values = await state.db.run(lambda c: series.side_by_side(c, groups, 15))
    d = state.settings.currency_decimals
    chart = charts.line_chart([b[5:].replace("-", "/", 1) for b in buckets], values,
                              lambda v: fmt.money(round(v), d),
                              "WIP and inventory value per 15 minutes")
    return render(request, "ledger.html", page="ledger", lines=lines, value_chart=chart, **data)


@routes.post(r"/ledger/batches/{seq:\d+}/retry")
async def retry(request: web.Request) -> web.StreamResponse:
    seq = int(request.match_info["seq"])
    row = await request.app[STATE].db.run(lambda c: queries.batch(c, seq))
    if row is None:
        refuse(request, "/ledger", f"batch_seq: no batch {seq}")
    if row["state"] != "quarantined":
        refuse(request, "/ledger", f"batch {row['batch_id']} is {row['state']}, not quarantined")
    return await perform(request, "retry_batch", "/ledger", batch_seq=seq)
