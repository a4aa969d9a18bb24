"""`gateway ap`, `ar` and `margin` on a real journal through the real command line: the
small plant's day (tests/gateway/test_cli_scenario.py) with its work order WO-F made for
SO-9, plus invoices, payments and a reversed shipment, every figure by hand."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.gateway.plant import ev, gateway, write_events, write_plant
from tests.gateway.test_cli_scenario import DAY

GOOD = [e for e in DAY[:18] if e["id"] != "t1"]  # the day's applied events, F kept in FG
MONEY = [
    ev("r6", "receipt", item="A", qty=50, location="L1", unit_price=2.12, po="PO-1"),
    # 120 at 2.13 (1.43 % over PO-1's 2.10: matches): GRNI 100 x 2.10 + 20 x 2.12 = 252.40,
    # AP 255.60, invoice price variance 3.20
    ev("inv1", "supplier_invoice", invoice="INV-1", po="PO-1", item="A", qty=120,
       unit_price=2.13, supplier="Acme"),
    # 10 at 2.50 is 19 % over: held, 25.00
    ev("inv2", "supplier_invoice", invoice="INV-2", po="PO-1", item="A", qty=10,
       unit_price=2.50, supplier="Acme"),
    ev("pay1", "payment", invoice="INV-1", amount=100.00),
    ev("cp1", "customer_payment", order="SO-9", amount=120.00),
    ev("sh2", "shipment", item="F", qty=1, location="FG", unit_price=90.00, order="SO-10"),
    ev("rv2", "reversal", reverses="sh2"),
]


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    where = tmp_path_factory.mktemp("money")
    cfg = write_plant(where)
    day = [{**e, "order": "SO-9"} if e["id"] == "w2" else e for e in GOOD] + MONEY
    proc = gateway("ingest", "-c", str(cfg), str(write_events(where / "day.jsonl", day)))
    assert "23 applied, 0 duplicate, 1 held for review, 0 rejected" in proc.stderr, proc.stderr
    assert "19.05 % over PO-1" in proc.stderr
    return str(cfg)


def _json(cfg, *args):
    return json.loads(gateway(*args, "-c", cfg, "--format", "json", check=True).stdout)


def test_ap_shows_billed_paid_open_and_held_per_invoice_and_grni_by_po(plant):
    ap = _json(plant, "ap")
    assert ap["invoices"] == [
        {"invoice": "INV-1", "supplier": "Acme", "billed": "255.60", "paid": "100.00",
         "open": "155.60", "held": "0.00", "held_lines": 0},
        {"invoice": "INV-2", "supplier": "Acme", "billed": "0.00", "paid": "0.00",
         "open": "0.00", "held": "25.00", "held_lines": 1}]
    assert (ap["billed"], ap["paid"], ap["open"], ap["held"]) == \
        ("255.60", "100.00", "155.60", "25.00")
    # PO-1 A: 210.00 + 106.00 received, 252.40 invoiced; PO-2 B 12.00; C's receipts had no
    # PO (8.00 + 12.00); r3 (B, no PO) was reversed
    assert ap["grni"] == [{"po": None, "item": "C", "grni": "20.00"},
                          {"po": "PO-1", "item": "A", "grni": "63.60"},
                          {"po": "PO-2", "item": "B", "grni": "12.00"}]
    rows = list(csv.DictReader(io.StringIO(gateway("ap", "-c", plant, "--format", "csv",
                                                   check=True).stdout)))
    assert [(r["invoice"], r["open"], r["held"]) for r in rows] == \
        [("INV-1", "155.60", "0.00"), ("INV-2", "0.00", "25.00")]
    table = gateway("ap", "-c", plant, check=True).stdout
    assert "155.60" in table and "25.00 (1)" in table and "63.60" in table


def test_ar_shows_what_is_open_per_order_and_a_reversed_shipment_leaves_nothing(plant):
    assert _json(plant, "ar") == {
        "orders": [{"order": "SO-9", "billed": "300.00", "paid": "120.00", "open": "180.00"}],
        "billed": "300.00", "paid": "120.00", "open": "180.00"}
    every = json.loads(gateway("ar", "-c", plant, "--format", "json", "--all",
                               check=True).stdout)["orders"]
    assert {"order": "SO-10", "billed": "0.00", "paid": "0.00", "open": "0.00"} in every


def test_margin_per_order_after_its_work_orders_variances_and_scrap(plant):
    so10, so9 = _json(plant, "margin")  # by order number
    # 3 x 100.00 revenue, 3 x 61.50 cost of sales; WO-F's variances 1.00 + 0.25 + 25.00 +
    # 15.00 and scrap 20.50: 115.50 - 61.75 = 53.75
    assert so9 == {"order": "SO-9", "shipped_qty": 3, "revenue": "300.00", "cogs": "184.50",
                   "margin": "115.50", "margin_pct": 38.5, "work_orders": ["WO-F"],
                   "variances": {"material_usage": "1.00", "material_price": "0.25",
                                 "labor_efficiency": "25.00", "overhead_efficiency": "15.00"},
                   "scrap": "20.50", "actual_margin": "53.75", "actual_margin_pct": 17.9}
    assert (so10["order"], so10["shipped_qty"], so10["revenue"], so10["margin_pct"]) == \
        ("SO-10", 0, "0.00", None)
    only = _json(plant, "margin", "--order", "SO-9")
    assert only == [so9]
    rows = list(csv.DictReader(io.StringIO(gateway("margin", "-c", plant, "--format", "csv",
                                                   "--order", "SO-9", check=True).stdout)))
    assert (rows[0]["labor_efficiency"], rows[0]["actual_margin"]) == ("25.00", "53.75")
    table = gateway("margin", "-c", plant, "--order", "SO-9", check=True).stdout
    assert "38.5 %" in table and "17.9 %" in table and "WO-F" in table
