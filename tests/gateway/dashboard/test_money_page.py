"""The controller's /money page lists what is open on AP and AR, from the journal's
lines on those accounts (figures written out by hand below)."""

from __future__ import annotations

import json
import re
import sqlite3

from tests.gateway.dashboard.test_roles import CONTROLLER_PASSWORD

# seq, id, type, payload; entry lines: account, debit, credit
BOOKS = [
    (10, "inv-1", "supplier_invoice", {"invoice": "INV-9", "supplier": "ACME", "po": "PO-1"},
     [("2100", 100_000, 0), ("2000", 0, 101_500), ("5215", 1_500, 0)]),
    (11, "pay-1", "payment", {"invoice": "INV-9", "amount": 400.0},
     [("2000", 40_000, 0), ("1000", 0, 40_000)]),
    (12, "inv-2", "supplier_invoice", {"invoice": "INV-8", "supplier": "ACME", "po": "PO-1"},
     [("2100", 5_000, 0), ("2000", 0, 5_000)]),
    (13, "pay-2", "payment", {"invoice": "INV-8", "amount": 50.0},
     [("2000", 5_000, 0), ("1000", 0, 5_000)]),
    (14, "ship-1", "shipment", {"order": "SO-7"}, [("1200", 74_700, 0), ("4000", 0, 74_700)]),
    (15, "cpay-1", "customer_payment", {"order": "SO-7", "amount": 500.0},
     [("1000", 50_000, 0), ("1200", 0, 50_000)]),
]
HELD = {"reason": "price", "draft": {"invoice": "INV-10", "supplier": "FIX", "po": "PO-2",
                                     "item": "RM-SCREW", "qty": 5000, "unit_price": 0.05}}


def _add_books(path, books=BOOKS, ts="2026-11-22T04:00:00Z") -> None:
    """Events with their entries; an entry line is (account, debit, credit[, work order])."""
    conn = sqlite3.connect(path)
    with conn:
        for seq, eid, typ, payload, lines in books:
            conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,NULL)",
                         (seq, eid, typ, ts, "erp",
                          json.dumps({"id": eid, "type": typ, **payload}), ts))
            conn.execute("INSERT INTO entries VALUES (?,?,?,?,?)", (seq, seq, eid, ts, "2026-11"))
            for acct, dr, cr, *wo in lines:
                conn.execute("INSERT INTO journal_lines(entry, event_id, period, account, debit,"
                             " credit, work_order) VALUES (?,?,?,?,?,?,?)",
                             (seq, eid, "2026-11", acct, dr, cr, *(wo or [None])))
        if books is BOOKS:
            conn.execute("INSERT INTO exceptions(id, created_at, kind, source, event_id, field,"
                         " reason, raw) VALUES (9, '2026-11-22T04:00:00Z', 'invoice_mismatch',"
                         " 'erp', 'inv-3', 'unit_price', 'price', ?)", (json.dumps(HELD),))
    conn.close()


def _rows(html: str, section: str) -> list[list[str]]:
    body = re.search(rf'id="{section}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [[" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


async def test_money_shows_open_invoices_and_open_orders_with_billed_paid_open(dashboard, db_path):
    _add_books(db_path)
    d = await dashboard()
    d.state.users.add("cleo", "controller", CONTROLLER_PASSWORD)
    assert (await d.login("cleo", CONTROLLER_PASSWORD)).status == 303
    html = await (await d.client.get("/money")).text()
    # INV-9: billed 1,015.00 (1,000.00 received + 15.00 dearer), paid 400.00, open 615.00;
    # INV-8 is paid in full and gone; INV-10 is held: 5000 x 0.05 = 250.00, none on AP
    assert _rows(html, "payables") == [
        ["INV-10", "FIX", "0.00", "0.00", "0.00", "250.00 (1)"],
        ["INV-9", "ACME", "1,015.00", "400.00", "615.00", "—"]]
    # SO-7: 747.00 shipped, 500.00 paid, 247.00 open
    assert _rows(html, "receivables") == [["SO-7", "747.00", "500.00", "247.00"]]


async def test_money_says_when_nothing_is_open(dashboard):
    d = await dashboard()
    d.state.users.add("cleo", "controller", CONTROLLER_PASSWORD)
    await d.login("cleo", CONTROLLER_PASSWORD)
    html = await (await d.client.get("/money")).text()
    assert "No open supplier invoices." in html and "Nothing open on AR." in html


# Three sales orders (revenue, cost of sales; SO-3's work order WO-3 took 30.00 of usage
# variance): SO-1 1,000.00 - 600.00 = 40.0 %; SO-2 500.00 - 550.00 = -10.0 %;
# SO-3 200.00 - 150.00 - 30.00 = 20.00 of 200.00 = 10.0 %. Worst first: SO-2, SO-3, SO-1.
SALES = [
    (20, "w-3", "wo_release", {"work_order": "WO-3", "item": "FG-1", "qty": 2, "order": "SO-3"},
     [("5220", 3_000, 0, "WO-3"), ("1400", 0, 3_000, "WO-3")]),
    (21, "sh-1", "shipment", {"order": "SO-1", "qty": 10},
     [("1200", 100_000, 0, None), ("4000", 0, 100_000, None), ("5000", 60_000, 0, None),
      ("1330", 0, 60_000, None)]),
    (22, "sh-2", "shipment", {"order": "SO-2", "qty": 5},
     [("1200", 50_000, 0, None), ("4000", 0, 50_000, None), ("5000", 55_000, 0, None),
      ("1330", 0, 55_000, None)]),
    (23, "sh-3", "shipment", {"order": "SO-3", "qty": 2},
     [("1200", 20_000, 0, None), ("4000", 0, 20_000, None), ("5000", 15_000, 0, None),
      ("1330", 0, 15_000, None)]),
]


ACCOUNTS = {"revenue": "4000", "cogs": "5000", "scrap": "5400",
            "material_usage_variance": "5220", "material_price_variance": "5230",
            "labor_efficiency_variance": "5240", "overhead_efficiency_variance": "5250"}


async def test_money_charts_margin_by_sales_order_worst_first(dashboard, db_path):
    _add_books(db_path, SALES, ts="2026-11-22T05:00:00Z")
    d = await dashboard(accounts=ACCOUNTS)
    d.state.users.add("cleo", "controller", CONTROLLER_PASSWORD)
    await d.login("cleo", CONTROLLER_PASSWORD)
    html = await (await d.client.get("/money")).text()
    chart = re.search(r'id="margin-chart">(.*?)</svg>', html, re.S).group(1)
    bars = re.findall(r'<rect class="bar bar-(\w+)"[^>]*><title>([^<]*)</title>', chart)
    assert bars == [("bad", "SO-2: -10.0 %"), ("good", "SO-3: 10.0 %"), ("good", "SO-1: 40.0 %")]
    rows = _rows(html, "margin-orders")
    assert [(r[0], r[4], r[5], r[7], r[9], r[10]) for r in rows] == [
        ("SO-1", "400.00", "40.0", "0.00", "400.00", "40.0"),
        ("SO-2", "\u221250.00", "-10.0", "0.00", "\u221250.00", "-10.0"),
        ("SO-3", "50.00", "25.0", "+30.00", "20.00", "10.0")]
