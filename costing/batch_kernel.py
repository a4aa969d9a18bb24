"""The batch kernel: values and posts a whole encoded run of events in one numba call.

`run_batch(E, T, S, O, ctr, start)` applies events start.. of the encoded columns `E`
in order, exactly as `Engine.apply_one` would (same arithmetic, same order of lines and
effects), against the plant tables `T`, updating the state arrays `S` in place and
writing journal lines, effects and alerts to the buffers `O`. Encoding (costing.batch)
has already validated every event, interned every id and created every order and
material row, so nothing here can reject. When a buffer might overflow it stops before
the event and returns its index; the caller grows the buffers and calls again.
Its plain-Python twin is `run_batch.py_func` (same code, run by the interpreter).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from costing.effects import CLOSE, GOOD, ITEM, LAYER, MAT, MAT_NEW, ROW, STEP, TAKE, WIP, WO_NEW
from costing.kernels import EPS, _minor, value_one

# event type codes of the encoded stream
RECEIPT, ISSUE, RELEASE, COMPLETION, SCRAP, LABOR, SHIPMENT, COUNT, TRANSFER, CLOSE_WO = \
    range(10)
# alert kinds: valued beyond stock, drawn short, transfer short, close remainder
A_VALUE, A_DRAW, A_TRANSFER, A_ROUNDING = range(4)
# account roles (order of costing.master.Accounts.ROLES) and fixed memos
(R_WIP, R_GRNI, R_PPV, R_MUV, R_MPV, R_LEV, R_OEV, R_LAB, R_OVH, R_SCRAP, R_COGS, R_REV,
 R_AR, R_ADJ, R_ROUND) = range(15)
FIXED_MEMOS = ("rounding", "purchase price variance", "issue", "completion: backflush",
               "scrap: backflush", "completion", "count", "material usage variance",
               "material price variance", "labor efficiency variance",
               "overhead efficiency variance", "close: WIP remainder")
(M_ROUND, M_PPV, M_ISSUE, M_COMPLETION_BF, M_SCRAP_BF, M_COMPLETION, M_COUNT, M_MUV, M_MPV,
 M_LEV, M_OEV, M_REST) = range(12)
HOURS_PREFIX = ("completion: backflush", "scrap: backflush", "reported")
NO_LIMIT = np.int64(2 ** 63 - 1)
# counters in ctr
C_EFF, C_LINE, C_ALERT, C_LAYER, C_CREATED = range(5)

Events = namedtuple("Events", "type item wo q price row row2 group memo step op aux flag")
Tables = namedtuple("Tables", (
    "method std scale inv_acc item_name bom_ptr bom_comp bom_qty_eff bom_op bom_backflush "
    "bom_wc_name rt_ptr rt_op rt_wc rt_per_unit wc_backflush wc_labor wc_overhead wc_name "
    "hours_memo scrap_memo acc memo"))
State = namedtuple("State", (
    "item_qty item_value last_unit layer_qty layer_value layer_next layer_item head tail "
    "row_qty row_seq row_group row_next group_head group_tail group_len "
    "wo_item wo_line wo_status wo_good wo_wip wo_live var_usage var_price var_labor "
    "var_overhead mat_start step_start step_count mat_item mat_qty_eff mat_op mat_act_qty "
    "mat_act_value step_op step_per_unit step_labor step_overhead step_act_hours "
    "step_scrap wo_name bf_start bf_row bf_group xrows balance touched"))
Out = namedtuple("Out", "eff_kind eff_a eff_x eff_v eff_y ln_acc ln_amt ln_item ln_wo ln_wc "
                        "ln_memo al_kind al_id al_f1 al_f2 ev_eff ev_line ev_alert")


@njit(cache=True, nogil=True)
def _eff(O, ctr, kind, a, x, v, y):
    k = ctr[C_EFF]
    O.eff_kind[k] = kind
    O.eff_a[k] = a
    O.eff_x[k] = x
    O.eff_v[k] = v
    O.eff_y[k] = y
    ctr[C_EFF] = k + 1


@njit(cache=True, nogil=True)
def _line(O, S, ctr, acc, amount, item, wo, wc, memo):
    """One signed line (+ debit); the entry's running total is the caller's."""
    k = ctr[C_LINE]
    O.ln_acc[k] = acc
    O.ln_amt[k] = amount
    O.ln_item[k] = item
    O.ln_wo[k] = wo
    O.ln_wc[k] = wc
    O.ln_memo[k] = memo
    ctr[C_LINE] = k + 1
    S.balance[acc] += amount
    S.touched[acc] = True


@njit(cache=True, nogil=True)
def _pair(O, S, ctr, debit, credit, amount, item, wo, wc, memo):
    if amount != 0:
        _line(O, S, ctr, debit, amount, item, wo, wc, memo)
        _line(O, S, ctr, credit, -amount, item, wo, wc, memo)


@njit(cache=True, nogil=True)
def _alert(O, ctr, kind, a, f1, f2):
    k = ctr[C_ALERT]
    O.al_kind[k] = kind
    O.al_id[k] = a
    O.al_f1[k] = f1
    O.al_f2[k] = f2
    ctr[C_ALERT] = k + 1


@njit(cache=True, nogil=True)
def _move(S, O, ctr, r, dq):
    """A stock-row quantity change; the row exists (joins its lot chain) once moved."""
    if S.row_seq[r] == -1:
        S.row_seq[r] = ctr[C_CREATED]
        ctr[C_CREATED] += 1
        g = S.row_group[r]
        if g != -1:
            if S.group_tail[g] == -1:
                S.group_head[g] = r
            else:
                S.row_next[S.group_tail[g]] = r
            S.group_tail[g] = r
            S.group_len[g] += 1
    S.row_qty[r] += dq
    _eff(O, ctr, ROW, r, dq, 0, 0.0)


@njit(cache=True, nogil=True)
def _draw(S, O, ctr, first, group, q):
    """Available stock at the first row, then the lot chain oldest first; short → first."""
    left = q
    have = S.row_qty[first]
    if have > EPS and left > EPS:
        take = min(have, left)
        _move(S, O, ctr, first, -take)
        left -= take
    r = S.group_head[group] if group != -1 else -1
    while r != -1:
        have = S.row_qty[r]
        if have > EPS and left > EPS:
            take = min(have, left)
            _move(S, O, ctr, r, -take)
            left -= take
        r = S.row_next[r]
    if left > EPS:
        _move(S, O, ctr, first, -left)
        _alert(O, ctr, A_DRAW, first, left, 0.0)


@njit(cache=True, nogil=True)
def _add(T, S, O, ctr, i, q, amount):
    """Stock in at a known amount (costing.inventory.Inventory.add)."""
    u0 = S.last_unit[i]
    S.item_qty[i] += q
    S.item_value[i] += amount
    if T.method[i] == 2:
        layer = ctr[C_LAYER]
        ctr[C_LAYER] = layer + 1
        S.layer_qty[layer] = q
        S.layer_value[layer] = amount
        S.layer_next[layer] = -1
        S.layer_item[layer] = i
        if S.tail[i] == -1:
            S.head[i] = layer
        else:
            S.layer_next[S.tail[i]] = layer
            h = S.head[i]
            while h != layer and S.layer_qty[h] <= EPS:
                h = S.layer_next[h]
            S.head[i] = h
        S.tail[i] = layer
        _eff(O, ctr, LAYER, layer, q, amount, 0.0)
    elif S.item_qty[i] > EPS:
        S.last_unit[i] = S.item_value[i] / S.item_qty[i]
    _eff(O, ctr, ITEM, i, q, amount, u0)


@njit(cache=True, nogil=True)
def _value_out(T, S, O, ctr, items, qtys, n, amounts, uniq, q0, v0, u0):
    """Value n consumptions in order: takes, then one item effect per item (sorted)."""
    nu = 0
    for k in range(n):
        i = items[k]
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
        q0[m] = S.item_qty[i]
        v0[m] = S.item_value[i]
        u0[m] = S.last_unit[i]
    for k in range(n):
        i = items[k]
        nt0 = ctr[C_EFF]
        amt, short, nt = value_one(i, qtys[k], T.method, T.std, T.scale, S.item_qty,
                                   S.item_value, S.last_unit, S.layer_qty, S.layer_value,
                                   S.layer_next, S.head, O.eff_a, O.eff_x, O.eff_v, nt0)
        for t in range(nt0, nt):
            O.eff_kind[t] = TAKE
            O.eff_y[t] = 0.0
        ctr[C_EFF] = nt
        amounts[k] = amt
        qtys[k] = short  # reused: the shortfall of consumption k
    for m in range(nu):
        i = uniq[m]
        _eff(O, ctr, ITEM, i, S.item_qty[i] - q0[m], S.item_value[i] - v0[m], u0[m])
    for k in range(n):
        if qtys[k] > EPS:
            _alert(O, ctr, A_VALUE, items[k], qtys[k], 0.0)


@njit(cache=True, nogil=True)
def _hours(T, S, O, ctr, w, s, hours, prefix):
    """Hours at routing step s: labor and overhead into WIP (Engine._hours)."""
    wc = T.rt_wc[s]
    labor = _minor(hours * T.wc_labor[wc] * T.scale)
    overhead = _minor(hours * T.wc_overhead[wc] * T.scale)
    p = S.wo_item[w]
    item, wo, wcn = T.item_name[p], S.wo_name[w], T.wc_name[wc]
    _pair(O, S, ctr, T.acc[R_WIP], T.acc[R_LAB], labor, item, wo, wcn,
          T.hours_memo[prefix, 0, s])
    _pair(O, S, ctr, T.acc[R_WIP], T.acc[R_OVH], overhead, item, wo, wcn,
          T.hours_memo[prefix, 1, s])
    row = S.step_start[w] + s - T.rt_ptr[p]
    S.step_act_hours[row] += hours
    _eff(O, ctr, STEP, row, hours, 0, 0.0)
    return labor + overhead


@njit(cache=True, nogil=True)
def _backflush(T, S, O, ctr, w, q, limit, prefix, items, qtys, lines, amounts, uniq, q0,
               v0, u0):
    """Components and backflush labor of q units through operation `limit`."""
    p = S.wo_item[w]
    n = 0
    for j in range(T.bom_ptr[p], T.bom_ptr[p + 1]):
        if T.bom_backflush[j] and T.bom_op[j] <= limit:
            lines[n] = j
            items[n] = T.bom_comp[j]
            qtys[n] = q * T.bom_qty_eff[j]
            n += 1
    base = S.bf_start[w] - T.bom_ptr[p]
    for k in range(n):
        j = lines[k]
        _draw(S, O, ctr, S.bf_row[base + j], S.bf_group[base + j], qtys[k])
    mat_q = np.empty(n)
    mat_q[:] = qtys[:n]
    _value_out(T, S, O, ctr, items, qtys, n, amounts, uniq, q0, v0, u0)
    wip = np.int64(0)
    memo = T.memo[M_COMPLETION_BF if prefix == 0 else M_SCRAP_BF]
    mbase = S.mat_start[w] - T.bom_ptr[p]
    for k in range(n):
        j, c, amount = lines[k], items[k], amounts[k]
        _pair(O, S, ctr, T.acc[R_WIP], T.inv_acc[c], amount, T.item_name[c], S.wo_name[w],
              T.bom_wc_name[j], memo)
        r = mbase + j
        S.mat_act_qty[r] += mat_q[k]
        S.mat_act_value[r] += amount
        _eff(O, ctr, MAT, r, mat_q[k], amount, 0.0)
        wip += amount
    for s in range(T.rt_ptr[p], T.rt_ptr[p + 1]):
        if T.wc_backflush[T.rt_wc[s]] and T.rt_op[s] <= limit:
            wip += _hours(T, S, O, ctr, w, s, q * T.rt_per_unit[s], prefix)
    return wip


@njit(cache=True, nogil=True)
def _variances(T, S, w, xoff, nx):
    """The four close variances of order w (costing.kernels.variance_kernel for one)."""
    usage = 0.0
    at_std = 0.0
    actual = np.int64(0)
    p = S.wo_item[w]
    s0, s1 = S.step_start[w], S.step_start[w] + S.step_count[w]
    nb = T.bom_ptr[p + 1] - T.bom_ptr[p]
    for k in range(nb + nx):
        r = S.mat_start[w] + k if k < nb else S.xrows[xoff + k - nb]
        units = S.wo_good[w]
        for s in range(s0, s1):
            if S.step_op[s] >= S.mat_op[r]:
                units += S.step_scrap[s]
        std_qty = units * S.mat_qty_eff[r]
        usage += (S.mat_act_qty[r] - std_qty) * T.std[S.mat_item[r]]
        at_std += S.mat_act_qty[r] * T.std[S.mat_item[r]]
        actual += S.mat_act_value[r]
    lab = 0.0
    ovh = 0.0
    for s in range(s0, s1):
        units = S.wo_good[w]
        for t in range(s0, s1):
            if S.step_op[t] >= S.step_op[s]:
                units += S.step_scrap[t]
        diff = S.step_act_hours[s] - units * S.step_per_unit[s]
        lab += diff * S.step_labor[s]
        ovh += diff * S.step_overhead[s]
    return (_minor(usage * T.scale), actual - _minor(at_std * T.scale), _minor(lab * T.scale),
            _minor(ovh * T.scale))


@njit(cache=True, nogil=True)
def _takes_bound(T, S, i, q):
    """FIFO takes valuing q of item i can write: the non-empty layers that cover q."""
    n = 2
    if T.method[i] != 2:
        return n
    left = q
    h = S.head[i]
    while h != -1 and left > 0.0:
        if S.layer_qty[h] > EPS:
            n += 1
            left -= S.layer_qty[h]
        h = S.layer_next[h]
    return n


@njit(cache=True, nogil=True)
def _bounds(E, T, S, e):
    """Upper bounds of (effects, lines, alerts) event e can write."""
    t = E.type[e]
    if t == COMPLETION or t == SCRAP:
        w = E.wo[e]
        p = S.wo_item[w]
        base = S.bf_start[w] - T.bom_ptr[p]
        ne, nl = 10, 4
        total = 0.0  # every line's bound covers the whole event: lines may share an item
        for j in range(T.bom_ptr[p], T.bom_ptr[p + 1]):
            total += E.q[e] * T.bom_qty_eff[j]
        for j in range(T.bom_ptr[p], T.bom_ptr[p + 1]):
            g = S.bf_group[base + j]
            ne += 4 + _takes_bound(T, S, T.bom_comp[j], total) + (
                S.group_len[g] if g != -1 else 0)
            nl += 2
        nsteps = T.rt_ptr[p + 1] - T.rt_ptr[p]
        return ne + nsteps, nl + 4 * nsteps, 2 * (T.bom_ptr[p + 1] - T.bom_ptr[p]) + 2
    if t == ISSUE or t == SHIPMENT or t == COUNT:
        g = E.group[e]
        q = E.q[e] if t != COUNT else E.q[e] + abs(S.row_qty[E.row[e]])
        return (8 + _takes_bound(T, S, E.item[e], q) + (S.group_len[g] if g != -1 else 0),
                6, 3)
    return 8, 12, 2


@njit(cache=True, nogil=True)
def run_batch(E, T, S, O, ctr, start):
    n = E.type.shape[0]
    maxb = 1
    for p in range(T.bom_ptr.shape[0] - 1):
        maxb = max(maxb, T.bom_ptr[p + 1] - T.bom_ptr[p])
    items = np.empty(maxb, np.int64)
    lines = np.empty(maxb, np.int64)
    qtys = np.empty(maxb)
    amounts = np.empty(maxb, np.int64)
    uniq = np.empty(maxb, np.int64)
    q0 = np.empty(maxb)
    v0 = np.empty(maxb, np.int64)
    u0 = np.empty(maxb)
    one_i = np.empty(1, np.int64)
    one_q = np.empty(1)
    acc = T.acc
    for e in range(start, n):
        ne, nl, na = _bounds(E, T, S, e)
        if (ctr[C_EFF] + ne > O.eff_kind.shape[0] or ctr[C_LINE] + nl > O.ln_acc.shape[0]
                or ctr[C_ALERT] + na > O.al_kind.shape[0]):
            return e
        t = E.type[e]
        w = E.wo[e]
        i = E.item[e]
        q = E.q[e]
        wip = np.int64(0)
        total0 = ctr[C_LINE]
        if t == RECEIPT:
            paid = _minor(q * E.price[e] * T.scale)
            booked = _minor(q * T.std[i] * T.scale) if T.method[i] == 0 else paid
            name, memo = T.item_name[i], E.memo[e]
            if booked != 0:
                _line(O, S, ctr, T.inv_acc[i], booked, name, 0, 0, memo)
            if paid != 0:
                _line(O, S, ctr, acc[R_GRNI], -paid, name, 0, 0, memo)
            if paid - booked != 0:
                _line(O, S, ctr, acc[R_PPV], paid - booked, name, 0, 0, T.memo[M_PPV])
            _add(T, S, O, ctr, i, q, booked)
            _move(S, O, ctr, E.row[e], q)
        elif t == ISSUE:
            _draw(S, O, ctr, E.row[e], E.group[e], q)
            one_i[0] = i
            one_q[0] = q
            _value_out(T, S, O, ctr, one_i, one_q, 1, amounts, uniq, q0, v0, u0)
            amount = amounts[0]
            _pair(O, S, ctr, acc[R_WIP], T.inv_acc[i], amount, T.item_name[i], S.wo_name[w],
                  0, T.memo[M_ISSUE])
            r = E.step[e]
            if E.flag[e]:
                _eff(O, ctr, MAT_NEW, r, 0.0, 0, 0.0)
            S.mat_act_qty[r] += q
            S.mat_act_value[r] += amount
            _eff(O, ctr, MAT, r, q, amount, 0.0)
            wip += amount
        elif t == RELEASE:
            _eff(O, ctr, WO_NEW, w, 0.0, 0, 0.0)
        elif t == COMPLETION:
            wip += _backflush(T, S, O, ctr, w, q, NO_LIMIT, 0, items, qtys,
                              lines, amounts, uniq, q0, v0, u0)
            p = S.wo_item[w]
            amount = _minor(q * T.std[p] * T.scale)
            _pair(O, S, ctr, T.inv_acc[p], acc[R_WIP], amount, T.item_name[p], S.wo_name[w],
                  T.wc_name[S.wo_line[w]], T.memo[M_COMPLETION])
            wip -= amount
            S.wo_good[w] += q
            _eff(O, ctr, GOOD, w, q, 0, 0.0)
            _add(T, S, O, ctr, p, q, amount)
            _move(S, O, ctr, E.row[e], q)
        elif t == SCRAP:
            s = E.step[e]
            wip += _backflush(T, S, O, ctr, w, q, E.op[e], 1, items, qtys, lines, amounts,
                              uniq, q0, v0, u0)
            p = S.wo_item[w]
            amount = _minor(q * E.aux[e] * T.scale)
            _pair(O, S, ctr, acc[R_SCRAP], acc[R_WIP], amount, T.item_name[p], S.wo_name[w],
                  T.wc_name[T.rt_wc[s]], T.scrap_memo[s])
            wip -= amount
            row = S.step_start[w] + s - T.rt_ptr[p]
            S.step_scrap[row] += q
            _eff(O, ctr, STEP, row, 0.0, 0, q)
        elif t == LABOR:
            wip += _hours(T, S, O, ctr, w, E.step[e], q, 2)
        elif t == SHIPMENT:
            _draw(S, O, ctr, E.row[e], E.group[e], q)
            one_i[0] = i
            one_q[0] = q
            _value_out(T, S, O, ctr, one_i, one_q, 1, amounts, uniq, q0, v0, u0)
            name, memo = T.item_name[i], E.memo[e]
            _pair(O, S, ctr, acc[R_COGS], T.inv_acc[i], amounts[0], name, 0, 0, memo)
            _pair(O, S, ctr, acc[R_AR], acc[R_REV], _minor(q * E.price[e] * T.scale), name,
                  0, 0, memo)
        elif t == COUNT:
            r = E.row[e]
            diff = q - S.row_qty[r]
            if abs(diff) > EPS:
                if diff > 0:
                    amount = _count_gain_amount(T, S, i, diff)
                    _add(T, S, O, ctr, i, diff, amount)
                else:
                    one_i[0] = i
                    one_q[0] = -diff
                    _value_out(T, S, O, ctr, one_i, one_q, 1, amounts, uniq, q0, v0, u0)
                    amount = -amounts[0]
                _pair(O, S, ctr, T.inv_acc[i], acc[R_ADJ], amount, T.item_name[i], 0, 0,
                      T.memo[M_COUNT])
                _move(S, O, ctr, r, diff)
        elif t == TRANSFER:
            src = E.row[e]
            have = S.row_qty[src]
            if have < q - EPS:
                _alert(O, ctr, A_TRANSFER, src, q, have)
            _move(S, O, ctr, src, -q)
            _move(S, O, ctr, E.row2[e], q)
        elif t == CLOSE_WO:
            p = S.wo_item[w]
            found = _variances(T, S, w, E.op[e], E.flag[e])
            name, wo = T.item_name[p], S.wo_name[w]
            for k in range(4):
                _pair(O, S, ctr, acc[R_MUV + k], acc[R_WIP], found[k], name, wo, 0,
                      T.memo[M_MUV + k])
                S.wo_wip[w] -= found[k]
                wip -= found[k]
            rest = S.wo_wip[w]
            _pair(O, S, ctr, acc[R_ROUND], acc[R_WIP], rest, name, wo, 0, T.memo[M_REST])
            wip -= rest
            S.wo_wip[w] -= rest
            per_event = 2 * S.step_count[w] + T.bom_ptr[p + 1] - T.bom_ptr[p] + 1
            bound = (S.wo_live[w] * per_event + 8) // 2 + 4
            if abs(rest) > bound:
                _alert(O, ctr, A_ROUNDING, w, float(rest), 0.0)
            S.var_usage[w] = found[0]
            S.var_price[w] = found[1]
            S.var_labor[w] = found[2]
            S.var_overhead[w] = found[3]
            S.wo_status[w] = 1
            _eff(O, ctr, CLOSE, w, 0.0, 0, 0.0)
        if t != CLOSE_WO and w != -1:  # a close moved wo_wip as it went
            S.wo_wip[w] += wip
        if w != -1 and wip != 0:
            _eff(O, ctr, WIP, w, 0.0, wip, 0.0)
        if w != -1:
            S.wo_live[w] += 1
        total = np.int64(0)
        for k in range(total0, ctr[C_LINE]):
            total += O.ln_amt[k]
        if total != 0:
            _line(O, S, ctr, acc[R_ROUND], -total, 0, 0, 0, T.memo[M_ROUND])
        O.ev_eff[e] = ctr[C_EFF]
        O.ev_line[e] = ctr[C_LINE]
        O.ev_alert[e] = ctr[C_ALERT]
    return n


@njit(cache=True, nogil=True)
def _count_gain_amount(T, S, i, q):
    """q at the item's current cost: std, or the current average / last unit."""
    if T.method[i] != 0:
        if S.item_qty[i] > EPS:
            return _minor(q * (S.item_value[i] / S.item_qty[i]))
        if not np.isnan(S.last_unit[i]):
            return _minor(q * S.last_unit[i])
    return _minor(q * T.std[i] * T.scale)
