"""The batch kernel: values and posts a whole encoded run of events in one numba call.

`run_batch(run, plant, state, out, start)` applies events start.. of `run.events` in
order, exactly as `Engine.apply_one` would (same arithmetic, same order of lines and
effects), against the plant's tables (`Plant`: costs, BOM, routings), updating the
stock and orders of `state` in place and writing journal lines, effects, alerts and
each event's buffer ends into `out`. A reversal undoes the effects and negates the
lines of an event earlier in the run (read back from `out`) or of one accepted before
it (handed in as `run.past`). Encoding (costing.batch) has already validated every
event, interned every id and created every order and material row, so nothing here
can reject. When a buffer might overflow it stops before the event and returns its
index; the caller grows the buffers and calls again.
Its plain-Python twin is `python_reference()` (same code, run by the interpreter).

Each argument is a NamedTuple of NamedTuples of numpy arrays, every field named and
typed below. Why the state comes in small groups: numba passes a tuple argument by
value, field by field, so a helper handed one 50-array tuple costs a microsecond a
call. `run_batch` takes the four groups once; each helper takes only the parts it
touches.

Why the loop (`_run`) and its helpers are compiled without numba's reference counting
(`_nrt=False`): with it, every helper call increfs and decrefs each array it is handed
(a NamedTuple's fields, one by one; atomic operations): ~0.8 of the kernel's ~1.05 us
an event on a receipt/shipment stream. They allocate nothing (their
arrays are borrowed from the caller), so they need none; `run_batch` allocates the
scratch arrays and calls `_run`. `value_one` is inlined (`_value_one_inline`) for the
same reason.

Why its helpers (lines, stock moves, work orders, reversals, money) stay in this one
file although they have seams: numba's `cache=True` checks only the source file of the
function it caches, so editing a helper that lives in another module leaves the cached
`run_batch` (which inlines it) stale until this file changes too. After editing
`costing.kernels` (value_one), remove `costing/__pycache__/*.nbi` and `*.nbc`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from costing.batch_columns import (
    A_DRAW, A_ROUNDING, A_TRANSFER, A_VALUE, C_ALERT, C_BAD, C_BAD_END, C_CREATED, C_EFF,
    C_LAYER, C_LINE, CLOSE_WO, COMPLETION, COUNT, CUSTOMER_PAYMENT, ISSUE, LABOR,
    M_COMPLETION, M_COMPLETION_BF, M_COUNT, M_IPV, M_ISSUE, M_MUV, M_PPV, M_REST, M_ROUND,
    M_SCRAP_BF, NO_LIMIT, PAYMENT, R_ADJ, R_AP, R_AR, R_BANK, R_COGS, R_GRNI, R_IPV, R_LAB,
    R_MUV, R_OVH, R_PPV, R_REV, R_ROUND, R_SCRAP, R_WIP, RECEIPT, RELEASE, REVERSAL, SCRAP,
    SHIPMENT, SUPPLIER_INVOICE, TRANSFER,
)
from costing.effects import (AP_BILL, AP_PAY, AR_BILL, AR_PAY, CLOSE, GOOD, ITEM, LAYER,
                             MAT, MAT_NEW, RCV, ROW, SO_COGS, STEP, TAKE, WIP, WO_NEW)
from costing.kernels import EPS, _minor, _value_one_inline, rounding_limit


@njit(cache=True, nogil=True, inline="always")
def _eff(log, ctr, kind, a, x, v, y):
    k = ctr[C_EFF]
    log.ints[0, k] = kind
    log.ints[1, k] = a
    log.ints[2, k] = v
    log.floats[0, k] = x
    log.floats[1, k] = y
    ctr[C_EFF] = k + 1


@njit(cache=True, nogil=True, inline="always")
def _line(lines, ctr, acc, amount, item, wo, wc, memo):
    """One signed line (+ debit); the entry's running total is the caller's."""
    k = ctr[C_LINE]
    c = lines.cols
    c[0, k] = acc
    c[1, k] = amount
    c[2, k] = item
    c[3, k] = wo
    c[4, k] = wc
    c[5, k] = memo
    ctr[C_LINE] = k + 1
    lines.balance[acc] += amount
    lines.touched[acc] = True


@njit(cache=True, nogil=True, inline="always")
def _pair(lines, ctr, debit, credit, amount, item, wo, wc, memo):
    if amount != 0:
        _line(lines, ctr, debit, amount, item, wo, wc, memo)
        _line(lines, ctr, credit, -amount, item, wo, wc, memo)


@njit(cache=True, nogil=True, inline="always")
def _close_entry(lines, ctr, first, round_acc, memo):
    """Balance the entry of lines [first, ctr[C_LINE]) with a rounding line, or refuse it.

    An imbalance beyond `rounding_limit` takes its lines' amounts back out of the
    balances, leaves them in the buffer up to ctr[C_BAD_END] for the caller's message,
    and returns False.
    """
    end = ctr[C_LINE]
    total = np.int64(0)
    for k in range(first, end):
        total += lines.cols[1, k]
    if abs(total) > rounding_limit(end - first):
        for k in range(first, end):
            lines.balance[lines.cols[0, k]] -= lines.cols[1, k]
        ctr[C_LINE] = first
        ctr[C_BAD_END] = end
        return False
    if total != 0:
        _line(lines, ctr, round_acc, -total, 0, 0, 0, memo)
    return True


@njit(cache=True, nogil=True, inline="always")
def _alert(alerts, ctr, kind, a, f1, f2):
    k = ctr[C_ALERT]
    alerts.ints[0, k] = kind
    alerts.ints[1, k] = a
    alerts.floats[0, k] = f1
    alerts.floats[1, k] = f2
    ctr[C_ALERT] = k + 1


@njit(cache=True, nogil=True, inline="always")
def _move(rows, log, ctr, r, dq):
    """A stock-row quantity change; the row exists (joins its lot chain) once moved."""
    if rows.seq[r] == -1:
        rows.seq[r] = ctr[C_CREATED]
        ctr[C_CREATED] += 1
        g = rows.group[r]
        if g != -1:
            if rows.group_tail[g] == -1:
                rows.group_head[g] = r
            else:
                rows.next[rows.group_tail[g]] = r
            rows.group_tail[g] = r
            rows.group_len[g] += 1
    rows.qty[r] += dq
    _eff(log, ctr, ROW, r, dq, 0, 0.0)


@njit(cache=True, nogil=True, _nrt=False)
def _draw(rows, log, alerts, ctr, first, group, q):
    """Available stock at the first row, then the lot chain oldest first; short → first."""
    left = q
    have = rows.qty[first]
    if have > EPS and left > EPS:
        take = min(have, left)
        _move(rows, log, ctr, first, -take)
        left -= take
    r = rows.group_head[group] if group != -1 else -1
    while r != -1:
        have = rows.qty[r]
        if have > EPS and left > EPS:
            take = min(have, left)
            _move(rows, log, ctr, r, -take)
            left -= take
        r = rows.next[r]
    if left > EPS:
        _move(rows, log, ctr, first, -left)
        _alert(alerts, ctr, A_DRAW, first, left, 0.0)


@njit(cache=True, nogil=True, inline="always")
def _add(method, items, log, ctr, i, q, amount):
    """Stock in at a known amount (costing.inventory.Inventory.add)."""
    u0 = items.last_unit[i]
    items.qty[i] += q
    items.value[i] += amount
    if method[i] == 2:
        layer = ctr[C_LAYER]
        ctr[C_LAYER] = layer + 1
        items.layer_qty[layer] = q
        items.layer_value[layer] = amount
        items.layer_next[layer] = -1
        items.layer_item[layer] = i
        if items.tail[i] == -1:
            items.head[i] = layer
        else:
            items.layer_next[items.tail[i]] = layer
            h = items.head[i]
            while h != layer and items.layer_qty[h] <= EPS:
                h = items.layer_next[h]
            items.head[i] = h
        items.tail[i] = layer
        _eff(log, ctr, LAYER, layer, q, amount, 0.0)
    elif items.qty[i] > EPS:
        items.last_unit[i] = items.value[i] / items.qty[i]
    _eff(log, ctr, ITEM, i, q, amount, u0)


@njit(cache=True, nogil=True, _nrt=False)
def _value_out(method, std, scale, items, log, alerts, ctr, which, qtys, n, amounts, uniq, q0,
               v0, u0):
    """Value n consumptions in order: takes, then one item effect per item (sorted)."""
    nu = 0
    for k in range(n):
        i = which[k]
        pos = 0
        while pos < nu and uniq[pos] < i:
            pos += 1
        if pos < nu and uniq[pos] == i:
            continue
        for m in range(nu, pos, -1):
            uniq[m] = uniq[m - 1]
        uniq[pos] = i
        nu += 1
    for m in range(nu):
        i = uniq[m]
        q0[m] = items.qty[i]
        v0[m] = items.value[i]
        u0[m] = items.last_unit[i]
    for k in range(n):
        i = which[k]
        nt0 = ctr[C_EFF]
        amt, short, nt = _value_one_inline(
            i, qtys[k], method, std, scale, items.qty, items.value, items.last_unit,
            items.layer_qty, items.layer_value, items.layer_next, items.head, log.ints[1],
            log.floats[0], log.ints[2], nt0)
        for t in range(nt0, nt):
            log.ints[0, t] = TAKE
            log.floats[1, t] = 0.0
        ctr[C_EFF] = nt
        amounts[k] = amt
        qtys[k] = short  # reused: the shortfall of consumption k
    for m in range(nu):
        i = uniq[m]
        _eff(log, ctr, ITEM, i, items.qty[i] - q0[m], items.value[i] - v0[m], u0[m])
    for k in range(n):
        if qtys[k] > EPS:
            _alert(alerts, ctr, A_VALUE, which[k], qtys[k], 0.0)


@njit(cache=True, nogil=True, _nrt=False)
def _hours(cost, route, lines, log, ctr, wo_item, wo_name, step_start, step_act_hours, w, s,
           hours, prefix):
    """Hours at routing step s: labor and overhead into WIP (Engine._hours)."""
    wc = route.wc[s]
    labor = _minor(hours * route.wc_labor[wc] * cost.scale)
    overhead = _minor(hours * route.wc_overhead[wc] * cost.scale)
    p = wo_item[w]
    item, wo, wcn = cost.item_name[p], wo_name[w], route.wc_name[wc]
    _pair(lines, ctr, cost.acc[R_WIP], cost.acc[R_LAB], labor, item, wo, wcn,
          route.hours_memo[prefix, 0, s])
    _pair(lines, ctr, cost.acc[R_WIP], cost.acc[R_OVH], overhead, item, wo, wcn,
          route.hours_memo[prefix, 1, s])
    row = step_start[w] + s - route.ptr[p]
    step_act_hours[row] += hours
    _eff(log, ctr, STEP, row, hours, 0, 0.0)
    return labor + overhead


@njit(cache=True, nogil=True, _nrt=False)
def _backflush(cost, bom, route, items, rows, lines, log, alerts, ctr, orders, w, q, limit,
               prefix, tmp_i, tmp_f):
    """Components and backflush labor of q units through operation `limit`."""
    comps, bom_rows, amounts, uniq, v0 = tmp_i[0], tmp_i[1], tmp_i[2], tmp_i[3], tmp_i[4]
    qtys, q0, u0, mat_q = tmp_f[0], tmp_f[1], tmp_f[2], tmp_f[3]
    p = orders.item[w]
    n = 0
    for j in range(bom.ptr[p], bom.ptr[p + 1]):
        if bom.backflush[j] and bom.op[j] <= limit:
            bom_rows[n] = j
            comps[n] = bom.comp[j]
            qtys[n] = q * bom.qty_eff[j]
            mat_q[n] = qtys[n]
            n += 1
    base = orders.bf_start[w] - bom.ptr[p]
    for k in range(n):
        j = bom_rows[k]
        _draw(rows, log, alerts, ctr, orders.bf_row[base + j], orders.bf_group[base + j],
              qtys[k])
    _value_out(cost.method, cost.std, cost.scale, items, log, alerts, ctr, comps, qtys, n,
               amounts, uniq, q0, v0, u0)
    wip = np.int64(0)
    memo = cost.memo[M_COMPLETION_BF if prefix == 0 else M_SCRAP_BF]
    mbase = orders.mat_start[w] - bom.ptr[p]
    for k in range(n):
        j, c, amount = bom_rows[k], comps[k], amounts[k]
        _pair(lines, ctr, cost.acc[R_WIP], cost.inv_acc[c], amount, cost.item_name[c],
              orders.name[w], bom.wc_name[j], memo)
        r = mbase + j
        orders.mat_act_qty[r] += mat_q[k]
        orders.mat_act_value[r] += amount
        _eff(log, ctr, MAT, r, mat_q[k], amount, 0.0)
        wip += amount
    for s in range(route.ptr[p], route.ptr[p + 1]):
        if route.wc_backflush[route.wc[s]] and route.op[s] <= limit:
            wip += _hours(cost, route, lines, log, ctr, orders.item, orders.name,
                          orders.step_start, orders.step_act_hours,
                          w, s, q * route.per_unit[s], prefix)
    return wip


@njit(cache=True, nogil=True, _nrt=False)
def _variances(cost, bom, orders, w, xoff, nx):
    """The four close variances of order w (costing.kernels.variance_kernel for one)."""
    usage = 0.0
    at_std = 0.0
    actual = np.int64(0)
    p = orders.item[w]
    s0, s1 = orders.step_start[w], orders.step_start[w] + orders.step_count[w]
    nb = bom.ptr[p + 1] - bom.ptr[p]
    for k in range(nb + nx):
        r = orders.mat_start[w] + k if k < nb else orders.xrows[xoff + k - nb]
        units = orders.good[w]
        for s in range(s0, s1):
            if orders.step_op[s] >= orders.mat_op[r]:
                units += orders.step_scrap[s]
        std_qty = units * orders.mat_qty_eff[r]
        usage += (orders.mat_act_qty[r] - std_qty) * cost.std[orders.mat_item[r]]
        at_std += orders.mat_act_qty[r] * cost.std[orders.mat_item[r]]
        actual += orders.mat_act_value[r]
    lab = 0.0
    ovh = 0.0
    for s in range(s0, s1):
        units = orders.good[w]
        for t in range(s0, s1):
            if orders.step_op[t] >= orders.step_op[s]:
                units += orders.step_scrap[t]
        diff = orders.step_act_hours[s] - units * orders.step_per_unit[s]
        lab += diff * orders.step_labor[s]
        ovh += diff * orders.step_overhead[s]
    return (_minor(usage * cost.scale), actual - _minor(at_std * cost.scale),
            _minor(lab * cost.scale), _minor(ovh * cost.scale))


@njit(cache=True, nogil=True, inline="always")
def _takes_bound(method, items, i, q):
    """FIFO takes valuing q of item i can write: the non-empty layers that cover q."""
    n = 2
    if method[i] != 2:
        return n
    left = q
    h = items.head[i]
    while h != -1 and left > 0.0:
        if items.layer_qty[h] > EPS:
            n += 1
            left -= items.layer_qty[h]
        h = items.layer_next[h]
    return n


@njit(cache=True, nogil=True, inline="always")
def _bounds(t, w, q, i, group, row, method, bom, route, items, rows, wo_item, bf_start,
            bf_group):
    """Upper bounds of (effects, lines, alerts) one event can write."""
    if t == COMPLETION or t == SCRAP:
        p = wo_item[w]
        base = bf_start[w] - bom.ptr[p]
        ne, nl = 10, 4
        total = 0.0  # every line's bound covers the whole event: lines may share an item
        for j in range(bom.ptr[p], bom.ptr[p + 1]):
            total += q * bom.qty_eff[j]
        for j in range(bom.ptr[p], bom.ptr[p + 1]):
            g = bf_group[base + j]
            ne += 4 + _takes_bound(method, items, bom.comp[j], total) + (
                rows.group_len[g] if g != -1 else 0)
            nl += 2
        nsteps = route.ptr[p + 1] - route.ptr[p]
        return ne + nsteps, nl + 4 * nsteps, 2 * (bom.ptr[p + 1] - bom.ptr[p]) + 2
    if t == ISSUE or t == SHIPMENT or t == COUNT:
        if t == COUNT:
            q += abs(rows.qty[row])
        return (8 + _takes_bound(method, items, i,
                                 q) + (rows.group_len[group] if group != -1 else 0),
                6, 3)
    return 8, 12, 2


@njit(cache=True, nogil=True, _nrt=False)
def _undo(kind, a, x, v, y, items, rows, orders, money, ctr):
    """Undo one effect (Inventory.undo, WorkOrders.undo and Settlement.undo for the kinds
    a run's reversal can meet: never a new order, a new material row or a close)."""
    if kind >= RCV:
        _undo_money(kind, a, x, v, money)
    elif kind == ROW:
        rows.qty[a] -= x
    elif kind == ITEM:
        items.qty[a] -= x
        items.value[a] -= v
        items.last_unit[a] = y
    elif kind == TAKE:
        items.layer_qty[a] += x
        items.layer_value[a] += v
        i = items.layer_item[a]
        h = items.head[i]
        if h == -1 or a < h or items.layer_qty[h] <= EPS:
            items.head[i] = a
    elif kind == LAYER:
        items.layer_qty[a] -= x
        items.layer_value[a] -= v
        i = items.layer_item[a]
        if (a == ctr[C_LAYER] - 1 and abs(items.layer_qty[a]) <= EPS
                and items.layer_value[a] == 0):
            prev = -1  # the newest layer: unlink and drop it (Inventory._drop_last_layer)
            for k in range(a - 1, -1, -1):
                if items.layer_item[k] == i:
                    prev = k
                    break
            if prev != -1:
                items.layer_next[prev] = -1
            items.tail[i] = prev
            if items.head[i] == a:
                items.head[i] = prev
            ctr[C_LAYER] = a
    elif kind == WIP:
        orders.wip[a] -= v
    elif kind == GOOD:
        orders.good[a] -= x
    elif kind == MAT:
        orders.mat_act_qty[a] -= x
        orders.mat_act_value[a] -= v
    elif kind == STEP:
        orders.step_act_hours[a] -= x
        orders.step_scrap[a] -= y


@njit(cache=True, nogil=True, _nrt=False)
def _undo_money(kind, a, x, v, money):
    if kind == RCV:
        money.rl_qty[a] -= x
        money.rl_value[a] -= v
    elif kind == AP_BILL:
        money.billed[a] -= v
    elif kind == AP_PAY:
        money.paid[a] -= v
    elif kind == AR_BILL:
        money.so_qty[a] -= x
        money.so_revenue[a] -= v
    elif kind == AR_PAY:
        money.so_paid[a] -= v
    elif kind == SO_COGS:
        money.so_cogs[a] -= v


@njit(cache=True, nogil=True, _nrt=False)
def _invoice(cost, money, lines, log, ctr, k, inv, q, price, name, memo):
    """A matched invoice line: Dr GRNI with what its receipts, oldest first, still hold
    uninvoiced (each at its own price), Cr AP at the invoice price, the difference to
    invoice price variance (Dr when the invoice is dearer)."""
    scale = cost.scale
    left = q
    grni = np.int64(0)
    r = money.line_head[k]
    while r != -1 and left > EPS:
        have = money.rl_qty[r]
        if have > EPS:
            if left >= have - EPS:  # the whole rest of the receipt: its value exactly
                take = have
                value = money.rl_value[r]
            else:
                take = left
                value = _minor(take * money.rl_price[r] * scale)
            money.rl_qty[r] -= take
            money.rl_value[r] -= value
            _eff(log, ctr, RCV, r, -take, -value, 0.0)
            grni += value
            left -= take
        r = money.rl_next[r]
    ap = _minor(q * price * scale)
    acc = cost.acc
    if grni != 0:
        _line(lines, ctr, acc[R_GRNI], grni, name, 0, 0, memo)
    if ap != 0:
        _line(lines, ctr, acc[R_AP], -ap, name, 0, 0, memo)
    if ap - grni != 0:
        _line(lines, ctr, acc[R_IPV], ap - grni, name, 0, 0, cost.memo[M_IPV])
    money.billed[inv] += ap
    _eff(log, ctr, AP_BILL, inv, 0.0, ap, 0.0)


@njit(cache=True, nogil=True, _nrt=False)
def _reverse(ev, past, items, rows, orders, money, lines, log, ends, ctr, e):
    """Reversal e: undo its target's effects newest first, post the negation of its
    lines (memo ids written as -(memo)-1: the caller prefixes them), one fewer live
    event on the target's order. False if the lines buffer is too small."""
    if ev.flag[e] == 1:  # the target is event j of this run
        j = ev.step[e]
        e0 = ends.eff[j - 1] if j > 0 else 0
        l0 = ends.line[j - 1] if j > 0 else 0
        e1, l1 = ends.eff[j], ends.line[j]
    else:
        e0, e1, l0, l1 = ev.row[e], ev.row2[e], ev.group[e], ev.memo[e]
    if ctr[C_LINE] + (l1 - l0) > lines.cols.shape[1]:
        return False
    if ev.flag[e] == 1:
        for k in range(e1 - 1, e0 - 1, -1):
            _undo(log.ints[0, k], log.ints[1, k], log.floats[0, k], log.ints[2, k],
                  log.floats[1, k], items, rows, orders, money, ctr)
        src = lines.cols
    else:
        for k in range(e1 - 1, e0 - 1, -1):
            _undo(past.ints[0, k], past.ints[1, k], past.floats[0, k], past.ints[2, k],
                  past.floats[1, k], items, rows, orders, money, ctr)
        src = past.lines
    for k in range(l0, l1):
        _line(lines, ctr, src[0, k], -src[1, k], src[2, k], src[3, k], src[4, k], -src[5,
                                                                                       k] - 1)
    w = ev.op[e]
    if w != -1:
        orders.live[w] -= 1
    return True


@njit(cache=True, nogil=True, _nrt=False)
def _count_gain_amount(cost, items, i, q):
    """q at the item's current cost: std, or the current average / last unit."""
    if cost.method[i] != 0:
        if items.qty[i] > EPS:
            return _minor(q * (items.value[i] / items.qty[i]))
        if not np.isnan(items.last_unit[i]):
            return _minor(q * items.last_unit[i])
    return _minor(q * cost.std[i] * cost.scale)


@njit(cache=True, nogil=True)
def run_batch(run, plant, state, out, start):
    bom = plant.bom
    maxb = 1
    for p in range(bom.ptr.shape[0] - 1):
        maxb = max(maxb, bom.ptr[p + 1] - bom.ptr[p])
    return _run(run, plant, state, out, start, np.empty((5, maxb), np.int64),
                np.empty((4, maxb)), np.empty(1, np.int64), np.empty(1))


@njit(cache=True, nogil=True, _nrt=False)
def _run(run, plant, state, out, start, tmp_i, tmp_f, one_i, one_q):
    """run_batch's loop, with its scratch arrays (BOM-line sized; one consumption)."""
    ev, past = run.events, run.past
    cost, bom, route = plant.costs, plant.bom, plant.route
    items, rows, orders, money = state.items, state.rows, state.orders, state.money
    lines, log, alerts, ends, ctr = out.lines, out.effects, out.alerts, out.ends, out.ctr
    n = ev.type.shape[0]
    amounts, uniq, v0 = tmp_i[2], tmp_i[3], tmp_i[4]
    q0, u0 = tmp_f[1], tmp_f[2]
    acc, method, std, scale = cost.acc, cost.method, cost.std, cost.scale
    for e in range(start, n):
        t = ev.type[e]
        if t == REVERSAL:
            if not _reverse(ev, past, items, rows, orders, money, lines, log, ends, ctr, e):
                return e
            ends.eff[e] = ctr[C_EFF]
            ends.line[e] = ctr[C_LINE]
            ends.alert[e] = ctr[C_ALERT]
            continue
        w = ev.wo[e]
        i = ev.item[e]
        q = ev.q[e]
        if t == SUPPLIER_INVOICE:
            ne, nl, na = ev.step[e] + 4, 4, 1
        else:
            ne, nl, na = _bounds(t, w, q, i, ev.group[e], ev.row[e], method, bom, route,
                                 items, rows, orders.item, orders.bf_start, orders.bf_group)
        if (ctr[C_EFF] + ne > log.ints.shape[1] or ctr[C_LINE] + nl > lines.cols.shape[1]
                or ctr[C_ALERT] + na > alerts.ints.shape[1]):
            return e
        wip = np.int64(0)
        total0 = ctr[C_LINE]
        if t == RECEIPT:
            paid = _minor(q * ev.price[e] * scale)
            booked = _minor(q * std[i] * scale) if method[i] == 0 else paid
            name, memo = cost.item_name[i], ev.memo[e]
            if booked != 0:
                _line(lines, ctr, cost.inv_acc[i], booked, name, 0, 0, memo)
            if paid != 0:
                _line(lines, ctr, acc[R_GRNI], -paid, name, 0, 0, memo)
            if paid - booked != 0:
                _line(lines, ctr, acc[R_PPV], paid - booked, name, 0, 0, cost.memo[M_PPV])
            _add(method, items, log, ctr, i, q, booked)
            _move(rows, log, ctr, ev.row[e], q)
            r = ev.row2[e]
            if r != -1:  # on a PO line: received, not invoiced yet
                money.rl_qty[r] += q
                money.rl_value[r] += paid
                _eff(log, ctr, RCV, r, q, paid, 0.0)
        elif t == ISSUE or t == SHIPMENT:
            _draw(rows, log, alerts, ctr, ev.row[e], ev.group[e], q)
            one_i[0] = i
            one_q[0] = q
            _value_out(method, std, scale, items, log, alerts, ctr, one_i, one_q, 1, amounts,
                       uniq, q0, v0, u0)
            amount = amounts[0]
            if t == ISSUE:
                _pair(lines, ctr, acc[R_WIP], cost.inv_acc[i], amount, cost.item_name[i],
                      orders.name[w], 0, cost.memo[M_ISSUE])
                r = ev.step[e]
                if ev.flag[e]:
                    _eff(log, ctr, MAT_NEW, r, 0.0, 0, 0.0)
                orders.mat_act_qty[r] += q
                orders.mat_act_value[r] += amount
                _eff(log, ctr, MAT, r, q, amount, 0.0)
                wip += amount
            else:
                name, memo = cost.item_name[i], ev.memo[e]
                _pair(lines, ctr, acc[R_COGS], cost.inv_acc[i], amount, name, 0, 0, memo)
                revenue = _minor(q * ev.price[e] * scale)
                _pair(lines, ctr, acc[R_AR], acc[R_REV], revenue, name, 0, 0, memo)
                so = ev.row2[e]
                if so != -1:  # on a sales order: its AR, shipped qty and cost of sales
                    money.so_qty[so] += q
                    money.so_revenue[so] += revenue
                    money.so_cogs[so] += amount
                    _eff(log, ctr, AR_BILL, so, q, revenue, 0.0)
                    _eff(log, ctr, SO_COGS, so, 0.0, amount, 0.0)
        elif t == RELEASE:
            _eff(log, ctr, WO_NEW, w, 0.0, 0, 0.0)
        elif t == COMPLETION:
            wip += _backflush(cost, bom, route, items, rows, lines, log, alerts, ctr, orders,
                              w, q, NO_LIMIT, 0, tmp_i, tmp_f)
            p = orders.item[w]
            amount = _minor(q * std[p] * scale)
            _pair(lines, ctr, cost.inv_acc[p], acc[R_WIP], amount, cost.item_name[p],
                  orders.name[w], route.wc_name[orders.line[w]], cost.memo[M_COMPLETION])
            wip -= amount
            orders.good[w] += q
            _eff(log, ctr, GOOD, w, q, 0, 0.0)
            _add(method, items, log, ctr, p, q, amount)
            _move(rows, log, ctr, ev.row[e], q)
        elif t == SCRAP:
            s = ev.step[e]
            wip += _backflush(cost, bom, route, items, rows, lines, log, alerts, ctr, orders,
                              w, q, ev.op[e], 1, tmp_i, tmp_f)
            p = orders.item[w]
            amount = _minor(q * ev.aux[e] * scale)
            _pair(lines, ctr, acc[R_SCRAP], acc[R_WIP], amount, cost.item_name[p],
                  orders.name[w], route.wc_name[route.wc[s]], route.scrap_memo[s])
            wip -= amount
            row = orders.step_start[w] + s - route.ptr[p]
            orders.step_scrap[row] += q
            _eff(log, ctr, STEP, row, 0.0, 0, q)
        elif t == LABOR:
            wip += _hours(cost, route, lines, log, ctr, orders.item, orders.name,
                          orders.step_start, orders.step_act_hours, w, ev.step[e], q, 2)
        elif t == COUNT:
            r = ev.row[e]
            diff = q - rows.qty[r]
            if abs(diff) > EPS:
                if diff > 0:
                    amount = _count_gain_amount(cost, items, i, diff)
                    _add(method, items, log, ctr, i, diff, amount)
                else:
                    one_i[0] = i
                    one_q[0] = -diff
                    _value_out(method, std, scale, items, log, alerts, ctr, one_i, one_q, 1,
                               amounts, uniq, q0, v0, u0)
                    amount = -amounts[0]
                _pair(lines, ctr, cost.inv_acc[i], acc[R_ADJ], amount, cost.item_name[i], 0, 0,
                      cost.memo[M_COUNT])
                _move(rows, log, ctr, r, diff)
        elif t == TRANSFER:
            src = ev.row[e]
            have = rows.qty[src]
            if have < q - EPS:
                _alert(alerts, ctr, A_TRANSFER, src, q, have)
            _move(rows, log, ctr, src, -q)
            _move(rows, log, ctr, ev.row2[e], q)
        elif t == CLOSE_WO:
            p = orders.item[w]
            found = _variances(cost, bom, orders, w, ev.op[e], ev.flag[e])
            name, wo = cost.item_name[p], orders.name[w]
            for k in range(4):
                _pair(lines, ctr, acc[R_MUV + k], acc[R_WIP], found[k], name, wo, 0,
                      cost.memo[M_MUV + k])
                orders.wip[w] -= found[k]
                wip -= found[k]
            rest = orders.wip[w]
            _pair(lines, ctr, acc[R_ROUND], acc[R_WIP], rest, name, wo, 0, cost.memo[M_REST])
            wip -= rest
            orders.wip[w] -= rest
            per_event = 2 * orders.step_count[w] + bom.ptr[p + 1] - bom.ptr[p] + 1
            bound = (orders.live[w] * per_event + 8) // 2 + 4
            if abs(rest) > bound:
                _alert(alerts, ctr, A_ROUNDING, w, float(rest), 0.0)
            orders.var_usage[w] = found[0]
            orders.var_price[w] = found[1]
            orders.var_labor[w] = found[2]
            orders.var_overhead[w] = found[3]
            orders.status[w] = 1
            _eff(log, ctr, CLOSE, w, 0.0, 0, 0.0)
        elif t == SUPPLIER_INVOICE:
            _invoice(cost, money, lines, log, ctr, ev.row[e], ev.row2[e], q, ev.price[e],
                     cost.item_name[i], ev.memo[e])
        elif t == PAYMENT:  # Dr AP, Cr bank: the encoder checked the open balance
            k = ev.row2[e]
            amount = _minor(q * scale)
            _pair(lines, ctr, acc[R_AP], acc[R_BANK], amount, 0, 0, 0, ev.memo[e])
            money.paid[k] += amount
            _eff(log, ctr, AP_PAY, k, 0.0, amount, 0.0)
        elif t == CUSTOMER_PAYMENT:  # Dr bank, Cr AR: the encoder checked the open AR
            so = ev.row[e]
            amount = _minor(q * scale)
            _pair(lines, ctr, acc[R_BANK], acc[R_AR], amount, 0, 0, 0, ev.memo[e])
            money.so_paid[so] += amount
            _eff(log, ctr, AR_PAY, so, 0.0, amount, 0.0)
        if t != CLOSE_WO and w != -1:  # a close moved orders.wip as it went
            orders.wip[w] += wip
        if w != -1 and wip != 0:
            _eff(log, ctr, WIP, w, 0.0, wip, 0.0)
        if w != -1:
            orders.live[w] += 1
        if not _close_entry(lines, ctr, total0, acc[R_ROUND], cost.memo[M_ROUND]):
            ctr[C_BAD] = e + 1
            return e
        ends.eff[e] = ctr[C_EFF]
        ends.line[e] = ctr[C_LINE]
        ends.alert[e] = ctr[C_ALERT]
    return n


def python_reference():
    """`run_batch` as plain Python: the same source run by the interpreter, every helper
    it calls (here and in costing.kernels) as its Python function too — the twin the
    kernel-equals-reference property and `gateway bench` ratios compare against."""
    import types

    from costing import kernels

    names = {}
    for module in (kernels, __import__(__name__, fromlist=["_"])):
        for name, obj in vars(module).items():
            if hasattr(obj, "py_func"):
                names[name] = obj
    space = dict(globals())
    for name, disp in names.items():
        fn = disp.py_func
        space[name] = types.FunctionType(fn.__code__, space, name, fn.__defaults__)
    return space["run_batch"]
