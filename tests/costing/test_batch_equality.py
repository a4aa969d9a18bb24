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
from tests.costing.reference_engine import ReferenceEngine
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


def _same_books(fast: Engine, slow: Engine) -> None:
    """State, journal, orders and open variances of the batch engine equal the slow one's."""
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)
    assert fast.work_orders() == slow.work_orders()
    assert fast.open_variances() == slow.open_variances()


@SETTINGS
@given(plants_with_events())
def test_apply_many_returns_the_outcomes_of_apply_one_by_one(case):
    master, events, cuts = case
    slow, fast = ReferenceEngine(master), Engine(master)
    expected = [slow.apply_one(e) for e in events]
    got = [out for chunk in _chunks(events, cuts) for out in fast.apply_many(chunk)]
    assert got == expected
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)


@SETTINGS
@given(plants_with_events())
def test_apply_many_without_outcomes_leaves_the_same_state_and_journal(case):
    master, events, cuts = case
    slow, fast = ReferenceEngine(master), Engine(master)
    slow.apply(events)
    for chunk in _chunks(events, cuts):
        assert fast.apply_many(chunk, outcomes=False) is None
    _same_books(fast, slow)
    assert fast.balances() == slow.balances()


@SETTINGS
@given(plants_with_events(), st.data())
def test_an_event_applied_by_the_batch_path_reverses_like_one_applied_alone(case, data):
    master, events, _ = case
    slow, fast = ReferenceEngine(master), Engine(master)
    slow.apply(events)
    fast.apply_many(events, outcomes=False)
    target = data.draw(st.sampled_from(events)).id
    undo = Reversal(id="undo-x", ts="t", reverses=target)
    assert fast.apply([undo]) == slow.apply([undo])
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)


@SETTINGS
@given(plants_with_events())
def test_post_many_describes_the_outcomes_of_apply_by_column(case):
    """What `post_many` returns (ranges over the engine's columns) rebuilds the outcomes
    `apply` gives, and its line block and move columns are those outcomes' lines and
    moves in order."""
    master, events, cuts = case
    slow, fast = ReferenceEngine(master), Engine(master)
    expected = slow.apply(events)
    at = 0
    for chunk in _chunks(events, cuts):
        posted = fast.post_many(chunk)
        assert len(posted) == len(chunk)
        want = expected[at:at + len(chunk)]
        got = [posted.outcome(k, str(ev.id)) if posted.ok(k) else posted.refusal(k)
               for k, ev in enumerate(chunk)]
        assert got == want
        assert [posted.alerts(k) for k in range(len(chunk))] == [o.alerts for o in want]
        block = posted.line_block()
        codes, names = fast.ledger.codes, fast.ledger.names
        lines = [line for o in want for line in o.lines]
        assert [(codes[a], max(x, 0), max(-x, 0), names[i], names[w], names[c], names[m])
                for a, x, i, w, c, m in block.T.tolist()] == [tuple(li) for li in lines]
        assert posted.line_counts().tolist() == [len(o.lines) for o in want]
        keys = fast.inv.row_keys
        assert [(k, *keys[r], q) for k, r, q in zip(*posted.moves())] == [
            (k, *m) for k, o in enumerate(want) for m in o.moves]
        at += len(chunk)
    _same_books(fast, slow)


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
    slow, fast = ReferenceEngine(master), Engine(master)
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

    slow, fast = ReferenceEngine(toy_master()), Engine(toy_master())
    slow.apply([good])
    with pytest.raises(AttributeError, match="location"):
        slow.apply([Broken()])
    with pytest.raises(AttributeError, match="location"):
        fast.apply_many([good, Broken()])
    assert fast.snapshot() == slow.snapshot()
    assert "r1" in fast.records and "r2" not in fast.records


def test_reversals_of_events_before_and_within_a_run_do_not_end_it():
    """A reversal is done by the kernel in the run (its target read back from the engine
    or from the run itself): one kernel call for the whole stream, same result as apply."""
    from gateway.events import Completion, Issue, Labor, WoRelease

    def r(eid, item, qty, price):
        return Receipt(id=eid, ts="t", item=item, qty=qty, location="STORES",
                       unit_price=price)

    before = [r("p1", "R-FIFO", 40.0, 0.12), r("p2", "R-AVG", 10.0, 1.7),
              WoRelease(id="rel", ts="t", work_order="W1", item="S-SUB", qty=10.0,
                        line="WC-A")]
    run = [r("n1", "R-FIFO", 30.0, 0.11), Reversal(id="x1", ts="t", reverses="p1"),
           Completion(id="c1", ts="t", work_order="W1", qty=2.0, location="STORES"),
           Labor(id="l1", ts="t", work_order="W1", operation=10, hours=1.5),
           Issue(id="i1", ts="t", work_order="W1", item="R-STD", qty=3.0),
           Reversal(id="x2", ts="t", reverses="n1"), Reversal(id="x3", ts="t", reverses="c1"),
           Reversal(id="x4", ts="t", reverses="l1"), Reversal(id="x5", ts="t", reverses="p2"),
           Reversal(id="x6", ts="t", reverses="i1")]
    calls = []

    def counting(*args):
        calls.append(args[0].events.type.tolist())
        return run_batch(*args)

    from costing.batch_columns import REVERSAL
    from costing.batch_kernel import run_batch

    slow, fast = ReferenceEngine(toy_master()), Engine(toy_master())
    expected = slow.apply(before + run)
    fast._batch = BatchPath(fast, kernel=counting)
    got = fast.apply_many(before) + fast.apply_many(run)
    assert got == expected and all(o.ok for o in got)
    assert calls[-1].count(REVERSAL) == 6 and len(calls[-1]) == len(run)
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)
    assert [fast.lines_of(e.id) for e in run] == [slow.lines_of(e.id) for e in run]
    # each target is reversed once: a second reversal is rejected on either path
    again = [Reversal(id="y1", ts="t", reverses="p1"), Reversal(id="y2", ts="t", reverses="c1")]
    assert fast.apply_many(again) == slow.apply(again)


_BAD_VALUES = {
    "qty": (0.0, -1.0, float("nan"), float("inf"), "3", None),
    "hours": (0.0, -2.0, float("nan")),
    "counted_qty": (-1.0, float("inf")),
    "unit_price": (-0.5, float("nan")),
    "item": ("NO-SUCH-ITEM",),
    "location": ("NOWHERE",),
    "from_location": ("NOWHERE",),
    "to_status": ("broken",),
    "status": ("broken",),
    "work_order": ("WO-NONE",),
    "operation": (999, -1),
    "reverses": ("never-applied",),
    "line": ("NO-LINE",),
}


@st.composite
def streams_with_bad_events(draw):
    """Random streams with some events spoiled: a field given a value the engine rejects
    (or cannot read), a copy of an earlier id, an unknown type."""
    import msgspec

    master, events, cuts = draw(plants_with_events())
    out = []
    for ev in events:
        roll = draw(st.integers(0, 9))
        fields = [f for f in ev.__struct_fields__ if f in _BAD_VALUES]
        if roll == 0 and fields:
            name = draw(st.sampled_from(fields))
            ev = msgspec.structs.replace(ev, **{name: draw(st.sampled_from(_BAD_VALUES[name]))})
        elif roll == 1 and out:
            ev = draw(st.sampled_from(out))  # the same id again (same or other payload)
        elif roll == 2:
            class Odd:  # duck-typed, of a type the engine does not know
                type, id = "melt", ev.id
            ev = Odd()
        out.append(ev)
    return master, out, [c for c in cuts if c <= len(out)]


@SETTINGS
@given(streams_with_bad_events())
def test_bad_events_in_a_batch_end_as_they_do_one_by_one(case):
    master, events, cuts = case
    slow, fast = ReferenceEngine(master), Engine(master)
    expected = [slow.apply_one(e) for e in events]
    got = [out for chunk in _chunks(events, cuts) for out in fast.apply_many(chunk)]
    assert got == expected
    assert fast.snapshot() == slow.snapshot()
    assert _journal(fast) == _journal(slow)
