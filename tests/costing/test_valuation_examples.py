"""Worked ledgers per costing method: receipts, shipments, counts, transfers.

Toy plant (toy_plant.py): R-STD standard 2.00, R-AVG average (std 1.50), R-FIFO FIFO
(std 0.10). Accounts: 1310 raw inventory, 2100 GRNI, 5100 PPV, 5000 COGS, 4000 revenue,
1200 AR, 5600 inventory adjustment.
"""

from __future__ import annotations

from costing.engine import Engine
from gateway.events import Count, Receipt, Shipment, Transfer
from tests.costing.journal_table import ev, journal, table
from tests.costing.toy_plant import toy_master


def test_standard_receipt_books_at_std_and_sends_the_difference_to_ppv():
    engine = Engine(toy_master())
    dear, cheap = engine.apply([
        ev(Receipt, "r1", item="R-STD", qty=10, location="STORES", unit_price=2.10, po="PO-1"),
        ev(Receipt, "r2", item="R-STD", qty=3, location="STORES", unit_price=1.95),
    ])
    assert journal(dear) == table("""
        account  debit  credit  item
        1310     20.00  -       R-STD
        2100     -      21.00   R-STD
        5100     1.00   -       R-STD
    """)
    assert journal(cheap) == table("""
        1310     6.00   -       R-STD
        2100     -      5.85    R-STD
        5100     -      0.15    R-STD
    """)
    assert dear.lines[0].memo == "receipt PO-1"
    assert [(m.item, m.location, m.status, m.lot, m.qty) for m in dear.moves] == [
        ("R-STD", "STORES", "available", None, 10.0)]


def test_average_issues_at_the_moving_average_and_empties_to_zero_value():
    engine = Engine(toy_master())
    out = engine.apply([
        ev(Receipt, "r1", item="R-AVG", qty=10, location="FG", unit_price=1.60),
        ev(Receipt, "r2", item="R-AVG", qty=10, location="FG", unit_price=1.70),
        # average 1.65: 5 cost 8.25, the last 15 take all that is left (24.75)
        ev(Shipment, "s1", item="R-AVG", qty=5, location="FG", unit_price=3.00),
        ev(Shipment, "s2", item="R-AVG", qty=15, location="FG", unit_price=3.00),
        # beyond stock: the last known average, and a negative-stock alert
        ev(Shipment, "s3", item="R-AVG", qty=2, location="FG", unit_price=3.00),
    ])
    assert journal(out[1]) == table("""
        1310     17.00  -       R-AVG
        2100     -      17.00   R-AVG
    """)
    assert journal(out[2]) == table("""
        5000     8.25   -       R-AVG
        1310     -      8.25    R-AVG
        1200     15.00  -       R-AVG
        4000     -      15.00   R-AVG
    """)
    assert journal(out[3])[:2] == table("""
        5000     24.75  -       R-AVG
        1310     -      24.75   R-AVG
    """)
    assert journal(out[4])[:2] == table("""
        5000     3.30   -       R-AVG
        1310     -      3.30    R-AVG
    """)
    assert [a.kind for a in out[4].alerts] == ["negative stock", "negative stock"]
    cost = {c.item: c for c in engine.item_costs()}["R-AVG"]
    assert (cost.qty, cost.value, cost.unit_cost) == (-2.0, -330, 1.65)


def test_fifo_takes_oldest_layers_first_and_rounds_half_to_even_per_take():
    engine = Engine(toy_master())
    out = engine.apply([
        ev(Receipt, "r1", item="R-FIFO", qty=100, location="FG", unit_price=0.09),
        ev(Receipt, "r2", item="R-FIFO", qty=100, location="FG", unit_price=0.12),
        ev(Shipment, "s1", item="R-FIFO", qty=150, location="FG", unit_price=0.50),
        ev(Shipment, "s2", item="R-FIFO", qty=60, location="FG", unit_price=0.50),
    ])
    # 100 × 0.09 + 50 × 0.12
    assert journal(out[2])[:2] == table("""
        5000     15.00  -       R-FIFO
        1310     -      15.00   R-FIFO
    """)
    # the last 50 (6.00) and 10 beyond the layers at the last layer's cost 0.12
    assert journal(out[3])[:2] == table("""
        5000     7.20   -       R-FIFO
        1310     -      7.20    R-FIFO
    """)
    assert out[3].alerts


def test_fifo_partial_layer_yields_round_q_value_over_qty_and_keeps_the_rest():
    engine = Engine(toy_master())
    engine.apply([ev(Receipt, "r1", item="R-FIFO", qty=3, location="FG", unit_price=0.333)])
    # layer (3, 1.00): 1 → 33.33 → 0.33; then (2, 0.67): 1 → 33.5 → 0.34 (half to even);
    # then the whole remaining layer: 0.33
    costs = [journal(o)[0][1] for o in engine.apply([
        ev(Shipment, f"s{k}", item="R-FIFO", qty=1, location="FG", unit_price=0)
        for k in range(3)])]
    assert costs == [33, 34, 33]
    assert engine.inv.layers_of(engine.plant.item_index["R-FIFO"]) == []


def test_count_gain_and_loss_at_current_cost_per_method():
    engine = Engine(toy_master())
    engine.apply([
        ev(Receipt, "r1", item="R-STD", qty=10, location="STORES", unit_price=2.0),
        ev(Receipt, "r2", item="R-FIFO", qty=10, location="STORES", unit_price=0.20),
        ev(Receipt, "r3", item="R-FIFO", qty=10, location="STORES", unit_price=0.30),
        ev(Receipt, "r4", item="R-AVG", qty=4, location="STORES", unit_price=1.25),
    ])
    gain_std, loss_fifo, gain_avg, same = engine.apply([
        ev(Count, "c1", item="R-STD", location="STORES", counted_qty=12),
        ev(Count, "c2", item="R-FIFO", location="STORES", counted_qty=5),
        ev(Count, "c3", item="R-AVG", location="STORES", counted_qty=6),
        ev(Count, "c4", item="R-AVG", location="STORES", counted_qty=6),
    ])
    assert journal(gain_std) == table("""
        1310     4.00   -       R-STD
        5600     -      4.00    R-STD
    """)
    # 15 lost: the 0.20 layer (2.00) and 5 of the 0.30 layer (1.50)
    assert journal(loss_fifo) == table("""
        1310     -      3.50    R-FIFO
        5600     3.50   -       R-FIFO
    """)
    assert journal(gain_avg) == table("""
        1310     2.50   -       R-AVG
        5600     -      2.50    R-AVG
    """)
    assert same.ok and same.lines == () and same.moves == ()


def test_fifo_count_gain_adds_a_layer_at_the_current_average():
    engine = Engine(toy_master())
    engine.apply([
        ev(Receipt, "r1", item="R-FIFO", qty=10, location="STORES", unit_price=0.20),
        ev(Receipt, "r2", item="R-FIFO", qty=10, location="STORES", unit_price=0.30),
        ev(Count, "c1", item="R-FIFO", location="STORES", counted_qty=22),
    ])
    i = engine.plant.item_index["R-FIFO"]
    assert engine.inv.layers_of(i) == [(10.0, 200), (10.0, 300), (2.0, 50)]


def test_transfer_moves_quantities_only_and_releases_a_hold():
    engine = Engine(toy_master())
    engine.apply([ev(Receipt, "r1", item="R-STD", qty=10, location="STORES", unit_price=2.0,
                     status="quality", lot="L1")])
    (release,) = engine.apply([ev(Transfer, "t1", item="R-STD", qty=4, lot="L1",
                                  from_location="STORES", from_status="quality",
                                  to_location="LINE-A")])
    assert release.ok and release.lines == ()
    assert [(m.location, m.status, m.qty) for m in release.moves] == [
        ("STORES", "quality", -4.0), ("LINE-A", "available", 4.0)]
    rows = {(r.location, r.status): (r.qty, r.value) for r in engine.stock_rows()}
    assert rows == {("STORES", "quality"): (6.0, 1200), ("LINE-A", "available"): (4.0, 800)}


def test_stock_row_values_split_the_item_value_exactly():
    engine = Engine(toy_master())
    engine.apply([
        ev(Receipt, "r1", item="R-AVG", qty=3, location="STORES", unit_price=1.0),
        ev(Transfer, "t1", item="R-AVG", qty=1, from_location="STORES", to_location="FG"),
        ev(Transfer, "t2", item="R-AVG", qty=1, from_location="STORES", to_location="QA"),
    ])
    values = [r.value for r in engine.stock_rows()]
    assert sorted(values) == [100, 100, 100]
    engine.apply([ev(Receipt, "r2", item="R-AVG", qty=0.5, location="QA", unit_price=0.01)])
    rows = engine.stock_rows()
    assert sum(r.value for r in rows) == {c.item: c.value for c in engine.item_costs()}["R-AVG"]


def test_issue_of_a_fifo_lot_and_shipment_of_a_standard_item():
    from gateway.events import Issue, WoRelease
    engine = Engine(toy_master())
    out = engine.apply([
        ev(Receipt, "r1", item="R-FIFO", qty=10, location="LINE-B", unit_price=0.15, lot="A"),
        ev(Receipt, "r2", item="R-FIFO", qty=10, location="LINE-B", unit_price=0.25, lot="B"),
        ev(Receipt, "r3", item="R-STD", qty=4, location="FG", unit_price=2.50),
        ev(WoRelease, "w1", work_order="WO-T", item="F-TOP", qty=1, line="WC-B"),
        # the lot named is the stock row taken; the value is still FIFO plant-wide
        ev(Issue, "i1", work_order="WO-T", item="R-FIFO", qty=4, lot="B"),
        ev(Shipment, "s1", item="R-STD", qty=3, location="FG", unit_price=4.00, order="SO-1"),
    ])
    assert journal(out[4]) == table("""
        1400     0.60   -       R-FIFO
        1310     -      0.60    R-FIFO
    """)
    assert [(m.lot, m.qty) for m in out[4].moves] == [("B", -4.0)]
    assert journal(out[5]) == table("""
        5000     6.00   -       R-STD
        1310     -      6.00    R-STD
        1200     12.00  -       R-STD
        4000     -      12.00   R-STD
    """)
    assert out[5].lines[0].memo == "shipment SO-1"
