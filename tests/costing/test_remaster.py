"""Switching master data between two events: the state goes on as it was, what is
derived from master data is the new one's, and what the state cannot follow is refused."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costing.engine import Engine
from costing.master import Item
from costing.remaster import MasterSwitchError, switch_master
from costing.snapshot import engine_state, state_differences
from tests.costing.test_snapshot import SETTINGS, split_streams
from tests.costing.toy_plant import toy_master


@SETTINGS
@given(split_streams(), st.sampled_from((2, 1 << 16)))
def test_a_switch_to_the_same_master_data_changes_nothing(case, spill_block):
    master, events, k = case
    whole = Engine(master, spill_block)
    whole_out = [whole.apply_one(e) for e in events]
    first = Engine(master, spill_block)
    first.apply_many(events[:k], outcomes=False)
    switched = switch_master(first, dataclasses.replace(master))
    assert [switched.apply_one(e) for e in events[k:]] == whole_out[k:]
    assert state_differences(engine_state(switched), engine_state(whole)) == []
    for e in events[:k]:  # lines of events before the switch read back through its store
        assert switched.lines_of(e.id) == whole.lines_of(e.id)


def _receipt(id_, item, qty, price):
    from gateway.events import Receipt
    return Receipt(id=id_, ts="2026-11-20T08:00:00Z", item=item, qty=qty, location="STORES",
                   unit_price=price)


def _with_std(master, sku, std):
    items = tuple(dataclasses.replace(it, standard_cost=std) if it.sku == sku else it
                  for it in master.items)
    return dataclasses.replace(master, items=items)


def test_a_new_standard_values_what_comes_after_and_stock_keeps_its_book_value():
    master = toy_master()
    engine = Engine(master)
    assert engine.apply_one(_receipt("r1", "R-STD", 10, 2.5)).ok
    value = engine.item_costs({"R-STD"})[0].value
    assert value == 2000  # 10 at the standard 2.00
    engine = switch_master(engine, _with_std(master, "R-STD", 3.00))
    assert engine.item_costs({"R-STD"})[0].value == value  # no revaluation at the switch
    out = engine.apply_one(_receipt("r2", "R-STD", 10, 2.5))
    assert out.ok
    assert engine.item_costs({"R-STD"})[0].value == value + 3000  # 10 at the new 3.00
    assert engine.lines_of("r1") == Engine(master).apply_one(_receipt("r1", "R-STD", 10,
                                                                     2.5)).lines


def test_an_added_item_can_be_booked_and_a_removed_one_is_refused():
    master = toy_master()
    engine = Engine(master)
    assert engine.apply_one(_receipt("r1", "R-STD", 10, 2.0)).ok
    new_item = Item("R-NEW", "glue", "kg", "raw", "standard", 4.0)
    grown = dataclasses.replace(master, items=master.items + (new_item,))
    engine = switch_master(engine, grown)
    assert engine.apply_one(_receipt("r2", "R-NEW", 1, 4.0)).ok
    assert {c.item: c.value for c in engine.item_costs({"R-STD", "R-NEW"})} == {
        "R-STD": 2000, "R-NEW": 400}
    with pytest.raises(MasterSwitchError, match="item 'R-NEW' .position 6. is gone"):
        switch_master(engine, master)
    swapped = dataclasses.replace(grown, items=(grown.items[1], grown.items[0])
                                  + grown.items[2:])
    with pytest.raises(MasterSwitchError, match="item 'R-STD' .position 0. moved to"
                                                " position 1"):
        switch_master(engine, swapped)
