"""The controller's page: the trial balance in one line, variances by kind over the
closed orders (and the orders that carry most of them), the margin per item from
revenue and cost of sales in the journal, and what is open on AP (supplier invoices) and
AR (sales orders), from gateway.subledgers."""

from __future__ import annotations

import sqlite3

from aiohttp import web

from gateway import subledgers
from gateway.dashboard import queries
from gateway.dashboard.charts import signed_bars
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render
from gateway.dashboard.views.order import VARIANCE_LABELS
from gateway.dashboard.views.orders import VARIANCES

routes = web.RouteTableDef()

TOP_ORDERS = 10


def read(conn: sqlite3.Connection, revenue: str, cogs: str, ap: str, ar: str,
         decimals: int, accounts: dict[str, str] | None = None) -> dict:
    cols = ", ".join(f"coalesce(sum({k}), 0) AS {k}" for k in VARIANCES)
    totals = dict(conn.execute(
        f"SELECT count(*) AS orders, {cols} FROM work_orders WHERE status = 'closed'").fetchone())
    total = " + ".join(VARIANCES)
    orders = [dict(r) for r in conn.execute(
        f"""SELECT work_order, item, {", ".join(VARIANCES)}, {total} AS total
            FROM work_orders WHERE status = 'closed'
            ORDER BY abs({total}) DESC, work_order LIMIT ?""", (TOP_ORDERS,))]
    margin = [dict(r) for r in conn.execute(
        """SELECT item, sum(CASE WHEN account = ? THEN credit - debit ELSE 0 END) AS revenue,
                  sum(CASE WHEN account = ? THEN debit - credit ELSE 0 END) AS cogs
           FROM journal_lines WHERE account IN (?, ?) GROUP BY item ORDER BY item""",
        (revenue, cogs, revenue, cogs))]
    for m in margin:
        m["margin"] = m["revenue"] - m["cogs"]
        m["pct"] = 100.0 * m["margin"] / m["revenue"] if m["revenue"] else None
    ledger = queries.ledger(conn)
    payables = [r for r in subledgers.payables(conn, {"ap": ap}, decimals)
                if r["open"] or r["held_lines"]]
    receivables = [r for r in subledgers.receivables(conn, {"ar": ar}) if r["open"]]
    # an account the settings do not name matches no line: the margin before it
    codes = {**{r: f"-{r}" for r in (*subledgers.VARIANCE_ROLES, "scrap")},
             "revenue": revenue, "cogs": cogs, **(accounts or {})}
    by_order = subledgers.margins(conn, codes)
    return {"totals": totals, "orders": orders, "margin": margin, "by_order": by_order,
            "debit": ledger["debit"], "credit": ledger["credit"],
            "payables": payables, "receivables": receivables}


@routes.get("/money", name="money")
async def money(request: web.Request) -> web.Response:
    state = request.app[STATE]
    s = state.settings
    data = await state.db.run(lambda c: read(c, s.revenue_account, s.cogs_account, s.ap_account,
                                              s.ar_account, s.currency_decimals, s.accounts))
    revenue = sum(m["revenue"] for m in data["margin"])
    cogs = sum(m["cogs"] for m in data["margin"])
    return render(request, "money.html", page="money", labels=VARIANCE_LABELS,
                  kinds=VARIANCES, revenue=revenue, cogs=cogs,
                  margin_chart=margin_chart(data["by_order"]), **data)


def margin_chart(by_order: list[dict]):
    """Actual margin % per sales order (after its work orders' variances and scrap), worst
    first; an order with no revenue has no percent and no bar."""
    bars = sorted(((r["order"] or "(no order)", r["actual_margin_pct"]) for r in by_order
                   if r["actual_margin_pct"] is not None), key=lambda b: (b[1], b[0]))
    return signed_bars(bars, lambda v: f"{v:.1f} %", "margin % by sales order, worst first",
                       bad=lambda v: v < 0)
