"""Kernel stage: every cost-engine kernel against its plain-Python reference, same input.

Inputs come from a synthetic plant (thousands of items, a multi-level BOM) and a
generated stream: the roll-up over every item, std_through of every routing step,
backflush explosion of the stream's completions and scraps, valuation of its
consumptions against FIFO layers and moving averages, the close variances of thousands
of orders, posting of every entry's lines, and rounding of every amount. Each pair runs
on its own copy of the state it updates, the results are compared (a ratio of two
different answers is worthless), and the timings are per pass: a fast kernel is
repeated until the clock can see it.

Both sides of a pair are timed the same way (`_timed`): warm (the kernel loaded from its
cache, the reference run once on a slice), the same least number of passes, each pass
until the clock can see it, the mean per pass. Inputs are converted before the clock
starts, on both sides: the kernel gets arrays, the reference lists of ints and floats
(`.tolist()`), and a pass that updates state gets a fresh copy made outside its timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from costing import kernels as K
from costing import reference as R
from costing.plant import FIFO, Plant
from costing.rollup import roll_up

MIN_TIMED_S = 0.05  # repeat a pass until at least this much time has passed
MIN_PASSES = 3  # and at least this many times, on both sides


class KernelMismatch(AssertionError):
    """A kernel and its reference disagreed: the kernel is wrong, the ratio meaningless."""


def _timed(fn: Callable[..., object], fresh: Callable[[], tuple] = tuple
           ) -> tuple[float, object, tuple]:
    """Mean seconds per pass of fn(*fresh()), the last result and the arguments it got;
    `fresh` (untimed) makes each pass's arguments."""
    passes, total, result, args = 0, 0.0, None, ()
    while total < MIN_TIMED_S or passes < MIN_PASSES:
        args = fresh()
        t0 = time.perf_counter()
        result = fn(*args)
        total += time.perf_counter() - t0
        passes += 1
    return total / passes, result, args


def _lists(args: tuple) -> tuple:
    """The reference's inputs: arrays as lists of Python ints and floats, scalars as such."""
    return tuple(a.tolist() if isinstance(a, np.ndarray) else
                 a.item() if isinstance(a, np.generic) else a for a in args)


def _pair(name: str, kernel: Callable, reference: Callable, args: tuple) -> tuple[float, float]:
    """Time a stateless kernel and its reference on the same input; compare the results."""
    ref_args = _lists(args)
    kernel(*args)  # the kernel loaded from its on-disk cache, the reference's first pass
    reference(*ref_args)
    tn, a, _ = _timed(kernel, lambda: args)
    tr, b, _ = _timed(reference, lambda: ref_args)
    _same(name, a, b)
    return tn, tr


def _same(name: str, a, b) -> None:
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    for k, (x, y) in enumerate(zip(a, b)):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or not np.allclose(x.astype(np.float64), y.astype(np.float64),
                                                 rtol=1e-12, atol=1e-9, equal_nan=True):
            raise KernelMismatch(f"{name}: output {k} differs from the reference")


def _row(name: str, events: int, numba_s: float, reference_s: float) -> dict:
    return {"name": name, "events": events, "numba_s": float(f"{numba_s:.4g}"),
            "reference_s": float(f"{reference_s:.4g}"),
            "ratio": round(reference_s / numba_s, 1) if numba_s > 0 else None}


def bench_kernels(plant: Plant, n_events: int, n_orders: int, seed: int = 3) -> list[dict]:
    """One row per kernel: {name, events, numba_s, reference_s, ratio}."""
    rng = np.random.default_rng(seed)
    pl = plant
    rows = []
    made = np.flatnonzero(pl.manufactured)
    std = roll_up(pl).std_array

    # -- standard-cost roll-up over the whole plant ---------------------------------
    args = (pl.order, pl.manufactured, pl.given, pl.bom_ptr, pl.bom_comp, pl.bom_qty_eff,
            pl.rt_ptr, pl.rt_wc, pl.rt_per_unit, pl.wc_labor, pl.wc_overhead)
    tn, tr = _pair("rollup", K.rollup_kernel, R.rollup_reference, args)
    rows.append(_row("rollup", len(pl.skus), tn, tr))

    # -- completions and scraps of the stream: parent, qty, last operation ------------
    parents = rng.choice(made, n_events)
    qtys = rng.integers(1, 20, n_events).astype(np.float64)
    last_op = np.array([pl.rt_op[pl.rt_ptr[p + 1] - 1] if pl.rt_ptr[p + 1] > pl.rt_ptr[p]
                        else 0 for p in range(len(pl.skus))], np.int64)
    limits = np.where(rng.random(n_events) < 0.8, np.iinfo(np.int64).max,
                      last_op[parents] - 10)
    args = (parents, qtys, limits, pl.bom_ptr, pl.bom_qty_eff, pl.bom_op, pl.bom_backflush,
            pl.rt_ptr, pl.rt_op, pl.rt_wc, pl.rt_per_unit, pl.wc_backflush)
    tn, tr = _pair("explode", K.explode_kernel, R.explode_reference, args)
    rows.append(_row("explode", n_events, tn, tr))

    # std_through: the roll-up fills it for every routing step of every manufactured
    # item in one call (Rollup.through_array), and a scrap event looks its value up.
    args = (std, pl.bom_ptr, pl.bom_comp, pl.bom_qty_eff, pl.bom_op, pl.rt_ptr, pl.rt_op,
            pl.rt_wc, pl.rt_per_unit, pl.wc_labor, pl.wc_overhead)
    tn, tr = _pair("std_through", K.std_through_table_kernel, R.std_through_table_reference,
                   args)
    rows.append(_row("std_through", len(pl.rt_op), tn, tr))

    # -- valuation of consumptions: FIFO layers, moving averages, standard -------------
    rows.append(_bench_value(pl, std, n_events, rng))

    # -- close variances of many orders -------------------------------------------------
    rows.append(_bench_variance(pl, std, n_orders, rng))

    # -- posting: every entry's signed lines into the account balances ------------------
    n_lines = 6 * n_events
    acc = rng.integers(0, 24, n_lines).astype(np.int64)
    amount = rng.integers(-500_000, 500_000, n_lines).astype(np.int64)
    acc_l, amount_l = acc.tolist(), amount.tolist()
    K.post_kernel(acc, amount, 23, np.zeros(24, np.int64))
    R.post_reference(acc_l, amount_l, 23, [0] * 24)
    tn, a, (*_, bal_n) = _timed(K.post_kernel, lambda: (acc, amount, 23, np.zeros(24, np.int64)))
    tr, b, (*_, bal_r) = _timed(R.post_reference, lambda: (acc_l, amount_l, 23, [0] * 24))
    _same("post", (a, bal_n), (b, bal_r))
    rows.append(_row("post", n_lines, tn, tr))

    # -- rounding of amounts to minor units -----------------------------------------------
    amounts = rng.uniform(0, 5000, n_events) * rng.uniform(0.5, 3, n_events)
    tn, tr = _pair("minor", K.minor_kernel, R.minor_reference, (amounts, pl.scale))
    rows.append(_row("minor", n_events, tn, tr))
    return rows


def _bench_value(pl: Plant, std: np.ndarray, n: int, rng) -> dict:
    n_items = len(pl.skus)
    purchased = np.flatnonzero(~pl.manufactured)
    # Opening state: every purchased item on hand; FIFO items with a queue of layers.
    item_qty = np.zeros(n_items)
    item_value = np.zeros(n_items, np.int64)
    last_unit = np.full(n_items, np.nan)
    head = np.full(n_items, -1, np.int64)
    l_qty, l_val, l_next = [], [], []
    per_layer = 200.0
    for i in purchased:
        unit = std[i] * pl.scale
        if pl.method[i] == FIFO:
            prev = -1
            for _ in range(40):
                k = len(l_qty)
                l_qty.append(per_layer)
                l_val.append(int(round(per_layer * unit * rng.uniform(0.9, 1.1))))
                l_next.append(-1)
                if prev == -1:
                    head[i] = k
                else:
                    l_next[prev] = k
                prev = k
            item_qty[i] = 40 * per_layer
            item_value[i] = sum(l_val[-40:])
        else:
            item_qty[i] = 40 * per_layer
            item_value[i] = int(round(item_qty[i] * unit))
    items = rng.choice(purchased, n).astype(np.int64)
    qtys = np.round(rng.uniform(0.5, 30, n), 3)
    state = (item_qty, item_value, last_unit, np.array(l_qty), np.array(l_val, np.int64),
             np.array(l_next, np.int64), head)

    def fresh():
        return tuple(x.copy() for x in state)

    args = (items, qtys, pl.method, std, pl.scale)
    ref_args, ref_state = _lists(args), _lists(state)

    def fresh_lists():
        return (*ref_args, *(list(x) for x in ref_state))
    K.value_kernel(*args, *fresh())  # loaded from the on-disk cache; a first pass of each
    R.value_reference(*fresh_lists())
    tn, a, s_n = _timed(K.value_kernel, lambda: (*args, *fresh()))
    tr, b, s_r = _timed(R.value_reference, fresh_lists)
    _same("value", a + s_n[len(args):], b + s_r[len(args):])
    return _row("value", n, tn, tr)


def _bench_variance(pl: Plant, std: np.ndarray, n_orders: int, rng) -> dict:
    made = np.flatnonzero(pl.manufactured)
    orders = rng.choice(made, n_orders)
    good = rng.integers(10, 200, n_orders).astype(np.float64)
    mat_wo, mat_item, mat_eff, mat_op = [], [], [], []
    step_start, step_count, step_op, step_pu, step_lab, step_ovh = [], [], [], [], [], []
    for w, p in enumerate(orders.tolist()):
        for j in range(pl.bom_ptr[p], pl.bom_ptr[p + 1]):
            mat_wo.append(w)
            mat_item.append(pl.bom_comp[j])
            mat_eff.append(pl.bom_qty_eff[j])
            mat_op.append(pl.bom_op[j])
        step_start.append(len(step_op))
        step_count.append(pl.rt_ptr[p + 1] - pl.rt_ptr[p])
        for s in range(pl.rt_ptr[p], pl.rt_ptr[p + 1]):
            step_op.append(pl.rt_op[s])
            step_pu.append(pl.rt_per_unit[s])
            step_lab.append(pl.wc_labor[pl.rt_wc[s]])
            step_ovh.append(pl.wc_overhead[pl.rt_wc[s]])
    mat_wo = np.array(mat_wo, np.int64)
    mat_eff = np.array(mat_eff)
    units = good[mat_wo]
    act_qty = np.round(units * mat_eff * rng.uniform(0.95, 1.08, len(mat_wo)), 3)
    act_val = np.round(act_qty * std[np.array(mat_item)] * pl.scale *
                       rng.uniform(0.97, 1.05, len(mat_wo))).astype(np.int64)
    n_steps = len(step_op)
    args = (np.ones(n_orders, np.bool_), good, mat_wo, np.array(mat_item, np.int64), mat_eff,
            np.array(mat_op, np.int64), act_qty, act_val, np.array(step_start, np.int64),
            np.array(step_count, np.int64), np.array(step_op, np.int64), np.array(step_pu),
            np.array(step_lab), np.array(step_ovh),
            np.round(rng.uniform(0.5, 40, n_steps), 2),
            rng.integers(0, 4, n_steps).astype(np.float64), std, pl.scale)
    tn, tr = _pair("variance", K.variance_kernel, R.variance_reference, args)
    return _row("variance", n_orders, tn, tr)
