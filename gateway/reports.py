"""The figures the CLI and the dashboard show, read from the journal's projections.

Every function takes a connection and returns plain rows with money in minor units;
formatting for people or machines happens at the edge (gateway.commands.reports).
"""

from __future__ import annotations

import sqlite3

VARIANCES = ("material_usage", "material_price", "labor_efficiency", "overhead_efficiency")


def journal_rows(conn: sqlite3.Connection) -> list[dict]:
    cur = conn.execute(
        "SELECT l.entry, e.event_id, e.ts, l.account, l.debit, l.credit, l.work_order,"
        " l.item, l.memo FROM journal_lines l JOIN entries e ON e.entry = l.entry"
        " ORDER BY l.line")  # a line's ts is its entry's
    keys = ("entry", "event", "ts", "account", "debit", "credit", "work_order", "item", "memo")
    return [dict(zip(keys, row)) for row in cur]


def trial_balance(conn: sqlite3.Connection) -> list[dict]:
    """Per account: debit, credit and balance = debit - credit, by account code."""
    cur = conn.execute(
        "SELECT account, SUM(debit), SUM(credit) FROM journal_lines"
        " GROUP BY account ORDER BY account")
    return [{"account": a, "debit": d, "credit": c, "balance": d - c} for a, d, c in cur]


def stock_rows(conn: sqlite3.Connection) -> list[dict]:
    cur = conn.execute(
        "SELECT item, location, status, lot, qty, value FROM stock"
        " ORDER BY item, location, status, lot")
    return [{"item": i, "location": l, "status": s, "lot": lot or None, "qty": q, "value": v}
            for i, l, s, lot, q, v in cur]


def wip_rows(conn: sqlite3.Connection) -> list[dict]:
    cur = conn.execute(
        "SELECT work_order, item, status, good, scrap, wip, material_usage, material_price,"
        " labor_efficiency, overhead_efficiency, line, planned FROM work_orders"
        " ORDER BY COALESCE(released_seq, 0), work_order")
    rows = []
    for wo, item, status, good, scrap, wip, *var, line, planned in cur:
        rows.append({"work_order": wo, "item": item, "status": status, "good": good,
                     "scrap": scrap, "wip": wip, "variances": dict(zip(VARIANCES, var)),
                     "line": line, "planned": planned})
    return rows


def unit_costs(conn: sqlite3.Connection) -> dict[str, float]:
    return dict(conn.execute("SELECT item, unit_cost FROM item_costs"))
