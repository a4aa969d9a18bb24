"""Invariants of the engine over random plants and random event streams (see docs/accounting.md)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costing.engine import Engine
from gateway.events import Reversal
from tests.costing.strategies import event_streams, masters

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _normal(snapshot):
    """Quantities compared to 1e-6: a reversal subtracts what it added in floats."""
    def norm(x):
        if isinstance(x, float):
            return round(x, 6) + 0.0
        if isinstance(x, tuple):
            return tuple(norm(y) for y in x)
        if hasattr(x, "__dataclass_fields__"):
            return tuple(norm(getattr(x, f)) for f in x.__dataclass_fields__)
        return x
    return norm(snapshot)


@st.composite
def plants_with_events(draw):
    master = draw(masters())
    return master, draw(event_streams(master))


@SETTINGS
@given(plants_with_events())
def test_every_entry_balances_and_inventory_equals_the_gl(case):
    master, events = case
    engine = Engine(master)
    for event in events:
        (out,) = engine.apply([event])
        assert sum(x.debit for x in out.lines) == sum(x.credit for x in out.lines)
        assert all((x.debit > 0) != (x.credit > 0) for x in out.lines)
        if out.ok and event.type == "wo_close":
            (wo,) = [w for w in engine.work_orders() if w.work_order == event.work_order]
            assert (wo.status, wo.wip) == ("closed", 0)
        balances = engine.balances()
        for account, value in engine.inventory_by_account().items():
            assert balances.get(account, 0) == value
        per_item = {}
        for row in engine.stock_rows():
            per_item[row.item] = per_item.get(row.item, 0) + row.value
        for cost in engine.item_costs():
            assert per_item.get(cost.item, 0) == cost.value
    wip = sum(w.wip for w in engine.work_orders())
    assert balances.get(master.accounts.wip, 0) == wip


@SETTINGS
@given(plants_with_events())
def test_replay_in_a_fresh_engine_gives_identical_outcomes(case):
    master, events = case
    first, second = Engine(master), Engine(master)
    assert first.apply(events) == second.apply(events)
    assert first.snapshot() == second.snapshot()


@SETTINGS
@given(plants_with_events())
def test_reversing_the_last_event_restores_the_state_before_it(case):
    master, events = case
    engine = Engine(master)
    engine.apply(events[:-1])
    before = engine.snapshot()
    (last,) = engine.apply(events[-1:])
    if last.ok and events[-1].type != "reversal":
        (undone,) = engine.apply([Reversal(id="undo", ts="t", reverses=events[-1].id)])
        assert undone.ok, undone.reason
    elif last.ok:
        return  # a reversal itself cannot be reversed
    assert _normal(engine.snapshot()) == _normal(before)
