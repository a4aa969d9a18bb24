"""Plain-Python twins of costing.kernels: same contract, same arithmetic order.

Written the way a careful Python programmer would: lists of ints and floats in (the
caller converts arrays with `.tolist()`), lists out, builtin `round`. They exist to be
obviously right, to check the kernels against, and as the other side of the
`gateway bench` ratios (gateway/bench/kernels.py times both the same way).
"""

from __future__ import annotations

import math

EPS = 1e-9


def _minor(x: float) -> int:
    """costing.money.round_minor in builtins: to 6 decimals (float noise), then half-even.

    `round(x * 1e6) / 1e6` is numpy's own arithmetic for 6 decimals (scale, round half
    to even, unscale), so the two agree to the bit; `round(x, 6)` rounds the decimal
    expansion instead, and costs twice as much."""
    return round(round(x * 1e6) / 1e6)


def rollup_reference(order, manufactured, given, bom_ptr, bom_comp, bom_qty_eff,
                     rt_ptr, rt_wc, rt_per_unit, wc_labor, wc_overhead):
    n = len(given)
    material, labor, overhead, rolled, std = ([0.0] * n for _ in range(5))
    for p in order:
        if not manufactured[p]:
            material[p] = rolled[p] = std[p] = given[p]
            continue
        m = 0.0
        for j in range(bom_ptr[p], bom_ptr[p + 1]):
            m += bom_qty_eff[j] * std[bom_comp[j]]
        lab = ovh = 0.0
        for s in range(rt_ptr[p], rt_ptr[p + 1]):
            lab += rt_per_unit[s] * wc_labor[rt_wc[s]]
            ovh += rt_per_unit[s] * wc_overhead[rt_wc[s]]
        material[p], labor[p], overhead[p] = m, lab, ovh
        rolled[p] = m + lab + ovh
        std[p] = rolled[p] if math.isnan(given[p]) else given[p]
    return material, labor, overhead, rolled, std


def std_through_reference(p, operation, manufactured, std, bom_ptr, bom_comp, bom_qty_eff,
                          bom_op, rt_ptr, rt_op, rt_wc, rt_per_unit, wc_labor, wc_overhead):
    if not manufactured[p]:
        return std[p]
    m = 0.0
    for j in range(bom_ptr[p], bom_ptr[p + 1]):
        if bom_op[j] <= operation:
            m += bom_qty_eff[j] * std[bom_comp[j]]
    lab = ovh = 0.0
    for s in range(rt_ptr[p], rt_ptr[p + 1]):
        if rt_op[s] <= operation:
            lab += rt_per_unit[s] * wc_labor[rt_wc[s]]
            ovh += rt_per_unit[s] * wc_overhead[rt_wc[s]]
    return m + lab + ovh


def std_through_table_reference(std, bom_ptr, bom_comp, bom_qty_eff, bom_op, rt_ptr, rt_op,
                                 rt_wc, rt_per_unit, wc_labor, wc_overhead):
    out = [0.0] * len(rt_op)
    for p in range(len(rt_ptr) - 1):
        lab = ovh = 0.0
        t, end = rt_ptr[p], rt_ptr[p + 1]
        for s in range(rt_ptr[p], end):
            op = rt_op[s]
            while t < end and rt_op[t] <= op:
                lab += rt_per_unit[t] * wc_labor[rt_wc[t]]
                ovh += rt_per_unit[t] * wc_overhead[rt_wc[t]]
                t += 1
            m = 0.0
            for j in range(bom_ptr[p], bom_ptr[p + 1]):
                if bom_op[j] <= op:
                    m += bom_qty_eff[j] * std[bom_comp[j]]
            out[s] = m + lab + ovh
    return out


def explode_reference(parents, qtys, limits, bom_ptr, bom_qty_eff, bom_op, bom_backflush,
                      rt_ptr, rt_op, rt_wc, rt_per_unit, wc_backflush):
    mats, labs = [], []
    for e, p in enumerate(parents):
        for j in range(bom_ptr[p], bom_ptr[p + 1]):
            if bom_backflush[j] and bom_op[j] <= limits[e]:
                mats.append((e, j, qtys[e] * bom_qty_eff[j]))
        for s in range(rt_ptr[p], rt_ptr[p + 1]):
            if wc_backflush[rt_wc[s]] and rt_op[s] <= limits[e]:
                labs.append((e, s, qtys[e] * rt_per_unit[s]))
    return ([m[0] for m in mats], [m[1] for m in mats], [m[2] for m in mats],
            [x[0] for x in labs], [x[1] for x in labs], [x[2] for x in labs])


def value_reference(items, qtys, method, std, scale, item_qty, item_value, last_unit,
                    layer_qty, layer_value, layer_next, item_head):
    """Same contract as kernels.value_kernel; mutates the given lists/arrays in place."""
    amounts, shorts, takes = [], [], []
    for k, (i, q) in enumerate(zip(items, qtys)):
        on_hand = item_qty[i]
        value = item_value[i]
        amt = 0
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
                    left = 0.0
                    amt = _minor(q * value / on_hand)
            else:
                left = q
                amt = (_minor(q * std[i] * scale) if math.isnan(last_unit[i])
                       else _minor(q * last_unit[i]))
        else:
            left = q
            h = item_head[i]
            while h != -1 and left > EPS:
                lq = layer_qty[h]
                if lq > EPS:
                    lv = layer_value[h]
                    last_unit[i] = lv / lq
                    if left >= lq - EPS:
                        tq, tv = lq, lv
                    else:
                        tq, tv = left, _minor(left * lv / lq)
                    takes.append((k, h, tq, tv))
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
                amt += (_minor(left * std[i] * scale) if math.isnan(last_unit[i])
                        else _minor(left * last_unit[i]))
        amounts.append(amt)
        shorts.append(left if left >= EPS else 0.0)
        item_qty[i] = on_hand - q
        item_value[i] = value - amt
    return (amounts, shorts, [t[0] for t in takes], [t[1] for t in takes],
            [t[2] for t in takes], [t[3] for t in takes])


def variance_reference(selected, wo_good, mat_wo, mat_item, mat_qty_eff, mat_op, mat_act_qty,
                       mat_act_value, step_start, step_count, step_op, step_per_unit,
                       step_labor, step_overhead, step_act_hours, step_scrap, std, scale):
    nw = len(selected)
    usage, at_std, lab, ovh = [0.0] * nw, [0.0] * nw, [0.0] * nw, [0.0] * nw
    actual = [0] * nw

    def units_from(w, op):
        units = wo_good[w]
        for s in range(step_start[w], step_start[w] + step_count[w]):
            if step_op[s] >= op:
                units += step_scrap[s]
        return units

    for r in range(len(mat_wo)):
        w = mat_wo[r]
        if not selected[w]:
            continue
        std_qty = units_from(w, mat_op[r]) * mat_qty_eff[r]
        usage[w] += (mat_act_qty[r] - std_qty) * std[mat_item[r]]
        at_std[w] += mat_act_qty[r] * std[mat_item[r]]
        actual[w] += mat_act_value[r]
    for w in range(nw):
        if not selected[w]:
            continue
        for s in range(step_start[w], step_start[w] + step_count[w]):
            diff = step_act_hours[s] - units_from(w, step_op[s]) * step_per_unit[s]
            lab[w] += diff * step_labor[s]
            ovh[w] += diff * step_overhead[s]
    out = ([0] * nw, [0] * nw, [0] * nw, [0] * nw)
    for w in range(nw):
        if selected[w]:
            out[0][w] = _minor(usage[w] * scale)
            out[1][w] = actual[w] - _minor(at_std[w] * scale)
            out[2][w] = _minor(lab[w] * scale)
            out[3][w] = _minor(ovh[w] * scale)
    return out


def post_reference(acc, amount, rounding_acc, balance):
    total = 0
    for a, x in zip(acc, amount):
        balance[a] += x
        total += x
    balance[rounding_acc] -= total
    return -total


def minor_reference(amounts, scale):
    return [_minor(x * scale) for x in amounts]


def id_hash_reference(ids):
    """FNV-1a 64 of each id's UTF-8 bytes, as a signed 64-bit int."""
    out = []
    for s in ids:
        h = 0xCBF29CE484222325
        for byte in s.encode():
            h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        out.append(h - (1 << 64) if h >= 1 << 63 else h)
    return out
