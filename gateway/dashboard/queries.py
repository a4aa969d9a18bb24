"""Read-only queries behind the pages and the live stream; each takes a connection and
returns plain rows. Only columns of gateway/schema.py are used."""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["overview", "work_orders", "stock", "exceptions", "open_work_orders", "ledger",
           "outbox", "live_counts", "exception", "batch", "order_events", "order_lines",
           "recent_lines", "item"]


def _rows(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, params)]


def outbox(conn: sqlite3.Connection) -> dict[str, Any]:
    """Upstream backlog: batches not acked, the oldest one's time, last ack, unbatched lines."""
    r = conn.execute(
        """SELECT count(*) FILTER (WHERE state != 'acked') AS depth,
                  count(*) FILTER (WHERE state = 'quarantined') AS quarantined,
                  min(created_at) FILTER (WHERE state != 'acked') AS oldest,
                  max(acked_at) AS last_ack,
                  count(*) AS batches
           FROM batches""").fetchone()
    (unbatched,) = conn.execute(
        "SELECT count(*) FROM journal_lines WHERE batch_seq IS NULL").fetchone()
    return dict(r) | {"unbatched_lines": unbatched}


def live_counts(conn: sqlite3.Connection) -> dict[str, Any]:
    """Everything the live stream patches into open pages, in one read transaction."""
    conn.execute("BEGIN")  # one consistent snapshot across the statements below
    try:
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
        (max_exc,) = conn.execute("SELECT coalesce(max(id), 0) FROM exceptions").fetchone()
        (open_exc,) = conn.execute(
            "SELECT count(*) FROM exceptions WHERE status = 'open'").fetchone()
        (wip,) = conn.execute(
            "SELECT coalesce(sum(wip), 0) FROM work_orders WHERE status = 'open'").fetchone()
        orders = _rows(conn, "SELECT work_order, planned, good, scrap, wip, status FROM work_orders")
        (stock_value,) = conn.execute("SELECT coalesce(sum(value), 0) FROM stock").fetchone()
        box = outbox(conn)
        (alerts_open,) = conn.execute(
            "SELECT count(*) FROM alerts WHERE state != 'resolved'").fetchone()
    finally:
        conn.execute("COMMIT")
    return {"events": events, "exceptions_open": open_exc, "exceptions_max_id": max_exc,
            "wip_total": wip, "orders": orders, "stock_value": stock_value, "outbox": box,
            "alerts_open": alerts_open}


def overview(conn: sqlite3.Connection) -> dict[str, Any]:
    return {"recent": recent_events(conn), "active": active_lines(conn)}


def recent_events(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The latest events, newest first."""
    return _rows(conn, """SELECT seq, id, type, ts, source, received_at
                          FROM events ORDER BY seq DESC LIMIT 12""")


def active_lines(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Each line running an order, with that order's figures."""
    return _rows(conn, """SELECT a.line, a.work_order, w.item, w.planned, w.good, w.scrap
                          FROM active_orders a LEFT JOIN work_orders w USING (work_order)
                          ORDER BY a.line""")


def work_orders(conn: sqlite3.Connection, settings: Any,
                work_order: str | None = None) -> list[dict[str, Any]]:
    """Orders with what they have been charged (debits to WIP), split into labor and
    overhead (the credits to applied labor / overhead) and material (the rest), what
    has been relieved (credits to WIP) and the open `short_components` exception of
    their release, if any (id and reason); open orders first, newest first. `work_order`:
    that one only. `settings`: a DashboardSettings (its account codes)."""
    where = "WHERE w.work_order = ?" if work_order is not None else ""
    wip, lab, ovh = settings.wip_account, settings.labor_account, settings.overhead_account
    params = (wip, wip, lab, ovh, wip, lab, ovh) + ((work_order,) if work_order is not None else ())
    return _rows(conn, f"""
        SELECT w.*, c.unit_cost AS std_unit_cost, c.method AS cost_method,
               coalesce(j.charged, 0) AS charged, coalesce(j.relieved, 0) AS relieved,
               coalesce(j.labor, 0) AS charged_labor,
               coalesce(j.overhead, 0) AS charged_overhead,
               (SELECT 1 FROM active_orders a WHERE a.work_order = w.work_order) AS running,
               s.short_exception, s.short_reason
        FROM work_orders w
        LEFT JOIN item_costs c ON c.item = w.item
        LEFT JOIN (SELECT json_extract(v.payload, '$.work_order') AS work_order,
                          min(x.id) AS short_exception, x.reason AS short_reason
                   FROM exceptions x JOIN events v ON v.id = x.event_id
                   WHERE x.status = 'open' AND x.kind = 'short_components'
                   GROUP BY 1) s ON s.work_order = w.work_order
        LEFT JOIN (SELECT work_order,
                          sum(CASE WHEN account = ? THEN debit ELSE 0 END) AS charged,
                          sum(CASE WHEN account = ? THEN credit ELSE 0 END) AS relieved,
                          sum(CASE WHEN account = ? THEN credit ELSE 0 END) AS labor,
                          sum(CASE WHEN account = ? THEN credit ELSE 0 END) AS overhead
                   FROM journal_lines
                   WHERE account IN (?, ?, ?) AND work_order IS NOT NULL
                   GROUP BY work_order) j
               ON j.work_order = w.work_order
        {where}
        ORDER BY w.status = 'closed', coalesce(w.released_seq, 0) DESC, w.work_order""",
                 params)


def order_events(conn: sqlite3.Connection, work_order: str, limit: int = 200) -> list[dict]:
    """The events that name the order, newest first."""
    return _rows(conn, """SELECT seq, id, type, ts, source, received_at,
                                 reading IS NOT NULL AS from_device,
                                 json_extract(payload, '$.qty') AS qty
                          FROM events WHERE json_extract(payload, '$.work_order') = ?
                          ORDER BY seq DESC LIMIT ?""", (work_order, limit))


_LINES = """SELECT l.line, l.entry, e.event_id, e.event_seq, e.ts, l.account, l.debit,
                   l.credit, l.work_order, l.item, l.work_center, l.memo
            FROM journal_lines l JOIN entries e ON e.entry = l.entry"""


def order_lines(conn: sqlite3.Connection, work_order: str, limit: int = 500) -> list[dict]:
    """The order's journal lines, newest first."""
    return _rows(conn, _LINES + " WHERE l.work_order = ? ORDER BY l.line DESC LIMIT ?",
                 (work_order, limit))


def recent_lines(conn: sqlite3.Connection, limit: int = 25) -> list[dict]:
    return _rows(conn, _LINES + " ORDER BY l.line DESC LIMIT ?", (limit,))


def stock(conn: sqlite3.Connection) -> dict[str, Any]:
    rows = _rows(conn, """SELECT s.*, c.unit_cost FROM stock s LEFT JOIN item_costs c USING (item)
                          WHERE s.qty != 0 OR s.value != 0
                          ORDER BY s.location, s.status != 'available', s.status, s.item, s.lot""")
    # no quantity total: pieces and kilograms do not add up
    by_status = _rows(conn, """SELECT status, count(*) AS lines, sum(value) AS value
                               FROM stock WHERE qty != 0 OR value != 0
                               GROUP BY status ORDER BY status != 'available', status""")
    return {"rows": rows, "by_status": by_status}


def item(conn: sqlite3.Connection, sku: str) -> dict[str, Any] | None:
    """One item's book (qty, value, unit cost) and its stock rows by location, status and
    lot; None when the journal has never seen it."""
    book = conn.execute("SELECT * FROM item_costs WHERE item = ?", (sku,)).fetchone()
    rows = _rows(conn, """SELECT location, status, lot, qty, value FROM stock
                          WHERE item = ? AND (qty != 0 OR value != 0)
                          ORDER BY location, status != 'available', status, lot""", (sku,))
    if book is None and not rows:
        return None
    return {"book": dict(book) if book else None, "rows": rows}


def exceptions(conn: sqlite3.Connection, status: str | None) -> list[dict[str, Any]]:
    if status:
        return _rows(conn, "SELECT * FROM exceptions WHERE status = ? ORDER BY id DESC LIMIT 500",
                     (status,))
    return _rows(conn, "SELECT * FROM exceptions ORDER BY id DESC LIMIT 500")


def exception(conn: sqlite3.Connection, exc_id: int) -> dict[str, Any] | None:
    r = conn.execute("SELECT * FROM exceptions WHERE id = ?", (exc_id,)).fetchone()
    return dict(r) if r else None


def open_work_orders(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(conn, """SELECT work_order, item, line FROM work_orders
                          WHERE status = 'open' ORDER BY line, work_order""")


def batch(conn: sqlite3.Connection, seq: int) -> dict[str, Any] | None:
    r = conn.execute("SELECT seq, batch_id, state FROM batches WHERE seq = ?", (seq,)).fetchone()
    return dict(r) if r else None


def ledger(conn: sqlite3.Connection) -> dict[str, Any]:
    accounts = _rows(conn, """SELECT account, sum(debit) AS debit, sum(credit) AS credit,
                                     sum(debit) - sum(credit) AS balance
                              FROM journal_lines GROUP BY account ORDER BY account""")
    return {
        "accounts": accounts,
        "debit": sum(a["debit"] for a in accounts),
        "credit": sum(a["credit"] for a in accounts),
        "batches": _rows(conn, """SELECT seq, batch_id, period, created_at, debit, credit, state,
                                         attempts, last_error, last_attempt_at, acked_at
                                  FROM batches ORDER BY seq DESC LIMIT 25"""),
        "quarantined": _rows(conn, """SELECT seq, batch_id, period, created_at, debit, attempts,
                                             last_error, last_attempt_at
                                      FROM batches WHERE state = 'quarantined' ORDER BY seq"""),
        "outbox": outbox(conn),
    }
