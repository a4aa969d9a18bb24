"""Reconciliation: upload an ERP snapshot CSV (`sku,category,qty`), see the rows out of
sync (diff = gateway − ERP, largest |value| first), download them as CSV.

The report itself is computed by `gateway.reconcile.reconcile` (imported when first
needed), the same code `gateway reconcile` uses, so page and CLI cannot disagree."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timezone

from aiohttp import web

from gateway.dashboard.fmt import money_plain
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render, session_of

routes = web.RouteTableDef()

HEADER = ("sku", "category", "qty")
REPORT_FIELDS = ("sku", "category", "erp_qty", "gateway_qty", "diff_qty", "diff_value",
                 "direction")
MAX_ERRORS = 50


class ErpCsvError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_erp_csv(text: str, categories: dict[str, list[str]]) -> list[tuple[str, str, float]]:
    """Rows of an ERP snapshot; every bad line is reported with its number and raw text.

    Repeated sku/category lines are kept (the report sums them, as `gateway reconcile`
    does); an unknown category is refused here, where the CLI would report it as a
    difference, because on the page it is almost always a typo in the export."""
    lines = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    if not lines or [c.strip().lower() for c in lines[0]] != list(HEADER):
        got = ",".join(lines[0]) if lines else "(empty file)"
        raise ErpCsvError([f"line 1: header must be {','.join(HEADER)}, got {got!r}"])
    rows: list[tuple[str, str, float]] = []
    errors: list[str] = []
    for n, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        raw = ",".join(cells)
        if len(cells) != 3:
            errors.append(f"line {n}: expected 3 fields, got {len(cells)}: {raw!r}")
            continue
        sku, category, qty_s = (c.strip() for c in cells)
        if not sku:
            errors.append(f"line {n}: sku: empty: {raw!r}")
        elif category not in categories:
            errors.append(f"line {n}: category: {category!r} is not one of "
                          f"{', '.join(sorted(categories))}: {raw!r}")
        else:
            try:
                qty = float(qty_s)
                if not math.isfinite(qty):
                    raise ValueError
            except ValueError:
                errors.append(f"line {n}: qty: {qty_s!r} is not a number: {raw!r}")
                continue
            rows.append((sku, category, qty))
        if len(errors) >= MAX_ERRORS:
            errors.append("… stopped after 50 errors")
            break
    if errors:
        raise ErpCsvError(errors)
    return rows


def _engine(state):
    if state.reconcile is not None:
        return state.reconcile
    from gateway.reconcile import reconcile  # another room's module; lazy on purpose
    return reconcile


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
        rows = parse_erp_csv(text, state.settings.categories)
    except UnicodeDecodeError as exc:
        errors = [f"{filename}: not UTF-8 text ({exc.reason} at byte {exc.start})"]
    except ErpCsvError as exc:
        errors = [f"{filename}: {e}" for e in exc.errors]
    else:
        errors = []
    if errors:
        return render(request, "reconcile.html", status=400, page="reconcile", report=None,
                      errors=errors)
    try:
        engine = _engine(state)
    except ImportError as exc:
        raise web.HTTPServiceUnavailable(text=f"reconciliation is not available: {exc}")
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
