"""Who owes what and what each sales order earned, read from the journal alone.

Every figure is a sum of journal lines on an account role (`ap`, `ar`, `revenue`, `cogs`,
the variances, `scrap`), attributed to an invoice or an order through the event that
posted it — a reversal through the event it reverses. No engine state is read, so these
work on any journal the gateway wrote. Money is in minor units; formatting happens at
the edge (gateway.commands.subledgers).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from itertools import groupby

from costing.money import scale_of, to_minor

VARIANCE_ROLES = ("material_usage_variance", "material_price_variance",
                  "labor_efficiency_variance", "overhead_efficiency_variance")

# Each journaled event with the type and payload that say what it belongs to: its own,
# or for a reversal the reversed event's, with sign -1.
_EVENTS = """WITH ev AS (
  SELECT e.id, COALESCE(o.type, e.type) AS type, COALESCE(o.payload, e.payload) AS payload,
         CASE WHEN e.type = 'reversal' THEN -1 ELSE 1 END AS sign
  FROM events e LEFT JOIN events o
    ON e.type = 'reversal' AND o.id = json_extract(e.payload, '$.reverses'))
"""


def payables(conn: sqlite3.Connection, codes: dict[str, str], decimals: int) -> list[dict]:
    """Per supplier invoice: billed (credited to AP by its matched lines), paid, open, and
    the value of its lines still held as `invoice_mismatch`, by invoice number."""
    rows: dict[str, dict] = {}

    def row(number: str) -> dict:
        return rows.setdefault(number, {"invoice": number, "supplier": None, "billed": 0,
                                        "paid": 0, "open": 0, "held": 0, "held_lines": 0})

    cur = conn.execute(
        _EVENTS + "SELECT json_extract(ev.payload, '$.invoice'),"
        " MAX(json_extract(ev.payload, '$.supplier')),"
        " SUM(CASE WHEN ev.type = 'supplier_invoice' THEN l.credit - l.debit ELSE 0 END),"
        " SUM(CASE WHEN ev.type = 'payment' THEN l.debit - l.credit ELSE 0 END)"
        " FROM journal_lines l JOIN ev ON ev.id = l.event_id WHERE l.account = ?"
        " GROUP BY 1", (codes["ap"],))
    for number, supplier, billed, paid in cur:
        row(number).update(supplier=supplier, billed=billed, paid=paid)
    scale = scale_of(decimals)
    for (raw,) in conn.execute("SELECT raw FROM exceptions WHERE kind = 'invoice_mismatch'"
                               " AND status = 'open'"):
        draft = json.loads(raw)["draft"]
        r = row(draft["invoice"])
        r["supplier"] = r["supplier"] or draft.get("supplier")
        r["held"] += to_minor(float(draft["qty"]) * float(draft["unit_price"]), scale)
        r["held_lines"] += 1
    for r in rows.values():
        r["open"] = r["billed"] - r["paid"]
    return sorted(rows.values(), key=lambda r: r["invoice"])


def grni_by_po(conn: sqlite3.Connection, codes: dict[str, str]) -> list[dict]:
    """GRNI still open per PO and item: received at receipt prices less what invoices took."""
    cur = conn.execute(
        _EVENTS + "SELECT json_extract(ev.payload, '$.po'), l.item,"
        " SUM(l.credit - l.debit) FROM journal_lines l JOIN ev ON ev.id = l.event_id"
        " WHERE l.account = ? GROUP BY 1, 2 HAVING SUM(l.credit - l.debit) != 0"
        " ORDER BY 1, 2", (codes["grni"],))
    return [{"po": po, "item": item, "grni": v} for po, item, v in cur]


def _by_order(conn, sql: str, args) -> dict[str, tuple]:
    return {order: rest for order, *rest in conn.execute(_EVENTS + sql, args)}


def receivables(conn: sqlite3.Connection, codes: dict[str, str]) -> list[dict]:
    """Per sales order (shipments without one under None): what shipments put on AR,
    what customer payments took off, and what is open."""
    cur = conn.execute(
        _EVENTS + "SELECT json_extract(ev.payload, '$.order'),"
        " SUM(CASE WHEN ev.type != 'customer_payment' THEN l.debit - l.credit ELSE 0 END),"
        " SUM(CASE WHEN ev.type = 'customer_payment' THEN l.credit - l.debit ELSE 0 END)"
        " FROM journal_lines l JOIN ev ON ev.id = l.event_id WHERE l.account = ?"
        " GROUP BY 1 ORDER BY 1 NULLS LAST", (codes["ar"],))
    return [{"order": order, "billed": billed, "paid": paid, "open": billed - paid}
            for order, billed, paid in cur]


def margins(conn: sqlite3.Connection, codes: dict[str, str]) -> list[dict]:
    """Per sales order: shipped qty, revenue, cost of sales, margin; and for the work
    orders released for it (`wo_release.order`), their variances and scrap, and the
    margin after them. A reversed shipment leaves its order at zero."""
    shipped = _by_order(conn, "SELECT json_extract(payload, '$.order'),"
                        " SUM(sign * json_extract(payload, '$.qty')) FROM ev"
                        " WHERE type = 'shipment' GROUP BY 1", ())
    money: dict[str, tuple[int, int]] = {}
    cur = conn.execute(
        _EVENTS + "SELECT json_extract(ev.payload, '$.order'), l.account, l.debit, l.credit"
        " FROM journal_lines l JOIN ev ON ev.id = l.event_id WHERE ev.type = 'shipment'"
        " AND l.account IN (?, ?) ORDER BY 1", (codes["revenue"], codes["cogs"]))
    for order, lines in groupby(cur, key=lambda r: r[0]):
        money[order] = sale_money([r[1:] for r in lines], codes["revenue"], codes["cogs"])
    orders: dict[str, list[str]] = {}
    for order, wo in conn.execute(
            "SELECT json_extract(payload, '$.order'), json_extract(payload, '$.work_order')"
            " FROM events WHERE type = 'wo_release' AND json_extract(payload, '$.order')"
            " IS NOT NULL ORDER BY seq"):
        orders.setdefault(order, []).append(wo)
    roles = {codes[r]: r.removesuffix("_variance") for r in VARIANCE_ROLES}
    out = []
    for order in sorted(set(shipped) | set(money) | set(orders), key=lambda o: (o is None, o)):
        qty, = shipped.get(order, (0.0,))
        revenue, cogs = money.get(order, (0, 0))
        wos = orders.get(order, []) if order is not None else []
        variances = dict.fromkeys(roles.values(), 0)
        scrap = 0
        if wos:
            marks = ",".join("?" * len(wos))
            for account, v in conn.execute(
                    "SELECT account, SUM(debit - credit) FROM journal_lines"
                    f" WHERE work_order IN ({marks}) AND account IN ({','.join('?' * 5)})"
                    " GROUP BY account", (*wos, *roles, codes["scrap"])):
                if account == codes["scrap"]:
                    scrap += v
                else:
                    variances[roles[account]] += v
        margin = revenue - cogs
        pct = margin_pct(revenue, cogs)
        actual = margin - sum(variances.values()) - scrap
        out.append({"order": order, "shipped_qty": qty or 0.0, "revenue": revenue,
                    "cogs": cogs, "margin": margin, "margin_pct": None if pct is None else round(pct, 1),
                    "work_orders": wos, "variances": variances, "scrap": scrap,
                    "actual_margin": actual, "actual_margin_pct": percent(actual, revenue)})
    return out


def sale_money(lines: Iterable[tuple], revenue_account: str, cogs_account: str
               ) -> tuple[int, int]:
    """Revenue and cost of sales of a shipment's journal lines, (account, debit, credit,
    ...) each: revenue is what the lines credit less debit on the revenue account, cost of
    sales what they debit less credit on the cost of sales account. A reversal's lines
    give the same figures negated. The one definition `gateway margin` and the margin
    alert (gateway.alerts) both use."""
    revenue = cogs = 0
    for account, debit, credit, *_ in lines:
        if account == revenue_account:
            revenue += credit - debit
        elif account == cogs_account:
            cogs += debit - credit
    return revenue, cogs


def margin_pct(revenue: int, cogs: int) -> float | None:
    """The shipped margin %: (revenue - cost of sales) x 100 / revenue, unrounded; None
    when there is no revenue to judge against."""
    return (revenue - cogs) * 100.0 / revenue if revenue > 0 else None


def percent(part: int, whole: int) -> float | None:
    """`part` of `whole` in percent, one decimal; None when there is no whole."""
    return round(part * 100.0 / whole, 1) if whole else None
