"""Worked ledgers for work orders: backflush, scrap, labor, issue, close, frozen std.

Toy plant roll-up (toy_plant.py): S-SUB 14.55, F-TOP 77.03, std_through(F-TOP, 10)
= 32.55. Accounts: 1310 raw, 1320 semi, 1330 finished, 1400 WIP, 5400 applied labor,
5410 applied overhead, 5500 scrap, 5200 material usage, 5210 material price,
5300 labor efficiency, 5310 overhead efficiency, 5900 rounding.
"""

from __future__ import annotations

from costing.engine import Engine
from gateway.events import (Completion, Issue, Labor, Receipt, Scrap, Shipment, Transfer,
                            WoClose, WoRelease)
from tests.costing.journal_table import ev, journal, table
from tests.costing.toy_plant import toy_master


def _stocked(*receipts) -> Engine:
    engine = Engine(toy_master())
    for k, (item, qty, loc, price) in enumerate(receipts):
        (out,) = engine.apply([ev(Receipt, f"r{k}", item=item, qty=qty, location=loc,
                                  unit_price=price)])
        assert out.ok
    return engine


def test_completion_backflushes_components_and_labor_then_receives_at_std():
    engine = _stocked(("R-STD", 100, "LINE-A", 2.0), ("R-FIFO", 100, "LINE-A", 0.10))
    release, done, close = engine.apply([
        ev(WoRelease, "w1", work_order="WO-S", item="S-SUB", qty=10, line="WC-A"),
        ev(Completion, "c1", work_order="WO-S", qty=10, location="STORES"),
        ev(WoClose, "x1", work_order="WO-S"),
    ])
    assert release.ok and release.lines == ()
    # R-STD 10·2 = 20 kg; R-FIFO 10·5·1.10 = 55; op10 10·(1/10+0.1) = 2 h, op20 0.5 h
    assert journal(done) == table("""
        account  debit   credit  item
        1400     40.00   -       R-STD
        1310     -       40.00   R-STD
        1400     5.50    -       R-FIFO
        1310     -       5.50    R-FIFO
        1400     60.00   -       S-SUB
        5400     -       60.00   S-SUB
        1400     20.00   -       S-SUB
        5410     -       20.00   S-SUB
        1400     15.00   -       S-SUB
        5400     -       15.00   S-SUB
        1400     5.00    -       S-SUB
        5410     -       5.00    S-SUB
        1320     145.50  -       S-SUB
        1400     -       145.50  S-SUB
    """)
    assert {x.work_order for x in done.lines} == {"WO-S"}
    assert {x.work_center for x in done.lines} == {"WC-A"}
    assert close.ok and close.lines == ()  # on standard: nothing to post
    (wo,) = engine.work_orders()
    assert (wo.status, wo.good, wo.wip) == ("closed", 10.0, 0)
    rows = {(r.item, r.location): r.qty for r in engine.stock_rows()}
    assert rows == {("R-STD", "LINE-A"): 80.0, ("R-FIFO", "LINE-A"): 45.0,
                    ("S-SUB", "STORES"): 10.0}


def test_two_level_order_with_scrap_issue_reported_labor_and_variances_at_close():
    engine = _stocked(("S-SUB", 20, "LINE-B", 14.55), ("R-FIFO", 100, "LINE-B", 0.10),
                      ("R-AVG", 20, "LINE-B", 1.50))
    out = engine.apply([
        ev(WoRelease, "w1", work_order="WO-T", item="F-TOP", qty=20, line="WC-B"),
        ev(Issue, "i1", work_order="WO-T", item="R-AVG", qty=10.5),
        ev(Labor, "l1", work_order="WO-T", operation=20, hours=10.5),
        ev(Scrap, "s1", work_order="WO-T", qty=1, operation=10),
        ev(Completion, "c1", work_order="WO-T", qty=19, location="FG"),
    ])
    release, issue, labor, scrap, done = out
    assert journal(issue) == table("""
        1400     15.75   -       R-AVG
        1310     -       15.75   R-AVG
    """)
    assert journal(labor) == table("""
        1400     525.00  -       F-TOP
        5400     -       525.00  F-TOP
        1400     262.50  -       F-TOP
        5410     -       262.50  F-TOP
    """)
    # scrap at op 10: S-SUB 1 and op-10 labor 0.3 h backflushed, valued through op 10
    assert journal(scrap) == table("""
        1400     14.55   -       S-SUB
        1320     -       14.55   S-SUB
        1400     12.00   -       F-TOP
        5400     -       12.00   F-TOP
        1400     6.00    -       F-TOP
        5410     -       6.00    F-TOP
        5500     32.55   -       F-TOP
        1400     -       32.55   F-TOP
    """)
    # R-AVG is issued, not backflushed; WC-R (op 20) reports its labor
    assert journal(done) == table("""
        1400     276.45  -       S-SUB
        1320     -       276.45  S-SUB
        1400     3.80    -       R-FIFO
        1310     -       3.80    R-FIFO
        1400     228.00  -       F-TOP
        5400     -       228.00  F-TOP
        1400     114.00  -       F-TOP
        5410     -       114.00  F-TOP
        1400     76.00   -       F-TOP
        5400     -       76.00   F-TOP
        1400     38.00   -       F-TOP
        5410     -       38.00   F-TOP
        1330     1463.57 -       F-TOP
        1400     -       1463.57 F-TOP
    """)
    assert engine.variance_so_far("WO-T") == {
        "material_usage": 93, "material_price": 0, "labor_efficiency": 5000,
        "overhead_efficiency": 2500}
    (close,) = engine.apply([ev(WoClose, "x1", work_order="WO-T")])
    # R-AVG: std 19·0.5·1.04 = 9.88 kg vs 10.5 → 0.62·1.50; op 20: 10.5 h vs 19·0.5
    assert journal(close) == table("""
        5200     0.93    -       F-TOP
        1400     -       0.93    F-TOP
        5300     50.00   -       F-TOP
        1400     -       50.00   F-TOP
        5310     25.00   -       F-TOP
        1400     -       25.00   F-TOP
    """)
    (wo,) = engine.work_orders()
    assert (wo.good, wo.scrap, wo.wip, wo.material_usage, wo.labor_efficiency) == (
        19.0, 1.0, 0, 93, 5000)
    assert engine.balances()["1400"] == 0


def test_frozen_standard_leaves_its_difference_to_rounding_with_an_alert():
    engine = _stocked(("R-STD", 10, "LINE-A", 2.0))
    out = engine.apply([
        ev(WoRelease, "w1", work_order="WO-F", item="F-FIX", qty=2, line="WC-A"),
        ev(Completion, "c1", work_order="WO-F", qty=2, location="FG"),
        ev(WoClose, "x1", work_order="WO-F"),
        ev(Shipment, "s1", item="F-FIX", qty=1, location="FG", unit_price=80),
    ])
    # received at the frozen 50.00 although it cost 46.00 at standard
    assert journal(out[1])[-2:] == table("""
        1330     100.00  -       F-FIX
        1400     -       100.00  F-FIX
    """)
    assert journal(out[2]) == table("""
        5900     -       8.00    F-FIX
        1400     8.00    -       F-FIX
    """)
    assert [a.kind for a in out[2].alerts] == ["rounding"]
    assert journal(out[3])[:2] == table("""
        5000     50.00   -       F-FIX
        1330     -       50.00   F-FIX
    """)


def test_backflush_never_takes_held_stock_and_goes_negative_with_an_alert():
    engine = _stocked(("R-STD", 3, "LINE-A", 2.0))
    out = engine.apply([
        ev(Transfer, "t1", item="R-STD", qty=3, from_location="LINE-A", to_location="LINE-A",
           to_status="quality"),
        ev(WoRelease, "w1", work_order="WO-F", item="F-FIX", qty=1, line="WC-A"),
        ev(Completion, "c1", work_order="WO-F", qty=1, location="FG"),
    ])
    done = out[2]
    assert done.ok and [a.kind for a in done.alerts] == ["negative stock"]
    assert [(m.item, m.location, m.status, m.qty) for m in done.moves] == [
        ("R-STD", "LINE-A", "available", -3.0), ("F-FIX", "FG", "available", 1.0)]
    rows = {(r.item, r.status): r.qty for r in engine.stock_rows()}
    assert rows[("R-STD", "quality")] == 3.0 and rows[("R-STD", "available")] == -3.0


def test_backflush_takes_the_unlotted_row_then_lots_oldest_first():
    engine = Engine(toy_master())
    engine.apply([
        ev(Receipt, "r1", item="R-STD", qty=2, location="LINE-A", unit_price=2, lot="B"),
        ev(Receipt, "r2", item="R-STD", qty=2, location="LINE-A", unit_price=2, lot="A"),
        ev(Receipt, "r3", item="R-STD", qty=1, location="LINE-A", unit_price=2),
        ev(WoRelease, "w1", work_order="WO-F", item="F-FIX", qty=1, line="WC-A"),
    ])
    (done,) = engine.apply([ev(Completion, "c1", work_order="WO-F", qty=1, location="FG")])
    assert [(m.lot, m.qty) for m in done.moves if m.item == "R-STD"] == [
        (None, -1.0), ("B", -2.0)]


def test_issue_without_location_draws_where_the_consuming_operation_runs():
    engine = _stocked(("R-STD", 5, "LINE-A", 2.0), ("R-STD", 5, "STORES", 2.0))
    out = engine.apply([
        ev(WoRelease, "w1", work_order="WO-T", item="F-TOP", qty=1, line="WC-B"),
        # R-STD is not in F-TOP's BOM: the order's line (WC-B → LINE-B), driven short
        ev(Issue, "i1", work_order="WO-T", item="R-STD", qty=1),
        ev(Issue, "i2", work_order="WO-T", item="R-STD", qty=2, location="STORES"),
    ])
    assert [(m.location, m.qty) for m in out[1].moves] == [("LINE-B", -1.0)]
    assert [(m.location, m.qty) for m in out[2].moves] == [("STORES", -2.0)]
    # not in the BOM: standard quantity 0, so all of it is usage variance
    assert engine.variance_so_far("WO-T")["material_usage"] == 600


def test_open_variances_match_variance_so_far_and_the_close_posts_them():
    engine = _stocked(("R-STD", 10, "LINE-A", 2.0))
    engine.apply([
        ev(WoRelease, "w1", work_order="WO-F", item="F-FIX", qty=2, line="WC-A"),
        ev(WoRelease, "w2", work_order="WO-G", item="F-FIX", qty=2, line="WC-A"),
        ev(Completion, "c1", work_order="WO-F", qty=1, location="FG"),
        ev(Issue, "i1", work_order="WO-F", item="R-STD", qty=1),
        ev(Labor, "l1", work_order="WO-G", operation=10, hours=0.5),
    ])
    so_far = engine.open_variances()
    assert so_far == {wo: engine.variance_so_far(wo) for wo in ("WO-F", "WO-G")}
    # WO-F: one kg over standard; WO-G: half an hour with nothing made yet
    assert so_far["WO-F"]["material_usage"] == 200
    assert so_far["WO-G"]["labor_efficiency"] == 1500
    engine.apply([ev(WoClose, "x1", work_order="WO-F")])
    posted = {w.work_order: w for w in engine.work_orders()}["WO-F"]
    assert posted.material_usage == 200 and engine.variance_so_far("WO-F")["material_usage"] == 200
    assert set(engine.open_variances()) == {"WO-G"}
