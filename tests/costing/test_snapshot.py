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

SETTINGS = settings(max_examples=60, deadline=None,
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
    first.apply_many(events[:k], outcomes=False)
    resumed = engine_from_state(master, parts_of(engine_state(first)), spill_block)
    rest_out = [resumed.apply_one(e) for e in events[k:]]
    assert rest_out == whole_out[k:]
    assert state_differences(engine_state(resumed), engine_state(whole)) == []
    assert resumed.balances() == whole.balances()
    assert resumed.stock_rows() == whole.stock_rows()
    for e in events[:k]:  # old events' lines read back through the snapshot's store
        assert resumed.lines_of(e.id) == whole.lines_of(e.id)


def test_a_different_state_is_named():
    from tests.costing.toy_plant import ACCOUNTS  # noqa: F401 (a plant the tests share)
    master, events = _small_case()
    a, b = Engine(master), Engine(master)
    a.apply_many(events, outcomes=False)
    b.apply_many(events[:-1], outcomes=False)
    diff = state_differences(engine_state(a), engine_state(b))
    assert diff and any(name.startswith("ledger.") for name in diff)


def test_meta_that_names_a_class_is_refused():
    master, events = _small_case()
    parts = dict(engine_state(Engine(master)).arrays)
    parts["meta"] = np.frombuffer(pickle.dumps((1, {"x": Engine})), np.uint8)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        engine_from_state(master, parts)


def _small_case():
    from hypothesis import find
    return find(st.tuples(masters(), st.integers(0, 3)).flatmap(
        lambda mk: st.tuples(st.just(mk[0]), event_streams(mk[0], max_size=30))),
        lambda case: sum(e.type == "receipt" for e in case[1]) >= 2)
