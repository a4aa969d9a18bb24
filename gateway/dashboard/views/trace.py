"""Drill-down and lot trace: a journal line or event to the reading that caused it
(gateway.trace), a lot forward and a shipment back (gateway.lot_trace), and a search box
that takes whatever the person has: line number, event id, batch id, lot or order."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from gateway import lot_trace, trace
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render

routes = web.RouteTableDef()


def _reading_items(reading):
    """A device reading as (key, text) rows; attrs spread out, raw text kept verbatim."""
    if not isinstance(reading, dict):
        return [("raw", str(reading))]
    rows = [(k, "" if v is None else str(v)) for k, v in reading.items() if k != "attrs"]
    rows += [(f"attrs.{k}", str(v)) for k, v in (reading.get("attrs") or {}).items()]
    return rows


@routes.get(r"/trace/event/{seq:\d+}", name="trace_event")
async def event(request: web.Request) -> web.Response:
    seq = int(request.match_info["seq"])
    try:
        chain = await request.app[STATE].db.run(lambda c: trace.event_chain(c, seq))
    except trace.TraceNotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    mark = request.query.get("line")
    return render(request, "trace_event.html", page="ledger", chain=chain,
                  reading_rows=_reading_items(chain["reading"]) if chain["reading"] else [],
                  mark=int(mark) if mark and mark.isdigit() else None)


@routes.get(r"/trace/line/{line:\d+}")
async def line(request: web.Request) -> web.Response:
    n = int(request.match_info["line"])
    try:
        chain = await request.app[STATE].db.run(lambda c: trace.line_chain(c, n))
    except trace.TraceNotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    raise web.HTTPFound(f"/trace/event/{chain['event']['seq']}?line={n}#line-{n}")


async def _tree(request: web.Request, kind: str) -> web.Response:
    state = request.app[STATE]
    key = request.match_info["key"]
    places = state.settings.work_center_locations
    fn = lot_trace.lot if kind == "lot" else lot_trace.shipment
    try:
        tree = await state.db.run(lambda c: fn(c, key, places))
    except lot_trace.LotNotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    return render(request, "trace_lot.html", page="stock", tree=tree, kind=kind, key=key)


@routes.get("/trace/lot/{key}", name="trace_lot")
async def lot(request: web.Request) -> web.Response:
    return await _tree(request, "lot")


@routes.get("/trace/shipment/{key}", name="trace_shipment")
async def shipment(request: web.Request) -> web.Response:
    return await _tree(request, "shipment")


@routes.get("/trace", name="trace")
async def search(request: web.Request) -> web.Response:
    """One box: a journal line number, event id, batch id, lot, or shipment / sales order."""
    q = request.query.get("q", "").strip()
    if not q:
        return render(request, "trace_search.html", page="ledger", q="", message="")
    state = request.app[STATE]

    def look(conn):
        try:
            kind, chain = trace.find(conn, q)
        except trace.TraceNotFound:
            pass
        else:
            if kind == "batch":
                return f"/trace/batch/{quote(q, safe='')}"
            return (f"/trace/event/{chain['event']['seq']}"
                    + (f"?line={q}#line-{q}" if kind == "line" else ""))
        if conn.execute("SELECT 1 FROM events WHERE json_extract(payload, '$.lot') = ?",
                        (q,)).fetchone():
            return f"/trace/lot/{quote(q, safe='')}"
        if conn.execute("SELECT 1 FROM events WHERE type = 'shipment' AND"
                        " json_extract(payload, '$.order') = ?", (q,)).fetchone():
            return f"/trace/shipment/{quote(q, safe='')}"
        if conn.execute("SELECT 1 FROM work_orders WHERE work_order = ?", (q,)).fetchone():
            return f"/orders/{quote(q, safe='')}"
        return None

    target = await state.db.run(look)
    if target is None:
        return render(request, "trace_search.html", page="ledger", q=q, status=404,
                      message=f"Nothing in the journal answers to {q!r}: not a journal line,"
                              " event id, batch id, lot, shipment order or work order.")
    raise web.HTTPFound(target)


@routes.get("/trace/batch/{key}", name="trace_batch")
async def batch(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    try:
        chain = await request.app[STATE].db.run(lambda c: trace.batch_chain(c, key))
    except trace.TraceNotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    return render(request, "trace_batch.html", page="ledger", chain=chain)
