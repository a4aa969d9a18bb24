"""Discrepancies between the gateway's stock and an ERP snapshot (see docs/operations.md).

An ERP category is the sum of the gateway statuses configured for it in
`[reconcile.categories]`. Only rows out of sync are reported, diff = gateway - ERP,
valued at the item's current unit cost, largest |value| first.
"""

from __future__ import annotations

import csv
import io
import math
import sqlite3

from costing.money import scale_of, to_minor


HEADER = ("sku", "category", "qty")
MAX_ERRORS = 50


class ErpFileError(ValueError):
    """An ERP snapshot that cannot be read; `errors` names each bad line."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def read_erp_csv(text: str, categories: dict[str, list[str]], source: str = "erp.csv"
                 ) -> list[tuple[str, str, float]]:
    """Rows `sku,category,qty` of an ERP snapshot; every bad line is reported at once,
    with its number and raw text (up to MAX_ERRORS).

    The header is case-blind and a byte-order mark is ignored; blank lines are skipped;
    a repeated sku/category is kept (the report sums them). Refused: a line without
    three fields, an empty sku, a category not in `categories` (almost always a typo in
    the export), a quantity that is not a finite number."""
    lines = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    if not lines or [c.strip().lower() for c in lines[0]] != list(HEADER):
        got = ",".join(lines[0]) if lines else "(empty file)"
        raise ErpFileError([f"{source}: line 1: header must be {','.join(HEADER)},"
                            f" got {got!r}"])
    rows: list[tuple[str, str, float]] = []
    errors: list[str] = []
    for n, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        raw = ",".join(cells)
        where = f"{source}: line {n}"
        if len(cells) != 3:
            errors.append(f"{where}: expected 3 fields, got {len(cells)}: {raw!r}")
            continue
        sku, category, qty_text = (c.strip() for c in cells)
        qty = _finite(qty_text)
        if not sku:
            errors.append(f"{where}: sku: empty: {raw!r}")
        elif category not in categories:
            errors.append(f"{where}: category: {category!r} is not one of "
                          f"{', '.join(sorted(categories))}: {raw!r}")
        elif qty is None:
            errors.append(f"{where}: qty: {qty_text!r} is not a number: {raw!r}")
        else:
            rows.append((sku, category, qty))
        if len(errors) >= MAX_ERRORS:
            errors.append(f"… stopped after {MAX_ERRORS} errors")
            break
    if errors:
        raise ErpFileError(errors)
    return rows


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def reconcile(conn: sqlite3.Connection, categories: dict[str, list[str]],
              erp_rows: list[tuple[str, str, float]], decimals: int) -> list[dict]:
    """Rows {sku, category, erp_qty, gateway_qty, diff_qty, diff_value, direction}."""
    status_to_cat = {s: cat for cat, statuses in categories.items() for s in statuses}
    gateway: dict[tuple[str, str], float] = {}
    for item, status, qty in conn.execute(
            "SELECT item, status, SUM(qty) FROM stock GROUP BY item, status"):
        cat = status_to_cat.get(status)
        if cat is not None:
            gateway[(item, cat)] = gateway.get((item, cat), 0.0) + qty
    erp: dict[tuple[str, str], float] = {}
    for sku, cat, qty in erp_rows:
        erp[(sku, cat)] = erp.get((sku, cat), 0.0) + qty
    cost = dict(conn.execute("SELECT item, unit_cost FROM item_costs"))
    out = []
    for key in sorted(set(gateway) | set(erp)):
        g, e = gateway.get(key, 0.0), erp.get(key, 0.0)
        diff = round(g - e, 9)
        if abs(diff) < 1e-9:
            continue
        value = to_minor(diff * cost.get(key[0], 0.0), scale_of(decimals))
        out.append({"sku": key[0], "category": key[1], "erp_qty": e, "gateway_qty": g,
                    "diff_qty": diff, "diff_value": value,
                    "direction": "+" if diff > 0 else "-"})
    out.sort(key=lambda r: (-abs(r["diff_value"]), -abs(r["diff_qty"]), r["sku"], r["category"]))
    return out
