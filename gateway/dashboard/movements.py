"""One item's movements in journal order, with the running quantity and book value.

The value of a movement is exact: the item's debits less credits on the inventory
accounts in that event's journal lines. The quantity comes from the event: its own `qty`
when it names the item (receipt +, issue and shipment -, transfer 0: it only moves the
stock between places), the good units for a completion of an order of the item, and for
a component drawn by backflush the order's units times the BOM's qty_per x (1 + scrap%)
(a scrap at operation N draws the components of steps up to N). A cycle count or a
reversal does not say how much it changed: its quantity is unknown, and the running
quantity is shown only up to it.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from costing.master import MasterData

__all__ = ["history", "LIMIT"]

LIMIT = 1000  # movements on one page, oldest first; beyond this the page says it is cut

_SIGN = {"receipt": 1.0, "issue": -1.0, "shipment": -1.0, "transfer": 0.0}


def _draw(master: MasterData | None, parent: str | None, sku: str,
          operation: int | None) -> float | None:
    """Units of `sku` one unit of `parent` draws (up to `operation`, when given)."""
    if master is None or parent is None:
        return None
    lines = [b for b in master.boms if b.parent == parent and b.component == sku
             and (operation is None or b.operation <= operation)]
    return sum(b.qty_per * (1.0 + b.scrap_pct / 100.0) for b in lines) if lines else None


def _qty(ev: dict[str, Any], sku: str, order_item: str | None,
         master: MasterData | None) -> float | None:
    p, typ = ev["payload"], ev["type"]
    if typ in _SIGN and p.get("item") == sku:
        return _SIGN[typ] * float(p.get("qty") or 0)
    if typ == "completion" and order_item == sku:
        return float(p.get("qty") or 0)
    if typ in ("completion", "scrap"):
        per = _draw(master, order_item, sku, p.get("operation") if typ == "scrap" else None)
        return None if per is None else -per * float(p.get("qty") or 0)
    return None


def history(conn: sqlite3.Connection, sku: str, accounts: tuple[str, ...],
            master: MasterData | None) -> dict[str, Any]:
    """{rows: [{seq, id, type, ts, source, work_order, lot, location, qty, value,
    balance_qty, balance_value}], cut, unknown} — oldest first."""
    marks = ",".join("?" * len(accounts)) or "NULL"
    found = conn.execute(f"""
        SELECT e.seq, e.id, e.type, e.ts, e.source, e.payload,
               coalesce(v.value, 0) AS value, w.item AS order_item
        FROM events e
        LEFT JOIN (SELECT n.event_seq, sum(l.debit - l.credit) AS value
                   FROM journal_lines l JOIN entries n ON n.entry = l.entry
                   WHERE l.item = ? AND l.account IN ({marks}) GROUP BY n.event_seq) v
               ON v.event_seq = e.seq
        LEFT JOIN work_orders w ON w.work_order = json_extract(e.payload, '$.work_order')
        WHERE v.event_seq IS NOT NULL
           OR (e.type IN ('receipt', 'issue', 'shipment', 'transfer', 'count')
               AND json_extract(e.payload, '$.item') = ?)
        ORDER BY e.seq LIMIT ?""", (sku, *accounts, sku, LIMIT + 1)).fetchall()
    rows, qty_run, value_run, unknown = [], 0.0, 0, 0
    for seq, eid, typ, ts, source, payload, value, order_item in found[:LIMIT]:
        p = json.loads(payload)
        qty = _qty({"type": typ, "payload": p}, sku, order_item, master)
        if qty is None:
            unknown += 1
        elif qty_run is not None:
            qty_run += qty
        if qty is None:
            qty_run = None
        value_run += value
        rows.append({"seq": seq, "id": eid, "type": typ, "ts": ts, "source": source,
                     "work_order": p.get("work_order"), "lot": p.get("lot"),
                     "location": p.get("location") or p.get("to_location"),
                     "qty": qty, "value": value, "balance_qty": qty_run,
                     "balance_value": value_run})
    return {"rows": rows, "cut": len(found) > LIMIT, "unknown": unknown}
