"""Discrepancies between the gateway's stock and an ERP snapshot (see docs/operations.md).

An ERP category is the sum of the gateway statuses configured for it in
`[reconcile.categories]`. Only rows out of sync are reported, diff = gateway - ERP,
valued at the item's current unit cost, largest |value| first.
"""

from __future__ import annotations

import csv
import io
import sqlite3

from costing.money import scale_of, to_minor


class ErpFileError(ValueError):
    pass


def read_erp_csv(text: str, source: str = "erp.csv") -> list[tuple[str, str, float]]:
    """Parse `sku,category,qty`; every bad row is reported at once."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"sku", "category", "qty"} - set(reader.fieldnames or ())
    if missing:
        raise ErpFileError(f"{source}: header: missing column(s) {', '.join(sorted(missing))}"
                           f" (got {reader.fieldnames})")
    rows, problems = [], []
    for n, row in enumerate(reader, start=2):
        try:
            qty = float(row["qty"])
        except (TypeError, ValueError):
            problems.append(f"{source}: row {n}: qty: not a number ({row['qty']!r})")
            continue
        sku, cat = (row["sku"] or "").strip(), (row["category"] or "").strip()
        if not sku or not cat:
            problems.append(f"{source}: row {n}: sku and category are required")
            continue
        rows.append((sku, cat, qty))
    if problems:
        raise ErpFileError("\n".join(problems))
    return rows


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
