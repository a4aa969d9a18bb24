"""The batch path's loop for chunks whose ids are all new and distinct (no per-event
duplicate check; the run is a slice of the chunk): same outcomes, state and journal as
`Engine.apply_one` event by event, with spoiled events, unknown types and reversals."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from costing.batch import BatchPath
from costing.engine import Engine
from tests.costing.reference_engine import ReferenceEngine
from tests.costing.test_batch_equality import (
    _BAD_VALUES,
    SETTINGS,
    _chunks,
    _journal,
    _same_books,
    plants_with_events,
)


@st.composite
def streams_with_new_ids(draw):
    """Spoiled values and unknown types, but never an id twice."""
    master, events, cuts = draw(plants_with_events())
    out = []
    for ev in events:
        roll = draw(st.integers(0, 9))
        fields = [f for f in ev.__struct_fields__ if f in _BAD_VALUES]
        if roll == 0 and fields:
            name = draw(st.sampled_from(fields))
            ev = msgspec.structs.replace(ev, **{name: draw(st.sampled_from(_BAD_VALUES[name]))})
        elif roll == 1:
            class Odd:  # of a type the engine does not know
                type, id = "melt", ev.id
            ev = Odd()
        out.append(ev)
    return master, out, cuts


def _spied(engine: Engine) -> list[bool]:
    """Per flush of a real BatchPath: whether it ended a run of the distinct-ids loop."""
    engine._batch = batch = BatchPath(engine)
    calls: list[bool] = []
    flush = batch._flush

    def recording(out):
        calls.append(batch._run_of is not None)
        flush(out)
    batch._flush = recording
    return calls


@SETTINGS
@given(streams_with_new_ids())
def test_chunks_of_new_ids_give_the_outcomes_of_apply_one(case):
    master, events, cuts = case
    assert len({e.id for e in events}) == len(events)
    slow, fast = ReferenceEngine(master), Engine(master)
    calls = _spied(fast)
    expected = [slow.apply_one(e) for e in events]
    got = [out for chunk in _chunks(events, cuts) for out in fast.apply_many(chunk)]
    assert got == expected
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)
    assert all(calls) and (calls or not events)  # the distinct-ids loop ran


@SETTINGS
@given(streams_with_new_ids())
def test_chunks_of_new_ids_without_outcomes_leave_the_same_state(case):
    master, events, cuts = case
    slow, fast = ReferenceEngine(master), Engine(master)
    slow.apply(events)
    for chunk in _chunks(events, cuts):
        assert fast.apply_many(chunk, outcomes=False) is None
    _same_books(fast, slow)


@SETTINGS
@given(streams_with_new_ids(), st.integers(0, 59))
def test_a_chunk_repeating_an_earlier_id_takes_the_checked_loop_and_agrees(case, k):
    master, events, _ = case
    if not events:
        return
    again = events[k % len(events)]  # applied (or rejected) already: applied once at most
    slow, fast = ReferenceEngine(master), Engine(master)
    expected = [slow.apply_one(e) for e in [*events, again]]
    got = fast.apply_many(events) + fast.apply_many([again])
    assert got == expected
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)


def test_encoders_found_once_per_event_class():
    """The encoder of a canonical event class is looked up once and kept by class (the
    per-event dispatch is one dict lookup); a class whose instances carry their own
    `type` is never kept, as another instance of it may be of another type."""
    from gateway.bench.synth import EventStream, make_master

    master = make_master(20, 2)
    events = EventStream(master, seed=3).take(400)
    engine = Engine(master)
    path = BatchPath(engine)

    class Loose:  # a type per instance
        def __init__(self, type_, id_):
            self.type, self.id = type_, id_

    path.apply(events + [Loose("melt", "loose-1")], outcomes=False)
    kept = {cls.__name__ for cls in path._by_class}
    assert {type(ev).__name__ for ev in events} <= kept
    assert "Loose" not in kept
