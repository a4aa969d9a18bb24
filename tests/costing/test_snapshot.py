"""An engine made from a snapshot of its state goes on exactly as the engine it was
taken from: (snapshot after k events + the rest) == all events, on random streams."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costing.engine import Engine
from costing.snapshot import engine_from_state, engine_state, state_differences
from tests.costing.strategies import event_streams, masters
from tests.costing.toy_plant import toy_master

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def parts_of(state) -> dict:
    """What a snapshot file gives back: the arrays and each store's bytes as uint8."""
    parts = dict(state.arrays)
    for key, store in state.stores.items():
        parts[key] = np.frombuffer(b"".join(store.chunks(7)), np.uint8)
    return parts


@st.composite
def split_streams(draw):
    master = draw(masters())
    events = draw(event_streams(master, max_size=60))
    return master, events, draw(st.integers(0, len(events)))


@SETTINGS
@given(split_streams(), st.sampled_from((2, 4, 1 << 16)))
def test_snapshot_then_the_rest_equals_the_whole_stream(case, spill_block):
    master, events, k = case
    whole = Engine(master, spill_block)
    whole_out = [whole.apply_one(e) for e in events]
    first = Engine(master, spill_block)
    first.apply_many(events[:k], outcomes=False)  # runs, not one by one
    resumed = engine_from_state(master, parts_of(engine_state(first)), spill_block)
    rest_out = [resumed.apply_one(e) for e in events[k:]]
    assert rest_out == whole_out[k:]
    assert state_differences(engine_state(resumed), engine_state(whole)) == []
    assert resumed.balances() == whole.balances()
    assert resumed.stock_rows() == whole.stock_rows()
    for e in events[:k]:  # old events' lines read back through the snapshot's store
        assert resumed.lines_of(e.id) == whole.lines_of(e.id)


def _small_case():
    from gateway.events import Receipt, Shipment
    return toy_master(), [
        Receipt(id="r1", ts="t", item="R-FIFO", qty=50.0, location="STORES", unit_price=0.1),
        Receipt(id="r2", ts="t", item="R-FIFO", qty=20.0, location="STORES", unit_price=0.2),
        Shipment(id="s1", ts="t", item="R-FIFO", qty=60.0, location="STORES",
                 unit_price=1.0)]


def test_a_different_state_is_named():
    master, events = _small_case()
    a, b = Engine(master), Engine(master)
    a.apply_many(events, outcomes=False)
    b.apply_many(events[:-1], outcomes=False)
    diff = state_differences(engine_state(a), engine_state(b))
    assert "inv.qty" in diff and "ledger.balance" in diff


def test_meta_that_names_a_class_is_refused():
    master, events = _small_case()
    parts = dict(engine_state(Engine(master)).arrays)
    parts["meta"] = np.frombuffer(pickle.dumps((1, {"x": Engine})), np.uint8)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        engine_from_state(master, parts)
