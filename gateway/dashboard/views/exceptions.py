"""Exceptions to resolve, with the raw input verbatim; supervisors assign an unassigned
count to a work order, confirm a PO for a receipt without one, approve an invoice line held
for its price, or dismiss with a reason."""

from __future__ import annotations

from aiohttp import web

from gateway.dashboard import queries
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render
from gateway.dashboard.views.actions import form_text, perform, refuse

routes = web.RouteTableDef()

FILTERS = ("open", "resolved", "dismissed", "all")


@routes.get("/exceptions", name="exceptions")
async def exceptions(request: web.Request) -> web.Response:
    state = request.app[STATE]
    show = request.query.get("status", "open")
    if show not in FILTERS:
        raise web.HTTPBadRequest(text=f"status: {show!r} is not one of {', '.join(FILTERS)}")

    def read(conn):
        return (queries.exceptions(conn, None if show == "all" else show),
                queries.open_work_orders(conn), queries.live_counts(conn))

    rows, orders, live = await state.db.run(read)
    return render(request, "exceptions.html", page="exceptions", rows=rows, orders=orders,
                  show=show, filters=FILTERS, live=live)


async def _open_exception(request: web.Request, kind: str | None) -> tuple[int, str]:
    exc_id = int(request.match_info["id"])
    back = "/exceptions"
    row = await request.app[STATE].db.run(lambda c: queries.exception(c, exc_id))
    if row is None:
        refuse(request, back, f"exception: no exception #{exc_id}")
    if row["status"] != "open":
        refuse(request, back, f"exception #{exc_id} is already {row['status']}")
    if kind is not None and row["kind"] != kind:
        refuse(request, back, f"exception #{exc_id} is a {row['kind']!r}, not a {kind!r}")
    return exc_id, back


@routes.post(r"/exceptions/{id:\d+}/assign")
async def assign(request: web.Request) -> web.StreamResponse:
    exc_id, back = await _open_exception(request, "unassigned_count")
    wo = await form_text(request, "work_order")
    orders = await request.app[STATE].db.run(queries.open_work_orders)
    if wo not in {o["work_order"] for o in orders}:
        refuse(request, back, f"work_order: {wo!r} is not an open work order")
    return await perform(request, "assign_count", back, exception_id=exc_id, work_order=wo)


@routes.post(r"/exceptions/{id:\d+}/confirm-po")
async def confirm_po(request: web.Request) -> web.StreamResponse:
    exc_id, back = await _open_exception(request, "no_po")
    po = await form_text(request, "po")
    if not po or len(po) > 64:
        refuse(request, back, f"po: {po!r} must be 1 to 64 characters")
    return await perform(request, "confirm_po", back, exception_id=exc_id, po=po)


@routes.post(r"/exceptions/{id:\d+}/approve")
async def approve_invoice(request: web.Request) -> web.StreamResponse:
    exc_id, back = await _open_exception(request, "invoice_mismatch")
    return await perform(request, "approve_invoice", back, exception_id=exc_id)


@routes.post("/exceptions/dismiss")
async def dismiss_selected(request: web.Request) -> web.StreamResponse:
    back = "/exceptions"
    form = await request.post()
    picked = form.getall("id", [])
    if not picked or not all(isinstance(v, str) and v.isdigit() for v in picked):
        refuse(request, back, f"id: {picked!r}: select the exceptions to dismiss")
    reason = await form_text(request, "reason")
    if not reason or len(reason) > 500:
        refuse(request, back, f"reason: {reason!r} must be 1 to 500 characters")
    return await perform(request, "dismiss_many", back,
                         exception_ids=[int(v) for v in picked], reason=reason)


@routes.post(r"/exceptions/{id:\d+}/dismiss")
async def dismiss(request: web.Request) -> web.StreamResponse:
    exc_id, back = await _open_exception(request, None)
    reason = await form_text(request, "reason")
    if not reason or len(reason) > 500:
        refuse(request, back, f"reason: {reason!r} must be 1 to 500 characters")
    return await perform(request, "dismiss", back, exception_id=exc_id, reason=reason)
