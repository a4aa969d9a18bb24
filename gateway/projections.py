"""The projections of the engine's state a batch of events touched — stock, item costs,
work orders, active orders — written in the batch's transaction.

The journal writes them into its own file; `gateway replay` writes them, from the
engine it feeds the stored events to, into a file of projections only, and compares.
"""

from __future__ import annotations

import numpy as np

from gateway.active_orders import SET, change_of
from gateway.bounds import MONEY_CEILING


class MoneyOverflow(ValueError):
    """A batch would carry an amount int64 money cannot hold safely."""


def touched(engine, orders: set[str], block: np.ndarray, move_rows) -> tuple[set[str], set[str]]:
    """(items, orders) whose projections a batch changed: the items and orders its lines
    name (`block`, Posted.line_block), the items of the stock rows it moved (`move_rows`)
    and `orders`, those its events name."""
    items: set[str] = set()
    if block.shape[1]:
        names = engine.ledger.names
        items.update(names[k] for k in set(block[2].tolist()))  # a set: no sort needed
        orders.update(names[k] for k in set(block[3].tolist()))
    keys = engine.inv.row_keys
    items.update(keys[r][0] for r in set(move_rows))
    for found in (items, orders):
        found.discard(None)
        found.discard("")
    return items, orders


def project_items(conn, engine, items: set[str]) -> None:
    """The stock rows and item costs of `items` as the engine holds them."""
    marks = ",".join("?" * len(items))
    args = sorted(items)
    conn.execute(f"DELETE FROM stock WHERE item IN ({marks})", args)
    stock = [r for r in engine.stock_figures(items) if abs(r[4]) > 1e-9 or r[5] != 0]
    costs = [(c.item, c.method, float(c.qty), int(c.value), float(c.unit_cost))
             for c in engine.item_costs(items)]
    for item, value in [(r[0], r[5]) for r in stock] + [(c[0], c[3]) for c in costs]:
        if not -MONEY_CEILING < value < MONEY_CEILING:
            raise MoneyOverflow(f"item {item!r}: a book value of {value} minor units is"
                                " beyond what the books can hold")
    conn.executemany(
        "INSERT INTO stock(item, location, status, lot, qty, value) VALUES (?,?,?,?,?,?)",
        stock)
    conn.executemany(
        "INSERT INTO item_costs(item, method, qty, value, unit_cost) VALUES (?,?,?,?,?)"
        " ON CONFLICT(item) DO UPDATE SET method=excluded.method, qty=excluded.qty,"
        " value=excluded.value, unit_cost=excluded.unit_cost", costs)


def project_orders(conn, engine, orders: set[str], marks: dict[str, dict[str, int]]) -> None:
    """The work orders `orders` as the engine holds them; `marks`: the seqs of releases
    and closes this batch (order -> released_seq / closed_seq), taken out as written."""
    rows = []
    for w in engine.work_orders(orders):
        m = marks.pop(w.work_order, {})
        rows.append((w.work_order, w.item, w.line, float(w.planned), w.status,
                     float(w.good), float(w.scrap), int(w.wip), int(w.material_usage),
                     int(w.material_price), int(w.labor_efficiency),
                     int(w.overhead_efficiency), m.get("released_seq"),
                     m.get("closed_seq")))
    conn.executemany(
        "INSERT INTO work_orders(work_order, item, line, planned, status, good, scrap, wip,"
        " material_usage, material_price, labor_efficiency, overhead_efficiency,"
        " released_seq, closed_seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(work_order) DO UPDATE SET item=excluded.item, line=excluded.line,"
        " planned=excluded.planned, status=excluded.status, good=excluded.good,"
        " scrap=excluded.scrap, wip=excluded.wip, material_usage=excluded.material_usage,"
        " material_price=excluded.material_price,"
        " labor_efficiency=excluded.labor_efficiency,"
        " overhead_efficiency=excluded.overhead_efficiency,"
        " released_seq=COALESCE(excluded.released_seq, work_orders.released_seq),"
        " closed_seq=CASE WHEN excluded.status='closed'"
        "   THEN COALESCE(excluded.closed_seq, work_orders.closed_seq) ELSE NULL END",
        rows)


def track(conn, seq: int, event, marks: dict[str, dict[str, int]]) -> None:
    """Which order runs on which line (gateway/active_orders.py has the rule); a
    release's or close's seq into `marks` for project_orders."""
    change = change_of(event)
    if change is None:
        return
    op, line, order = change
    if op == SET:
        conn.execute(
            "INSERT INTO active_orders(line, work_order, since_seq) VALUES (?,?,?)"
            " ON CONFLICT(line) DO UPDATE SET work_order=excluded.work_order,"
            " since_seq=excluded.since_seq", (line, order, seq))
    else:
        conn.execute("DELETE FROM active_orders WHERE work_order=?", (order,))
    if event.type != "wo_start":  # a start is not the order's release
        marks.setdefault(order, {})["released_seq" if op == SET else "closed_seq"] = seq
