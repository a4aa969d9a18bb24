"""Three-way match, payments and customer payments: hand-computed scenarios, and the
invariants of what is owed on random streams (GRNI per PO line, AP per invoice, AR per
order, every entry balanced)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costing.engine import Engine
from costing.master import PurchaseOrderLine
from gateway.events import (CustomerPayment, Payment, Receipt, Reversal, Shipment,
                            SupplierInvoice)
from tests.costing.reference_engine import ReferenceEngine
from tests.costing.strategies import event_streams, masters
from tests.costing.toy_plant import toy_master

T = "2026-11-20T08:00:00Z"


def _plant() -> Engine:
    master = dataclasses.replace(toy_master(),
                                 purchase_orders=(PurchaseOrderLine("PO-1", "R-STD", 2.0),))
    return Engine(master)


def _rcv(eid, qty, price):
    return Receipt(id=eid, ts=T, item="R-STD", qty=qty, location="STORES", unit_price=price,
                   po="PO-1")


def _inv(eid, qty, price, approved_by=None):
    return SupplierInvoice(id=eid, ts=T, invoice="INV-1", po="PO-1", item="R-STD", qty=qty,
                           unit_price=price, approved_by=approved_by)


def _table(outcome):
    return [(line.account, line.debit, line.credit) for line in outcome.lines]


def test_partial_invoices_take_receipts_oldest_first_each_at_its_own_price():
    eng = _plant()
    eng.apply([_rcv("r1", 10.0, 2.00), _rcv("r2", 10.0, 2.02)])
    first, second = eng.apply([_inv("i1", 15.0, 2.03), _inv("i2", 5.0, 2.00)])
    # 10 x 2.00 + 5 x 2.02 = 30.10 received; 15 x 2.03 = 30.45 billed (1.5 %, within 2 %)
    assert _table(first) == [("2100", 3010, 0), ("2000", 0, 3045), ("5215", 35, 0)]
    # the rest of r2: 5 x 2.02 = 10.10 received, 10.00 billed: the invoice is cheaper
    assert _table(second) == [("2100", 1010, 0), ("2000", 0, 1000), ("5215", 0, 10)]
    assert eng.money.grni_of(0) == 0 and eng.balances()["2100"] == 0
    assert eng.balances()["2000"] == -4045


def test_a_price_outside_the_tolerance_is_held_then_posts_once_approved():
    eng = _plant()
    eng.apply([_rcv("r1", 10.0, 2.00)])
    (held,) = eng.apply([_inv("i1", 10.0, 2.10)])
    assert not held.ok and held.hold == "invoice_mismatch" and held.field == "unit_price"
    assert held.reason == "unit_price: price 2.10 is 5.00 % over PO-1's 2.00 (tolerance 2 %)"
    assert eng.balances().get("2000", 0) == 0
    (done,) = eng.apply([_inv("i1", 10.0, 2.10, approved_by="carla")])
    assert _table(done) == [("2100", 2000, 0), ("2000", 0, 2100), ("5215", 100, 0)]


def test_a_held_price_finer_than_a_cent_is_shown_to_its_own_last_digit():
    master = dataclasses.replace(toy_master(),
                                 purchase_orders=(PurchaseOrderLine("PO-1", "R-STD", 0.048),))
    eng = Engine(master)
    eng.apply([_rcv("r1", 100.0, 0.048)])
    (held,) = eng.apply([_inv("i1", 100.0, 0.050)])
    assert held.reason == "unit_price: price 0.05 is 4.17 % over PO-1's 0.048 (tolerance 2 %)"


def test_a_quantity_beyond_what_was_received_is_held_until_a_receipt_covers_it():
    eng = _plant()
    eng.apply([_rcv("r1", 10.0, 2.00)])
    (held,) = eng.apply([_inv("i1", 12.0, 2.00, approved_by="carla")])  # never approvable
    assert held.hold == "invoice_mismatch"
    assert held.reason == "qty: qty 12 > 10 received and not invoiced on PO-1 R-STD"
    eng.apply([_rcv("r2", 5.0, 2.00)])
    (done,) = eng.apply([_inv("i1", 12.0, 2.00)])
    assert _table(done) == [("2100", 2400, 0), ("2000", 0, 2400)]
    assert eng.money.uninvoiced_qty(0) == 3.0 and eng.money.grni_of(0) == 600


def test_payments_up_to_the_open_balance_and_reversals_reopen_what_they_settled():
    eng = _plant()
    eng.apply([_rcv("r1", 10.0, 2.00), _inv("i1", 10.0, 2.03)])
    over, paid = eng.apply([Payment(id="p1", ts=T, invoice="INV-1", amount=20.31),
                            Payment(id="p2", ts=T, invoice="INV-1", amount=20.30)])
    assert over.reason == "amount: 20.31 is more than invoice INV-1's open balance 20.30"
    assert _table(paid) == [("2000", 2030, 0), ("1000", 0, 2030)]
    (unknown,) = eng.apply([Payment(id="p3", ts=T, invoice="INV-9", amount=1.0)])
    assert unknown.reason == "invoice: unknown invoice 'INV-9'"
    # the invoice cannot go while it is paid, nor the receipt while it is invoiced
    early, receipt = eng.apply([Reversal(id="x1", ts=T, reverses="i1"),
                                Reversal(id="x2", ts=T, reverses="r1")])
    assert early.reason == ("reverses: event i1: invoice INV-1 is paid 20.30; reverse the"
                            " payment first")
    assert receipt.reason == ("reverses: event r1: it was invoiced since; reverse the"
                              " invoice first")
    out = eng.apply([Reversal(id="x3", ts=T, reverses="p2"),
                     Reversal(id="x4", ts=T, reverses="i1")])
    assert all(o.ok for o in out)
    assert _table(out[1]) == [("2100", 0, 2000), ("2000", 2030, 0), ("5215", 0, 30)]
    assert eng.money.uninvoiced_qty(0) == 10.0 and eng.money.grni_of(0) == 2000
    assert {a: b for a, b in eng.balances().items() if b} == {"1310": 2000, "2100": -2000}


def test_customer_payments_settle_the_orders_ar():
    eng = _plant()
    eng.apply([_rcv("r1", 10.0, 2.00)])
    ship, over, paid = eng.apply([
        Shipment(id="s1", ts=T, item="R-STD", qty=4.0, location="STORES", unit_price=5.0,
                 order="SO-1"),
        CustomerPayment(id="c1", ts=T, order="SO-1", amount=20.01),
        CustomerPayment(id="c2", ts=T, order="SO-1", amount=12.5)])
    assert ship.ok and over.reason == "amount: 20.01 is more than order SO-1's open AR 20.00"
    assert _table(paid) == [("1000", 1250, 0), ("1200", 0, 1250)]
    so = eng.money.order_index["SO-1"]
    assert (eng.money.so_revenue[so], eng.money.so_paid[so], eng.money.so_cogs[so]) == (
        2000, 1250, 800)


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def _streams(draw):
    master = draw(masters())
    return master, draw(event_streams(master, max_size=60))


def _owed_from_the_journal(outcomes):
    """GRNI per PO line, AP per invoice, AR per order, from the posted lines' memos."""
    grni, ap, ar = defaultdict(int), defaultdict(int), defaultdict(int)
    for out in outcomes:
        for line in out.lines:
            memo = line.memo.split(": ", 1)[1] if line.memo.startswith("reversal of ") \
                else line.memo
            signed = line.credit - line.debit
            words = memo.split(" ")
            if line.account == "2100" and words[0] in ("receipt", "invoice"):
                grni[(words[-1], line.item)] += signed
            elif line.account == "2000":
                ap[words[1]] += signed
            elif line.account == "1200" and words[0] == "customer":
                ar[words[-1]] -= signed
            elif line.account == "1200" and len(words) == 2:
                ar[words[1]] -= signed
    return grni, ap, ar


@SETTINGS
@given(_streams())
def test_what_is_owed_equals_the_journal_and_every_entry_balances(case):
    master, events = case
    eng = Engine(master)
    outcomes = [o for o in eng.apply(events) if o.ok]
    for out in outcomes:
        assert sum(x.debit for x in out.lines) == sum(x.credit for x in out.lines)
    grni, ap, ar = _owed_from_the_journal(outcomes)
    money = eng.money
    for (po, sku), k in money.line_index.items():
        # received - invoiced, at the receipts' own prices
        assert money.grni_of(k) == grni.get((po, sku), 0)
        assert money.uninvoiced_qty(k) >= -1e-9
    for k, number in enumerate(money.invoices):
        open_ = int(money.billed[k]) - int(money.paid[k])
        assert open_ == ap.get(number, 0) and open_ >= 0
    for k, number in enumerate(money.orders):
        open_ = int(money.so_revenue[k]) - int(money.so_paid[k])
        assert open_ == ar.get(number, 0) and open_ >= 0


@SETTINGS
@given(_streams())
def test_the_money_loop_equals_its_plain_python_reference(case):
    master, events = case
    slow, fast = ReferenceEngine(master), Engine(master)
    assert fast.apply(events) == slow.apply(events)
    assert fast.money.state() == slow.money.state()
    assert fast.snapshot() == slow.snapshot()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2), max_size=12), max_size=4))
def test_layers_made_together_chain_as_those_made_one_by_one(batches):
    master = dataclasses.replace(toy_master(), purchase_orders=tuple(
        PurchaseOrderLine(f"PO-{k}", "R-STD", 2.0) for k in range(3)))
    one, many = Engine(master).money, Engine(master).money
    for lines in batches:
        prices = [1.0 + 0.01 * k for k in range(len(lines))]
        for line, price in zip(lines, prices):
            one.layer(line, price)
        many.layers(lines, prices)
    for name in ("rl_line", "rl_price", "rl_next", "rl_qty", "rl_value"):
        assert getattr(one, name).a.tolist() == getattr(many, name).a.tolist(), name
    assert one.line_head.tolist() == many.line_head.tolist()
    assert one.line_tail.tolist() == many.line_tail.tolist()
