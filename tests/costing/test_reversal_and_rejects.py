"""Reversals negate an event exactly; rejected events change nothing and say why."""

from __future__ import annotations

import pytest

from costing.engine import Engine
from gateway.events import (Completion, Count, Issue, Labor, Receipt, Reversal, Scrap,
                            Shipment, Transfer, WoClose, WoRelease)
from tests.costing.journal_table import ev
from tests.costing.toy_plant import toy_master


def _plant_in_motion() -> Engine:
    engine = Engine(toy_master())
    outs = engine.apply([
        ev(Receipt, "r1", item="R-STD", qty=50, location="LINE-A", unit_price=2.2),
        ev(Receipt, "r2", item="R-FIFO", qty=40, location="LINE-A", unit_price=0.11),
        ev(Receipt, "r3", item="R-FIFO", qty=40, location="LINE-A", unit_price=0.13),
        ev(Receipt, "r4", item="R-AVG", qty=9, location="LINE-B", unit_price=1.7),
        ev(WoRelease, "w1", work_order="WO-S", item="S-SUB", qty=10, line="WC-A"),
        ev(WoRelease, "w2", work_order="WO-T", item="F-TOP", qty=5, line="WC-B"),
    ])
    assert all(o.ok for o in outs)
    return engine


EVENTS = [
    ev(Completion, "e1", work_order="WO-S", qty=9, location="LINE-B"),
    ev(Scrap, "e1", work_order="WO-S", qty=1, operation=20),
    ev(Labor, "e1", work_order="WO-T", operation=20, hours=1.25),
    ev(Issue, "e1", work_order="WO-T", item="R-AVG", qty=3.3),
    ev(Shipment, "e1", item="R-FIFO", qty=45, location="LINE-A", unit_price=0.3),
    ev(Count, "e1", item="R-FIFO", location="LINE-A", counted_qty=90),
    ev(Count, "e1", item="R-FIFO", location="LINE-A", counted_qty=7),
    ev(Transfer, "e1", item="R-STD", qty=5, from_location="LINE-A", to_location="QA",
       to_status="quality"),
    ev(Receipt, "e1", item="R-FIFO", qty=7, location="FG", unit_price=0.5, lot="X"),
    ev(WoClose, "e1", work_order="WO-S"),
]


@pytest.mark.parametrize("event", EVENTS, ids=[e.type + str(k) for k, e in enumerate(EVENTS)])
def test_reversal_is_the_exact_negation_of_the_event(event):
    engine = _plant_in_motion()
    before = engine.snapshot()
    (done,) = engine.apply([event])
    assert done.ok, done.reason
    (undone,) = engine.apply([ev(Reversal, "v1", reverses="e1")])
    assert undone.ok, undone.reason
    assert [(x.account, x.debit, x.credit, x.item) for x in undone.lines] == [
        (x.account, x.credit, x.debit, x.item) for x in done.lines]
    assert [(m.item, m.location, m.status, m.lot, -m.qty) for m in undone.moves] == [
        (m.item, m.location, m.status, m.lot, m.qty) for m in done.moves]
    assert engine.snapshot() == before


def test_a_reversed_close_reopens_the_order():
    engine = _plant_in_motion()
    engine.apply([ev(Completion, "c1", work_order="WO-S", qty=2, location="FG"),
                  ev(WoClose, "x1", work_order="WO-S")])
    (rejected,) = engine.apply([ev(Reversal, "v0", reverses="c1")])
    assert rejected.reason == "work_order: work order WO-S is closed"
    outs = engine.apply([ev(Reversal, "v1", reverses="x1"),
                         ev(Completion, "c2", work_order="WO-S", qty=1, location="FG")])
    assert all(o.ok for o in outs)


@pytest.mark.parametrize("event, reason", [
    (ev(Receipt, "z", item="NOPE", qty=1, location="FG", unit_price=1),
     "item: unknown item 'NOPE'"),
    (ev(Receipt, "z", item="R-STD", qty=1, location="MARS", unit_price=1),
     "location: unknown location 'MARS'"),
    (ev(Receipt, "z", item="R-STD", qty=1, location="FG", unit_price=1, status="lost"),
     "status: unknown status 'lost'"),
    (ev(Completion, "z", work_order="WO-9", qty=1, location="FG"),
     "work_order: unknown work order 'WO-9'"),
    (ev(Scrap, "z", work_order="WO-S", qty=1, operation=25),
     "operation: work order WO-S has no operation 25"),
    (ev(Labor, "z", work_order="WO-T", operation=99, hours=1),
     "operation: work order WO-T has no operation 99"),
    (ev(WoRelease, "z", work_order="WO-S", item="S-SUB", qty=1, line="WC-A"),
     "work_order: work order WO-S already exists"),
    (ev(WoRelease, "z", work_order="WO-X", item="R-STD", qty=1, line="WC-A"),
     "item: item 'R-STD' has no BOM or routing"),
    (ev(WoRelease, "z", work_order="WO-X", item="S-SUB", qty=1, line="WC-Z"),
     "line: unknown work center 'WC-Z'"),
    (ev(Transfer, "z", item="R-STD", qty=1, from_location="FG", to_location="FG"),
     "to_location: transfer to the same location and status"),
    (ev(Reversal, "z", reverses="e9"), "reverses: unknown event 'e9'"),
    (ev(Reversal, "z", reverses="w1"), "reverses: work order WO-S has events; reverse them first"),
    (ev(Receipt, "r1", item="R-STD", qty=1, location="FG", unit_price=1),
     "id: event r1 was already applied"),
])
def test_rejected_events_name_field_and_reason_and_change_nothing(event, reason):
    engine = _plant_in_motion()
    engine.apply([ev(Labor, "l1", work_order="WO-S", operation=10, hours=1)])
    before = engine.snapshot()
    (out,) = engine.apply([event])
    assert (out.ok, out.reason, out.lines) == (False, reason, ())
    assert out.field == reason.split(":")[0]
    assert engine.snapshot() == before


def test_closed_orders_reject_events_and_reversals_cannot_repeat():
    engine = _plant_in_motion()
    outs = engine.apply([
        ev(WoClose, "x1", work_order="WO-S"),
        ev(Labor, "l1", work_order="WO-S", operation=10, hours=1),
        ev(Reversal, "v1", reverses="x1"),
        ev(Reversal, "v2", reverses="x1"),
        ev(Reversal, "v3", reverses="v1"),
    ])
    assert [o.reason for o in outs] == [
        None, "work_order: work order WO-S is closed", None,
        "reverses: event x1 is already reversed",
        "reverses: event v1 is a reversal and cannot be reversed"]


def test_a_reject_midway_leaves_no_partial_state():
    # the completion's location is checked after the order: nothing may stick
    engine = _plant_in_motion()
    before = engine.snapshot()
    (out,) = engine.apply([ev(Completion, "c1", work_order="WO-S", qty=1, location="MARS")])
    assert out.reason == "location: unknown location 'MARS'"
    assert engine.snapshot() == before


@pytest.mark.parametrize("order", [("i1", "i2"), ("i2", "i1")], ids=["creator first", "creator last"])
def test_reversing_issues_of_an_item_off_the_bom_in_either_order(order):
    # R-STD is not in F-TOP's BOM: the first issue adds a material row to WO-T and the
    # second draws on it. Reversing the first must not take the row from under the second.
    engine = _plant_in_motion()
    before = engine.snapshot()
    outs = engine.apply([ev(Issue, "i1", work_order="WO-T", item="R-STD", qty=2),
                         ev(Issue, "i2", work_order="WO-T", item="R-STD", qty=3)])
    assert all(o.ok for o in outs)
    for k, target in enumerate(order):
        (undone,) = engine.apply([ev(Reversal, f"v{k}", reverses=target)])
        assert undone.ok, undone.reason
    assert engine.snapshot() == before  # stock, item costs, orders, GL, FIFO layers
