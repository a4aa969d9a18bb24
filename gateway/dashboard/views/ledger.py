"""Ledger: trial balance from journal_lines, recent batches, the upstream backlog, and
quarantined batches a supervisor can send again."""

from __future__ import annotations

from aiohttp import web

from gateway.dashboard import queries
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render
from gateway.dashboard.views.actions import perform, refuse

routes = web.RouteTableDef()


@routes.get("/ledger", name="ledger")
async def ledger(request: web.Request) -> web.Response:
    data = await request.app[STATE].db.run(queries.ledger)
    lines = await request.app[STATE].db.run(queries.recent_lines)
    return render(request, "ledger.html", page="ledger", lines=lines, **data)


@routes.post(r"/ledger/batches/{seq:\d+}/retry")
async def retry(request: web.Request) -> web.StreamResponse:
    seq = int(request.match_info["seq"])
    row = await request.app[STATE].db.run(lambda c: queries.batch(c, seq))
    if row is None:
        refuse(request, "/ledger", f"batch_seq: no batch {seq}")
    if row["state"] != "quarantined":
        refuse(request, "/ledger", f"batch {row['batch_id']} is {row['state']}, not quarantined")
    return await perform(request, "retry_batch", "/ledger", batch_seq=seq)
