"""The batch path equals the per-event path exactly: apply_many ≡ apply, event by event.

This is what makes the fast replay trustworthy: for random plants and random event
streams, `Engine.apply_many` (events encoded once, valued and posted by one numba
kernel, rare kinds falling back in place) leaves the same state, posts the same journal
lines and returns the same outcomes as `Engine.apply` does one event at a time.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costing.batch import BatchPath
from costing.batch_kernel import python_reference
from costing.engine import Engine
from gateway.events import Receipt, Reversal
from tests.costing.strategies import event_streams, masters
from tests.costing.toy_plant import toy_master

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def plants_with_events(draw):
    master = draw(masters())
    events = draw(event_streams(master, max_size=60))
    cuts = sorted(draw(st.sets(st.integers(0, len(events)), max_size=3)))
    return master, events, cuts


def _chunks(events, cuts):
    bounds = [0, *cuts, len(events)]
    return [events[a:b] for a, b in pairwise(bounds)]


def _journal(engine: Engine):
    return engine.ledger.lines(0, engine.ledger.cols[0].n)


@SETTINGS
@given(plants_with_events())
def test_apply_many_returns_the_outcomes_of_apply_one_by_one(case):
    master, events, cuts = case
    slow, fast = Engine(master), Engine(master)
    expected = [slow.apply_one(e) for e in events]
    got = [out for chunk in _chunks(events, cuts) for out in fast.apply_many(chunk)]
    assert got == expected
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)


@SETTINGS
@given(plants_with_events())
def test_apply_many_without_outcomes_leaves_the_same_state_and_journal(case):
    master, events, cuts = case
    slow, fast = Engine(master), Engine(master)
    slow.apply(events)
    for chunk in _chunks(events, cuts):
        assert fast.apply_many(chunk, outcomes=False) is None
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)
    assert fast.balances() == slow.balances()
    assert fast.work_orders() == slow.work_orders()
    assert fast.open_variances() == slow.open_variances()


@SETTINGS
@given(plants_with_events(), st.data())
def test_an_event_applied_by_the_batch_path_reverses_like_one_applied_alone(case, data):
    master, events, _ = case
    slow, fast = Engine(master), Engine(master)
    slow.apply(events)
    fast.apply_many(events, outcomes=False)
    target = data.draw(st.sampled_from(events)).id
    undo = Reversal(id="undo-x", ts="t", reverses=target)
    assert fast.apply([undo]) == slow.apply([undo])
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plants_with_events())
def test_the_batch_kernel_equals_its_plain_python_reference(case):
    master, events, _ = case
    fast, slow = Engine(master), Engine(master)
    slow._batch = BatchPath(slow, kernel=python_reference())
    assert fast.apply_many(events) == slow.apply_many(events)
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)
    for a, b in zip(fast.effects.columns(), slow.effects.columns()):
        assert a.a.tobytes() == b.a.tobytes()


@SETTINGS
@given(plants_with_events())
def test_entries_since_a_mark_are_the_lines_apply_returned(case):
    master, events, cuts = case
    slow, fast = Engine(master), Engine(master)
    expected = [(o.event_id, o.lines) for o in slow.apply(events) if o.ok]
    mark = fast.mark()
    for chunk in _chunks(events, cuts):
        fast.apply_many(chunk, outcomes=False)
    assert list(fast.entries_since(mark)) == expected
    assert [(e, fast.lines_of(e)) for e, _ in expected] == expected
    assert fast.lines_of("never-seen") == ()


def test_a_malformed_event_fails_as_in_apply_and_the_run_before_it_stands():
    good = Receipt(id="r1", ts="t", item="R-STD", qty=5.0, location="STORES", unit_price=2.1)

    class Broken:  # a receipt without its location
        type, id, item, qty, unit_price = "receipt", "r2", "R-STD", 1.0, 2.0

    slow, fast = Engine(toy_master()), Engine(toy_master())
    slow.apply([good])
    with pytest.raises(AttributeError, match="location"):
        slow.apply([Broken()])
    with pytest.raises(AttributeError, match="location"):
        fast.apply_many([good, Broken()])
    assert fast.snapshot() == slow.snapshot()
    assert "r1" in fast.records and "r2" not in fast.records
