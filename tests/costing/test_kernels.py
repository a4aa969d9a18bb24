"""Each numba kernel equals its plain-Python reference to the minor unit (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costing import kernels, reference
from costing.money import to_minor
from costing.plant import FIFO, Plant
from costing.rollup import roll_up
from costing.workorders import WorkOrders
from tests.costing.strategies import amounts, masters

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _minor(values, scale=100.0):
    return [to_minor(float(v), scale) for v in values]


def _rollup_args(plant: Plant):
    return (plant.order, plant.manufactured, plant.given, plant.bom_ptr, plant.bom_comp,
            plant.bom_qty_eff, plant.rt_ptr, plant.rt_wc, plant.rt_per_unit,
            plant.wc_labor, plant.wc_overhead)


@SETTINGS
@given(masters())
def test_rollup_kernel_equals_reference(master):
    plant = Plant(master)
    fast = kernels.rollup_kernel(*_rollup_args(plant))
    slow = reference.rollup_reference(*_rollup_args(plant))
    for a, b in zip(fast, slow):
        assert _minor(a) == _minor(b)
        assert a.tolist() == list(b)  # same arithmetic order: bit-identical


@SETTINGS
@given(masters(), st.data())
def test_std_through_kernel_equals_reference(master, data):
    rollup = roll_up(master)
    pl = rollup.plant
    p = data.draw(st.integers(0, len(pl.skus) - 1))
    op = data.draw(st.sampled_from((0, 10, 15, 20, 30, 99)))
    args = (p, op, pl.manufactured, rollup.std_array, pl.bom_ptr, pl.bom_comp,
            pl.bom_qty_eff, pl.bom_op, pl.rt_ptr, pl.rt_op, pl.rt_wc, pl.rt_per_unit,
            pl.wc_labor, pl.wc_overhead)
    assert kernels.std_through_kernel(*args) == reference.std_through_reference(*args)


@SETTINGS
@given(masters())
def test_std_through_table_equals_reference_and_the_scalar_definition(master):
    rollup = roll_up(master)
    pl = rollup.plant
    args = (rollup.std_array, pl.bom_ptr, pl.bom_comp, pl.bom_qty_eff, pl.bom_op, pl.rt_ptr,
            pl.rt_op, pl.rt_wc, pl.rt_per_unit, pl.wc_labor, pl.wc_overhead)
    table = kernels.std_through_table_kernel(*args)
    assert table.tolist() == reference.std_through_table_reference(*args)
    assert table.tolist() == rollup.through_array.tolist()
    for p in range(len(pl.skus)):
        for s in pl.steps(p):
            op = int(pl.rt_op[s])
            scalar = reference.std_through_reference(
                p, op, pl.manufactured, rollup.std_array, pl.bom_ptr, pl.bom_comp,
                pl.bom_qty_eff, pl.bom_op, pl.rt_ptr, pl.rt_op, pl.rt_wc, pl.rt_per_unit,
                pl.wc_labor, pl.wc_overhead)
            assert table[s] == scalar  # bit-identical: a scrap posts the same cents
            assert rollup.std_through_index(p, op) == scalar


@SETTINGS
@given(masters(), st.data())
def test_std_through_lookup_off_the_routing_equals_reference(master, data):
    rollup = roll_up(master)
    pl = rollup.plant
    p = data.draw(st.integers(0, len(pl.skus) - 1))
    op = data.draw(st.sampled_from((0, 5, 15, 25, 99)))
    expected = reference.std_through_reference(
        p, op, pl.manufactured, rollup.std_array, pl.bom_ptr, pl.bom_comp, pl.bom_qty_eff,
        pl.bom_op, pl.rt_ptr, pl.rt_op, pl.rt_wc, pl.rt_per_unit, pl.wc_labor,
        pl.wc_overhead)
    assert rollup.std_through_index(p, op) == expected


@SETTINGS
@given(masters(), st.data())
def test_explode_kernel_equals_reference(master, data):
    pl = Plant(master)
    made = [p for p in range(len(pl.skus)) if pl.manufactured[p]]
    n = data.draw(st.integers(0, 6))
    parents = np.array(data.draw(st.lists(st.sampled_from(made), min_size=n, max_size=n)),
                       np.int64)
    qtys = np.array(data.draw(st.lists(amounts(1, 10000, 3), min_size=n, max_size=n)))
    limits = np.array(data.draw(st.lists(st.sampled_from((5, 10, 20, 30, 2**62)),
                                         min_size=n, max_size=n)), np.int64)
    args = (parents, qtys, limits, pl.bom_ptr, pl.bom_qty_eff, pl.bom_op, pl.bom_backflush,
            pl.rt_ptr, pl.rt_op, pl.rt_wc, pl.rt_per_unit, pl.wc_backflush)
    fast = kernels.explode_kernel(*args)
    slow = reference.explode_reference(*args)
    assert [list(a.tolist()) for a in fast] == [list(b) for b in slow]


@st.composite
def valuation_states(draw):
    """A plant's items with random stock, averages and FIFO layers, and consumptions."""
    pl = Plant(draw(masters()))
    n = len(pl.skus)
    std = roll_up(pl).std_array
    qty = np.array([draw(amounts(-500, 5000, 2)) for _ in range(n)])
    value = np.array([draw(st.integers(-1000, 100000)) for _ in range(n)], np.int64)
    last = np.array([draw(st.none() | amounts(0, 10000, 3)) or math.nan for _ in range(n)])
    lq, lv, nxt = [], [], []
    head = np.full(n, -1, np.int64)
    for i in range(n):
        if pl.method[i] != FIFO:
            continue
        layers = draw(st.lists(st.tuples(amounts(0, 3000, 2), st.integers(0, 50000)),
                               max_size=4))
        for k, (q, v) in enumerate(layers):
            if k == 0:
                head[i] = len(lq)
            else:
                nxt[-1] = len(lq)
            lq.append(q)
            lv.append(v)
            nxt.append(-1)
    m = draw(st.integers(1, 8))
    items = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    qtys = draw(st.lists(amounts(1, 4000, 2), min_size=m, max_size=m))
    state = (qty, value, last, np.array(lq), np.array(lv, np.int64), np.array(nxt, np.int64),
             head)
    return pl, std, np.array(items, np.int64), np.array(qtys), state


@SETTINGS
@given(valuation_states())
def test_value_kernel_equals_reference_including_the_state_it_leaves(case):
    pl, std, items, qtys, state = case
    fast_state = [a.copy() for a in state]
    slow_state = [a.copy() for a in state]
    fast = kernels.value_kernel(items, qtys, pl.method, std, pl.scale, *fast_state)
    slow = reference.value_reference(items, qtys, pl.method, std, pl.scale, *slow_state)
    assert [a.tolist() for a in fast] == [list(b) for b in slow]
    for a, b in zip(fast_state, slow_state):
        assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("consumed", [[1000.0], [35.5, 0.5, 600.0], [2.0] * 40 + [900.0]])
def test_value_kernel_grows_its_takes_past_the_first_guess(consumed):
    # One FIFO item with 150 layers of 5 units: a single consumption can take far more
    # layers than the 4 per consumption value_kernel first allocates room for.
    n_layers = 150
    method = np.array([FIFO, 0], np.int64)
    std = np.array([1.25, 2.0])
    state = (np.array([5.0 * n_layers, 10.0]), np.array([611 * n_layers, 2000], np.int64),
             np.full(2, math.nan), np.full(n_layers, 5.0),
             np.array([600 + k % 23 for k in range(n_layers)], np.int64),
             np.array([*range(1, n_layers), -1], np.int64), np.array([0, -1], np.int64))
    items = np.array([0] * len(consumed), np.int64)
    fast_state = [a.copy() for a in state]
    slow_state = [a.copy() for a in state]
    fast = kernels.value_kernel(items, np.array(consumed), method, std, 100.0, *fast_state)
    slow = reference.value_reference(items, np.array(consumed), method, std, 100.0,
                                     *slow_state)
    assert len(fast[2]) > 4 * len(consumed) + 4  # it did grow
    assert [a.tolist() for a in fast] == [list(b) for b in slow]
    for a, b in zip(fast_state, slow_state):
        assert np.array_equal(a, b, equal_nan=True)


@SETTINGS
@given(masters(), st.data())
def test_variance_kernel_equals_reference(master, data):
    rollup = roll_up(master)
    pl = rollup.plant
    wos = WorkOrders(pl)
    made = [p for p in range(len(pl.skus)) if pl.manufactured[p]]
    for k in range(data.draw(st.integers(1, 4))):
        w = wos.create(f"WO-{k}", data.draw(st.sampled_from(made)), 0, 10.0)
        wos.good[w] = data.draw(amounts(0, 5000, 2))
    for r in range(wos.mat_wo.n):
        wos.mat_act_qty[r] = data.draw(amounts(0, 9000, 3))
        wos.mat_act_value[r] = data.draw(st.integers(-100, 10**6))
    for s in range(wos.step_op.n):
        wos.step_act_hours[s] = data.draw(amounts(0, 9000, 2))
        wos.step_scrap[s] = data.draw(amounts(0, 300, 2))
    selected = np.array(data.draw(st.lists(st.booleans(), min_size=len(wos.ids),
                                           max_size=len(wos.ids))), np.bool_)
    args = (selected, wos.good.a, wos.mat_wo.a, wos.mat_item.a, wos.mat_qty_eff.a,
            wos.mat_op.a, wos.mat_act_qty.a, wos.mat_act_value.a, wos.step_start.a,
            wos.step_count.a, wos.step_op.a, wos.step_per_unit.a, wos.step_labor.a,
            wos.step_overhead.a, wos.step_act_hours.a, wos.step_scrap.a, rollup.std_array,
            pl.scale)
    fast = kernels.variance_kernel(*args)
    slow = reference.variance_reference(*args)
    assert [a.tolist() for a in fast] == [list(b) for b in slow]


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(-10**9, 10**9)), max_size=30),
       st.lists(amounts(-10**7, 10**7, 4), max_size=30))
def test_posting_and_rounding_kernels_equal_reference(lines, floats):
    acc = np.array([a for a, _ in lines], np.int64)
    amount = np.array([x for _, x in lines], np.int64)
    fast_bal, slow_bal = np.zeros(6, np.int64), [0] * 6
    fix = kernels.post_kernel(acc, amount, 5, fast_bal)
    assert fix == reference.post_reference(acc.tolist(), amount.tolist(), 5, slow_bal)
    assert fast_bal.tolist() == slow_bal and int(fast_bal.sum()) == 0
    assert (kernels.minor_kernel(np.array(floats, np.float64), 100.0).tolist()
            == reference.minor_reference(floats, 100.0))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=30))
def test_id_hash_kernel_equals_reference(ids):
    from costing.effects import id_hashes

    assert id_hashes(ids).tolist() == reference.id_hash_reference(ids)
