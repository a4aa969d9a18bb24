"""Reconciliation: upload an ERP snapshot CSV (`sku,category,qty`), see the rows out of
sync (diff = gateway − ERP, largest |value| first), download them as CSV.

The file is read and the report computed by `gateway.reconcile`, the same code
`gateway reconcile` uses, so page and CLI cannot disagree."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from aiohttp import web

from gateway.dashboard.fmt import money_plain
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render, session_of
from gateway.reconcile import ErpFileError, read_erp_csv, reconcile

routes = web.RouteTableDef()

REPORT_FIELDS = ("sku", "category", "erp_qty", "gateway_qty", "diff_qty", "diff_value",
                 "direction")


def _engine(state):
    return state.reconcile if state.reconcile is not None else reconcile


@routes.get("/reconcile", name="reconcile")
async def page(request: web.Request) -> web.Response:
    return render(request, "reconcile.html", page="reconcile",
                  report=session_of(request).data.get("reconcile"), errors=[])


@routes.post("/reconcile")
async def upload(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    form = await request.post()
    field = form.get("erp")
    if field is None or isinstance(field, str):
        return render(request, "reconcile.html", status=400, page="reconcile", report=None,
                      errors=["erp: no file uploaded (choose the ERP snapshot CSV)"])
    filename = field.filename or "upload.csv"
    try:
        text = field.file.read().decode("utf-8-sig")
        rows = read_erp_csv(text, state.settings.categories, source=filename)
    except UnicodeDecodeError as exc:
        errors = [f"{filename}: not UTF-8 text ({exc.reason} at byte {exc.start})"]
    except ErpFileError as exc:
        errors = exc.errors
    else:
        errors = []
    if errors:
        return render(request, "reconcile.html", status=400, page="reconcile", report=None,
                      errors=errors)
    engine = _engine(state)
    s = state.settings
    result = await state.db.run(
        lambda conn: engine(conn, s.categories, rows, s.currency_decimals))
    result = sorted(result, key=lambda r: -abs(int(r["diff_value"])))
    session_of(request).data["reconcile"] = {
        "filename": filename, "erp_rows": len(rows), "rows": result,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total": sum(int(r["diff_value"]) for r in result)}
    raise web.HTTPSeeOther("/reconcile")


@routes.get("/reconcile/report.csv", name="reconcile_csv")
async def download(request: web.Request) -> web.Response:
    report = session_of(request).data.get("reconcile")
    if report is None:
        raise web.HTTPNotFound(text="no reconciliation yet: upload an ERP CSV first")
    decimals = request.app[STATE].settings.currency_decimals
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(REPORT_FIELDS)
    for r in report["rows"]:
        w.writerow([r["sku"], r["category"], r["erp_qty"], r["gateway_qty"], r["diff_qty"],
                    money_plain(r["diff_value"], decimals), r["direction"]])
    stamp = report["at"][:19].replace(":", "").replace("-", "")
    return web.Response(text=out.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="reconciliation-{stamp}.csv"'})
