"""numba kernels of the cost engine; each has a plain-Python twin in costing.reference.

Every kernel takes and returns plain arrays (no Python objects) and must agree with
its reference to the minor unit — tests/costing/test_kernels.py checks that property.
Money: `_minor(x) = rint(round(x, 6))` on an already-scaled amount, exactly as
costing.money does it. State arrays passed in are updated in place where documented.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EPS = 1e-9  # quantities closer than this are equal (float noise of summed scans)


@njit(cache=True, nogil=True)
def _minor(x):
    return np.int64(np.rint(np.round(x, 6)))


@njit(cache=True, nogil=True)
def rollup_kernel(order, manufactured, given, bom_ptr, bom_comp, bom_qty_eff,
                  rt_ptr, rt_wc, rt_per_unit, wc_labor, wc_overhead):
    """Standard cost bottom-up over levels -> (material, labor, overhead, rolled, std).

    A purchased item's material is its given cost; a manufactured item with a given
    cost keeps it as std (frozen) and reports the rolled value beside it.
    """
    n = given.shape[0]
    material = np.zeros(n)
    labor = np.zeros(n)
    overhead = np.zeros(n)
    rolled = np.zeros(n)
    std = np.zeros(n)
    for k in range(order.shape[0]):
        p = order[k]
        if not manufactured[p]:
            material[p] = given[p]
            rolled[p] = given[p]
            std[p] = given[p]
            continue
        m = 0.0
        for j in range(bom_ptr[p], bom_ptr[p + 1]):
            m += bom_qty_eff[j] * std[bom_comp[j]]
        lab = 0.0
        ovh = 0.0
        for s in range(rt_ptr[p], rt_ptr[p + 1]):
            lab += rt_per_unit[s] * wc_labor[rt_wc[s]]
            ovh += rt_per_unit[s] * wc_overhead[rt_wc[s]]
        material[p] = m
        labor[p] = lab
        overhead[p] = ovh
        rolled[p] = m + lab + ovh
        std[p] = rolled[p] if np.isnan(given[p]) else given[p]
    return material, labor, overhead, rolled, std


@njit(cache=True, nogil=True)
def std_through_kernel(p, operation, manufactured, std, bom_ptr, bom_comp, bom_qty_eff,
                       bom_op, rt_ptr, rt_op, rt_wc, rt_per_unit, wc_labor, wc_overhead):
    """Cost of one unit of p carried up to and including `operation`."""
    if not manufactured[p]:
        return std[p]
    m = 0.0
    for j in range(bom_ptr[p], bom_ptr[p + 1]):
        if bom_op[j] <= operation:
            m += bom_qty_eff[j] * std[bom_comp[j]]
    lab = 0.0
    ovh = 0.0
    for s in range(rt_ptr[p], rt_ptr[p + 1]):
        if rt_op[s] <= operation:
            lab += rt_per_unit[s] * wc_labor[rt_wc[s]]
            ovh += rt_per_unit[s] * wc_overhead[rt_wc[s]]
    return m + lab + ovh


@njit(cache=True, nogil=True)
def std_through_table_kernel(std, bom_ptr, bom_comp, bom_qty_eff, bom_op, rt_ptr, rt_op,
                             rt_wc, rt_per_unit, wc_labor, wc_overhead):
    """std_through of every routing step: out[s] = std_through_kernel(parent of s, rt_op[s]).

    Filled once at roll-up, so a scrap looks its value up instead of calling a kernel.
    A parent's steps are in ascending operation order (Plant sorts them), so labor and
    overhead are running sums over the same steps in the same order as
    std_through_kernel adds them: bit-identical results.
    """
    out = np.empty(rt_op.shape[0])
    for p in range(rt_ptr.shape[0] - 1):
        lab = 0.0
        ovh = 0.0
        t = rt_ptr[p]
        for s in range(rt_ptr[p], rt_ptr[p + 1]):
            op = rt_op[s]
            while t < rt_ptr[p + 1] and rt_op[t] <= op:
                lab += rt_per_unit[t] * wc_labor[rt_wc[t]]
                ovh += rt_per_unit[t] * wc_overhead[rt_wc[t]]
                t += 1
            m = 0.0
            for j in range(bom_ptr[p], bom_ptr[p + 1]):
                if bom_op[j] <= op:
                    m += bom_qty_eff[j] * std[bom_comp[j]]
            out[s] = m + lab + ovh
    return out


@njit(cache=True, nogil=True)
def explode_kernel(parents, qtys, limits, bom_ptr, bom_qty_eff, bom_op, bom_backflush,
                   rt_ptr, rt_op, rt_wc, rt_per_unit, wc_backflush):
    """Backflush of a batch of completions/scraps (event e: parent, qty, last operation).

    Returns (m_event, m_line, m_qty, l_event, l_step, l_hours): one row per backflushed
    BOM line (qty = q·qty_per·(1+scrap)) and per backflush-labor routing step
    (hours = q·(setup/lot_size + run)), events in input order.
    """
    # Branch-free: whether a line backflushes is data (unpredictable), so count it as
    # 0/1 and write every candidate row, keeping it only by advancing the cursor (the
    # outputs have one spare row for the last candidate). ~25% faster than branching.
    nm = 0
    nl = 0
    for e in range(parents.shape[0]):
        p = parents[e]
        lim = limits[e]
        for j in range(bom_ptr[p], bom_ptr[p + 1]):
            nm += bom_backflush[j] & (bom_op[j] <= lim)
        for s in range(rt_ptr[p], rt_ptr[p + 1]):
            nl += wc_backflush[rt_wc[s]] & (rt_op[s] <= lim)
    m_event = np.empty(nm + 1, np.int64)
    m_line = np.empty(nm + 1, np.int64)
    m_qty = np.empty(nm + 1)
    l_event = np.empty(nl + 1, np.int64)
    l_step = np.empty(nl + 1, np.int64)
    l_hours = np.empty(nl + 1)
    a = 0
    b = 0
    for e in range(parents.shape[0]):
        p = parents[e]
        lim = limits[e]
        q = qtys[e]
        for j in range(bom_ptr[p], bom_ptr[p + 1]):
            m_event[a] = e
            m_line[a] = j
            m_qty[a] = q * bom_qty_eff[j]
            a += bom_backflush[j] & (bom_op[j] <= lim)
        for s in range(rt_ptr[p], rt_ptr[p + 1]):
            l_event[b] = e
            l_step[b] = s
            l_hours[b] = q * rt_per_unit[s]
            b += wc_backflush[rt_wc[s]] & (rt_op[s] <= lim)
    return m_event[:nm], m_line[:nm], m_qty[:nm], l_event[:nl], l_step[:nl], l_hours[:nl]


@njit(cache=True, nogil=True)
def value_kernel(items, qtys, method, std, scale, item_qty, item_value, last_unit,
                 layer_qty, layer_value, layer_next, item_head):
    """Value a batch of consumptions in order; updates the item/layer state in place.

    method 0 standard: q·std. 1 average: q·value/qty; all remaining qty takes all the
    value; beyond stock at the last known average (else std). 2 FIFO: oldest layers
    first, a partly used layer gives round(q·value/qty); beyond the layers at the last
    consumed layer's unit cost (else std). last_unit is in minor units per unit.
    Returns (amount, short, take_cons, take_layer, take_qty, take_value).
    """
    n = items.shape[0]
    amount = np.zeros(n, np.int64)
    short = np.zeros(n)
    cap = 4 * n + 4
    take_cons = np.empty(cap, np.int64)
    take_layer = np.empty(cap, np.int64)
    take_qty = np.empty(cap)
    take_value = np.empty(cap, np.int64)
    nt = 0
    k = 0
    while True:
        k, nt = _value_run(k, items, qtys, method, std, scale, item_qty, item_value,
                           last_unit, layer_qty, layer_value, layer_next, item_head, amount,
                           short, take_cons, take_layer, take_qty, take_value, nt)
        if k == n:
            break
        # consumption k may take more layers than there is room for: grow, go on
        cap = 2 * cap + _queue_length(item_head[items[k]], layer_next, layer_qty.shape[0])
        take_cons = _grow_i(take_cons, cap)
        take_layer = _grow_i(take_layer, cap)
        take_qty = _grow_f(take_qty, cap)
        take_value = _grow_i(take_value, cap)
    return amount, short, take_cons[:nt], take_layer[:nt], take_qty[:nt], take_value[:nt]


# Why value_kernel's loop lives in its own function, without NRT: the per-consumption
# work is value_one, shared with costing.batch_kernel. Called as a function, every call
# copies ~80 words of array structs (~100 ns per consumption, 2-3x the body). Inlined
# by numba (inline="always") inside a reference-counted function, every call increfs
# and decrefs its 11 array arguments (~70 ns). Inlined into a function compiled without
# the NRT (it allocates nothing, so it needs none: arrays are borrowed from the caller),
# a consumption costs ~25 ns. value_one itself stays an ordinary function for its other
# caller; _value_one_inline is the same Python body, compiled only where inlined.
@njit(cache=True, nogil=True, _nrt=False)
def _value_run(k, items, qtys, method, std, scale, item_qty, item_value, last_unit,
               layer_qty, layer_value, layer_next, item_head, amount, short, take_cons,
               take_layer, take_qty, take_value, nt):
    """value_one of consumptions k, k+1, ... while the take_* arrays have room for the
    next one's takes; returns (first consumption not valued, takes written)."""
    n = items.shape[0]
    cap = take_cons.shape[0]
    n_layers = layer_qty.shape[0]
    while k < n:
        i = items[k]
        room = cap - nt
        if method[i] == 2 and room < n_layers and _queue_length(
                item_head[i], layer_next, room + 1) > room:
            break
        nt0 = nt
        amount[k], short[k], nt = _value_one_inline(
            i, qtys[k], method, std, scale, item_qty, item_value, last_unit, layer_qty,
            layer_value, layer_next, item_head, take_layer, take_qty, take_value, nt)
        for t in range(nt0, nt):
            take_cons[t] = k
        k += 1
    return k, nt


@njit(cache=True, nogil=True)
def _queue_length(h, layer_next, limit):
    """Layers in a FIFO queue from h, counted up to limit: a bound on one consumption's
    takes (value_one takes each layer of the item's queue at most once)."""
    c = 0
    while h != -1 and c < limit:
        c += 1
        h = layer_next[h]
    return c


@njit(cache=True, nogil=True)
def value_one(i, q, method, std, scale, item_qty, item_value, last_unit, layer_qty,
              layer_value, layer_next, item_head, take_layer, take_qty, take_value, nt):
    """Value one consumption of q of item i (the rules of value_kernel), in place.

    FIFO takes are written at take_*[nt:]; the caller guarantees room for one take per
    layer of i's queue (from item_head[i]). Returns (amount, short, nt after the takes).
    """
    on_hand = item_qty[i]
    value = item_value[i]
    amt = np.int64(0)
    left = 0.0
    if method[i] == 0:
        amt = _minor(q * std[i] * scale)
        left = q - max(on_hand, 0.0)
    elif method[i] == 1:
        if on_hand > EPS:
            unit = value / on_hand
            last_unit[i] = unit
            if q >= on_hand - EPS:
                amt = value
                left = q - on_hand
                if left > EPS:
                    amt += _minor(left * unit)
            else:
                amt = _minor(q * value / on_hand)
        else:
            left = q
            if np.isnan(last_unit[i]):
                amt = _minor(q * std[i] * scale)
            else:
                amt = _minor(q * last_unit[i])
    else:
        left = q
        h = item_head[i]
        while h != -1 and left > EPS:
            lq = layer_qty[h]
            if lq > EPS:
                lv = layer_value[h]
                last_unit[i] = lv / lq
                if left >= lq - EPS:
                    tq = lq
                    tv = lv
                else:
                    tq = left
                    tv = _minor(left * lv / lq)
                take_layer[nt] = h
                take_qty[nt] = tq
                take_value[nt] = tv
                nt += 1
                layer_qty[h] = lq - tq
                layer_value[h] = lv - tv
                amt += tv
                left -= tq
            if layer_qty[h] > EPS or layer_next[h] == -1:
                break
            h = layer_next[h]
        if h != -1:
            while layer_qty[h] <= EPS and layer_next[h] != -1:
                h = layer_next[h]
            item_head[i] = h
        if left > EPS:
            if np.isnan(last_unit[i]):
                amt += _minor(left * std[i] * scale)
            else:
                amt += _minor(left * last_unit[i])
    if left < EPS:
        left = 0.0
    item_qty[i] = on_hand - q
    item_value[i] = value - amt
    return amt, left, nt


_value_one_inline = njit(nogil=True, inline="always")(value_one.py_func)


@njit(cache=True, nogil=True)
def _grow_i(a, cap):
    out = np.empty(cap, np.int64)
    out[:a.shape[0]] = a
    return out


@njit(cache=True, nogil=True)
def _grow_f(a, cap):
    out = np.empty(cap)
    out[:a.shape[0]] = a
    return out


@njit(cache=True, nogil=True)
def variance_kernel(selected, wo_good, mat_wo, mat_item, mat_qty_eff, mat_op, mat_act_qty,
                    mat_act_value, step_start, step_count, step_op, step_per_unit,
                    step_labor, step_overhead, step_act_hours, step_scrap, std, scale):
    """The four close variances of every selected order, in minor units (+ = unfavourable).

    std_qty / std_h count the good units plus units scrapped at or after the consuming
    operation. Returns (material_usage, material_price, labor_eff, overhead_eff).
    """
    nw = selected.shape[0]
    usage = np.zeros(nw)
    at_std = np.zeros(nw)
    actual = np.zeros(nw, np.int64)
    lab = np.zeros(nw)
    ovh = np.zeros(nw)
    for r in range(mat_wo.shape[0]):
        w = mat_wo[r]
        if not selected[w]:
            continue
        units = wo_good[w]
        for s in range(step_start[w], step_start[w] + step_count[w]):
            if step_op[s] >= mat_op[r]:
                units += step_scrap[s]
        std_qty = units * mat_qty_eff[r]
        usage[w] += (mat_act_qty[r] - std_qty) * std[mat_item[r]]
        at_std[w] += mat_act_qty[r] * std[mat_item[r]]
        actual[w] += mat_act_value[r]
    for w in range(nw):
        if not selected[w]:
            continue
        for s in range(step_start[w], step_start[w] + step_count[w]):
            units = wo_good[w]
            for t in range(step_start[w], step_start[w] + step_count[w]):
                if step_op[t] >= step_op[s]:
                    units += step_scrap[t]
            diff = step_act_hours[s] - units * step_per_unit[s]
            lab[w] += diff * step_labor[s]
            ovh[w] += diff * step_overhead[s]
    out_usage = np.zeros(nw, np.int64)
    out_price = np.zeros(nw, np.int64)
    out_lab = np.zeros(nw, np.int64)
    out_ovh = np.zeros(nw, np.int64)
    for w in range(nw):
        if selected[w]:
            out_usage[w] = _minor(usage[w] * scale)
            out_price[w] = actual[w] - _minor(at_std[w] * scale)
            out_lab[w] = _minor(lab[w] * scale)
            out_ovh[w] = _minor(ovh[w] * scale)
    return out_usage, out_price, out_lab, out_ovh


@njit(cache=True, nogil=True, inline="always")
def rounding_limit(n_lines):
    """The most, in minor units, an entry of `n_lines` lines may be off by from rounding.

    The exact amounts of an entry sum to zero and each line is one of them rounded to a
    minor unit, off by at most half a unit; n lines are off by at most n/2 together, and
    the sum being whole, by at most n // 2. More is not rounding but a posting bug.
    """
    return n_lines // 2


@njit(cache=True, nogil=True)
def post_kernel(acc, amount, rounding_acc, balance):
    """One entry's signed line amounts (+ debit) -> per-account totals, balanced.

    Adds every line to `balance` (indexed by account) in place and sends the entry's
    imbalance to `rounding_acc`; returns the rounding amount that balanced it (the
    caller writes it as a line, debit if > 0).
    """
    total = np.int64(0)
    for k in range(acc.shape[0]):
        balance[acc[k]] += amount[k]
        total += amount[k]
    balance[rounding_acc] -= total
    return -total


@njit(cache=True, nogil=True)
def minor_kernel(amounts, scale):
    """Major-unit floats -> minor units, element-wise (labor, price, std lines)."""
    out = np.empty(amounts.shape[0], np.int64)
    for k in range(amounts.shape[0]):
        out[k] = _minor(amounts[k] * scale)
    return out


@njit(cache=True, nogil=True)
def id_hash_kernel(text, ends):
    """FNV-1a (64 bit, as int64) of each id: id k is text[ends[k]:ends[k+1]] (UTF-8).
    The same in every process, unlike Python's str hash: an id index hashed once stays
    valid in a snapshot."""
    n = len(ends) - 1
    out = np.empty(n, np.int64)
    for k in range(n):
        h = np.uint64(0xCBF29CE484222325)
        for j in range(ends[k], ends[k + 1]):
            h = (h ^ np.uint64(text[j])) * np.uint64(0x100000001B3)
        out[k] = np.int64(h)
    return out
