"""The batch kernel: values and posts a whole encoded run of events in one numba call.

`run_batch(E, P, C, B, RT, I, R, W, L, X, A, ends, ctr, start)` applies events start..
of the encoded columns `E` in order, exactly as `Engine.apply_one` would (same arithmetic,
same order of lines and effects), against the plant tables (costs C, BOM B, routings
RT), updating items I, stock rows R and orders W in place and writing journal lines L,
effects X, alerts A and each event's buffer ends. A reversal undoes the effects and
negates the lines of an event earlier in the run (read back from X and L) or of one
accepted before it (handed in as P). Encoding (costing.batch)
has already validated every event, interned every id and created every order and
material row, so nothing here can reject. When a buffer might overflow it stops before
the event and returns its index; the caller grows the buffers and calls again.
Its plain-Python twin is `run_batch.py_func` (same code, run by the interpreter).

Why the state comes in small groups: numba passes a tuple argument by value, field by
field, so a helper handed one 50-array tuple costs a microsecond a call. Each helper
takes only the groups it touches.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from costing.effects import (
    CLOSE,
    GOOD,
    ITEM,
    LAYER,
    MAT,
    MAT_NEW,
    ROW,
    STEP,
    TAKE,
    WIP,
    WO_NEW,
)
from costing.kernels import EPS, _minor, rounding_limit, value_one

# event type codes of the encoded stream (those of costing.effects.EVENT_TYPES)
RECEIPT, ISSUE, RELEASE, COMPLETION, SCRAP, LABOR, SHIPMENT, COUNT, TRANSFER, CLOSE_WO, \
    REVERSAL = range(11)
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
C_EFF, C_LINE, C_ALERT, C_LAYER, C_CREATED, C_BAD, C_BAD_END = range(7)
N_COUNTERS = 7  # C_BAD: 1 + the event whose entry did not balance (0: none)

Events = namedtuple("Events", "type item wo q price row row2 group memo step op aux flag")
# effects and lines of events accepted before the run that a reversal in it negates
Past = namedtuple("Past", "ints floats lines")  # ints: kind a v; floats: x y; lines: as L
Costs = namedtuple("Costs", "method std scale inv_acc item_name acc memo")
Bom = namedtuple("Bom", "ptr comp qty_eff op backflush wc_name")
Route = namedtuple("Route", "ptr op wc per_unit wc_backflush wc_labor wc_overhead wc_name "
                            "hours_memo scrap_memo")
Items = namedtuple("Items", "qty value last_unit layer_qty layer_value layer_next layer_item "
                            "head tail")
Rows = namedtuple("Rows", "qty seq group next group_head group_tail group_len")
Orders = namedtuple("Orders", (
    "item line status good wip live var_usage var_price var_labor var_overhead mat_start "
    "step_start step_count mat_item mat_qty_eff mat_op mat_act_qty mat_act_value step_op "
    "step_per_unit step_labor step_overhead step_act_hours step_scrap name bf_start bf_row "
    "bf_group xrows"))
# output buffers as few 2-D arrays (rows are columns): fewer arguments to pass per call
Lines = namedtuple("Lines", "cols balance touched")  # cols: acc amt item wo wc memo
Effects = namedtuple("Effects", "ints floats")  # ints: kind a v; floats: x y
Alerts = namedtuple("Alerts", "ints floats")  # ints: kind id; floats: f1 f2
Ends = namedtuple("Ends", "eff line alert")


@njit(cache=True, nogil=True, inline="always")
def _eff(X, ctr, kind, a, x, v, y):
    k = ctr[C_EFF]
    X.ints[0, k] = kind
    X.ints[1, k] = a
    X.ints[2, k] = v
    X.floats[0, k] = x
    X.floats[1, k] = y
    ctr[C_EFF] = k + 1


@njit(cache=True, nogil=True, inline="always")
def _line(L, ctr, acc, amount, item, wo, wc, memo):
    """One signed line (+ debit); the entry's running total is the caller's."""
    k = ctr[C_LINE]
    c = L.cols
    c[0, k] = acc
    c[1, k] = amount
    c[2, k] = item
    c[3, k] = wo
    c[4, k] = wc
    c[5, k] = memo
    ctr[C_LINE] = k + 1
    L.balance[acc] += amount
    L.touched[acc] = True


@njit(cache=True, nogil=True, inline="always")
def _pair(L, ctr, debit, credit, amount, item, wo, wc, memo):
    if amount != 0:
        _line(L, ctr, debit, amount, item, wo, wc, memo)
        _line(L, ctr, credit, -amount, item, wo, wc, memo)


@njit(cache=True, nogil=True, inline="always")
def _close_entry(L, ctr, first, round_acc, memo):
    """Balance the entry of lines [first, ctr[C_LINE]) with a rounding line, or refuse it.

    An imbalance beyond `rounding_limit` takes its lines' amounts back out of the
    balances, leaves them in the buffer up to ctr[C_BAD_END] for the caller's message,
    and returns False.
    """
    end = ctr[C_LINE]
    total = np.int64(0)
    for k in range(first, end):
        total += L.cols[1, k]
    if abs(total) > rounding_limit(end - first):
        for k in range(first, end):
            L.balance[L.cols[0, k]] -= L.cols[1, k]
        ctr[C_LINE] = first
        ctr[C_BAD_END] = end
        return False
    if total != 0:
        _line(L, ctr, round_acc, -total, 0, 0, 0, memo)
    return True


@njit(cache=True, nogil=True, inline="always")
def _alert(A, ctr, kind, a, f1, f2):
    k = ctr[C_ALERT]
    A.ints[0, k] = kind
    A.ints[1, k] = a
    A.floats[0, k] = f1
    A.floats[1, k] = f2
    ctr[C_ALERT] = k + 1


@njit(cache=True, nogil=True, inline="always")
def _move(R, X, ctr, r, dq):
    """A stock-row quantity change; the row exists (joins its lot chain) once moved."""
    if R.seq[r] == -1:
        R.seq[r] = ctr[C_CREATED]
        ctr[C_CREATED] += 1
        g = R.group[r]
        if g != -1:
            if R.group_tail[g] == -1:
                R.group_head[g] = r
            else:
                R.next[R.group_tail[g]] = r
            R.group_tail[g] = r
            R.group_len[g] += 1
    R.qty[r] += dq
    _eff(X, ctr, ROW, r, dq, 0, 0.0)


@njit(cache=True, nogil=True)
def _draw(R, X, A, ctr, first, group, q):
    """Available stock at the first row, then the lot chain oldest first; short → first."""
    left = q
    have = R.qty[first]
    if have > EPS and left > EPS:
        take = min(have, left)
        _move(R, X, ctr, first, -take)
        left -= take
    r = R.group_head[group] if group != -1 else -1
    while r != -1:
        have = R.qty[r]
        if have > EPS and left > EPS:
            take = min(have, left)
            _move(R, X, ctr, r, -take)
            left -= take
        r = R.next[r]
    if left > EPS:
        _move(R, X, ctr, first, -left)
        _alert(A, ctr, A_DRAW, first, left, 0.0)


@njit(cache=True, nogil=True, inline="always")
def _add(method, I, X, ctr, i, q, amount):
    """Stock in at a known amount (costing.inventory.Inventory.add)."""
    u0 = I.last_unit[i]
    I.qty[i] += q
    I.value[i] += amount
    if method[i] == 2:
        layer = ctr[C_LAYER]
        ctr[C_LAYER] = layer + 1
        I.layer_qty[layer] = q
        I.layer_value[layer] = amount
        I.layer_next[layer] = -1
        I.layer_item[layer] = i
        if I.tail[i] == -1:
            I.head[i] = layer
        else:
            I.layer_next[I.tail[i]] = layer
            h = I.head[i]
            while h != layer and I.layer_qty[h] <= EPS:
                h = I.layer_next[h]
            I.head[i] = h
        I.tail[i] = layer
        _eff(X, ctr, LAYER, layer, q, amount, 0.0)
    elif I.qty[i] > EPS:
        I.last_unit[i] = I.value[i] / I.qty[i]
    _eff(X, ctr, ITEM, i, q, amount, u0)


@njit(cache=True, nogil=True)
def _value_out(method, std, scale, I, X, A, ctr, items, qtys, n, amounts, uniq, q0, v0, u0):
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
        q0[m] = I.qty[i]
        v0[m] = I.value[i]
        u0[m] = I.last_unit[i]
    for k in range(n):
        i = items[k]
        nt0 = ctr[C_EFF]
        amt, short, nt = value_one(i, qtys[k], method, std, scale, I.qty, I.value,
                                   I.last_unit, I.layer_qty, I.layer_value, I.layer_next,
                                   I.head, X.ints[1], X.floats[0], X.ints[2], nt0)
        for t in range(nt0, nt):
            X.ints[0, t] = TAKE
            X.floats[1, t] = 0.0
        ctr[C_EFF] = nt
        amounts[k] = amt
        qtys[k] = short  # reused: the shortfall of consumption k
    for m in range(nu):
        i = uniq[m]
        _eff(X, ctr, ITEM, i, I.qty[i] - q0[m], I.value[i] - v0[m], u0[m])
    for k in range(n):
        if qtys[k] > EPS:
            _alert(A, ctr, A_VALUE, items[k], qtys[k], 0.0)


@njit(cache=True, nogil=True)
def _hours(C, RT, L, X, ctr, wo_item, wo_name, step_start, step_act_hours, w, s, hours,
           prefix):
    """Hours at routing step s: labor and overhead into WIP (Engine._hours)."""
    wc = RT.wc[s]
    labor = _minor(hours * RT.wc_labor[wc] * C.scale)
    overhead = _minor(hours * RT.wc_overhead[wc] * C.scale)
    p = wo_item[w]
    item, wo, wcn = C.item_name[p], wo_name[w], RT.wc_name[wc]
    _pair(L, ctr, C.acc[R_WIP], C.acc[R_LAB], labor, item, wo, wcn, RT.hours_memo[prefix, 0, s])
    _pair(L, ctr, C.acc[R_WIP], C.acc[R_OVH], overhead, item, wo, wcn,
          RT.hours_memo[prefix, 1, s])
    row = step_start[w] + s - RT.ptr[p]
    step_act_hours[row] += hours
    _eff(X, ctr, STEP, row, hours, 0, 0.0)
    return labor + overhead


@njit(cache=True, nogil=True)
def _backflush(C, B, RT, I, R, L, X, A, ctr, W, w, q, limit, prefix, tmp_i, tmp_f):
    """Components and backflush labor of q units through operation `limit`."""
    items, lines, amounts, uniq, v0 = tmp_i[0], tmp_i[1], tmp_i[2], tmp_i[3], tmp_i[4]
    qtys, q0, u0, mat_q = tmp_f[0], tmp_f[1], tmp_f[2], tmp_f[3]
    p = W.item[w]
    n = 0
    for j in range(B.ptr[p], B.ptr[p + 1]):
        if B.backflush[j] and B.op[j] <= limit:
            lines[n] = j
            items[n] = B.comp[j]
            qtys[n] = q * B.qty_eff[j]
            mat_q[n] = qtys[n]
            n += 1
    base = W.bf_start[w] - B.ptr[p]
    for k in range(n):
        j = lines[k]
        _draw(R, X, A, ctr, W.bf_row[base + j], W.bf_group[base + j], qtys[k])
    _value_out(C.method, C.std, C.scale, I, X, A, ctr, items, qtys, n, amounts, uniq, q0,
               v0, u0)
    wip = np.int64(0)
    memo = C.memo[M_COMPLETION_BF if prefix == 0 else M_SCRAP_BF]
    mbase = W.mat_start[w] - B.ptr[p]
    for k in range(n):
        j, c, amount = lines[k], items[k], amounts[k]
        _pair(L, ctr, C.acc[R_WIP], C.inv_acc[c], amount, C.item_name[c], W.name[w],
              B.wc_name[j], memo)
        r = mbase + j
        W.mat_act_qty[r] += mat_q[k]
        W.mat_act_value[r] += amount
        _eff(X, ctr, MAT, r, mat_q[k], amount, 0.0)
        wip += amount
    for s in range(RT.ptr[p], RT.ptr[p + 1]):
        if RT.wc_backflush[RT.wc[s]] and RT.op[s] <= limit:
            wip += _hours(C, RT, L, X, ctr, W.item, W.name, W.step_start, W.step_act_hours,
                          w, s, q * RT.per_unit[s], prefix)
    return wip


@njit(cache=True, nogil=True)
def _variances(C, B, W, w, xoff, nx):
    """The four close variances of order w (costing.kernels.variance_kernel for one)."""
    usage = 0.0
    at_std = 0.0
    actual = np.int64(0)
    p = W.item[w]
    s0, s1 = W.step_start[w], W.step_start[w] + W.step_count[w]
    nb = B.ptr[p + 1] - B.ptr[p]
    for k in range(nb + nx):
        r = W.mat_start[w] + k if k < nb else W.xrows[xoff + k - nb]
        units = W.good[w]
        for s in range(s0, s1):
            if W.step_op[s] >= W.mat_op[r]:
                units += W.step_scrap[s]
        std_qty = units * W.mat_qty_eff[r]
        usage += (W.mat_act_qty[r] - std_qty) * C.std[W.mat_item[r]]
        at_std += W.mat_act_qty[r] * C.std[W.mat_item[r]]
        actual += W.mat_act_value[r]
    lab = 0.0
    ovh = 0.0
    for s in range(s0, s1):
        units = W.good[w]
        for t in range(s0, s1):
            if W.step_op[t] >= W.step_op[s]:
                units += W.step_scrap[t]
        diff = W.step_act_hours[s] - units * W.step_per_unit[s]
        lab += diff * W.step_labor[s]
        ovh += diff * W.step_overhead[s]
    return (_minor(usage * C.scale), actual - _minor(at_std * C.scale), _minor(lab * C.scale),
            _minor(ovh * C.scale))


@njit(cache=True, nogil=True, inline="always")
def _takes_bound(method, I, i, q):
    """FIFO takes valuing q of item i can write: the non-empty layers that cover q."""
    n = 2
    if method[i] != 2:
        return n
    left = q
    h = I.head[i]
    while h != -1 and left > 0.0:
        if I.layer_qty[h] > EPS:
            n += 1
            left -= I.layer_qty[h]
        h = I.layer_next[h]
    return n


@njit(cache=True, nogil=True, inline="always")
def _bounds(t, w, q, i, group, row, method, B, RT, I, R, wo_item, bf_start, bf_group):
    """Upper bounds of (effects, lines, alerts) one event can write."""
    if t == COMPLETION or t == SCRAP:
        p = wo_item[w]
        base = bf_start[w] - B.ptr[p]
        ne, nl = 10, 4
        total = 0.0  # every line's bound covers the whole event: lines may share an item
        for j in range(B.ptr[p], B.ptr[p + 1]):
            total += q * B.qty_eff[j]
        for j in range(B.ptr[p], B.ptr[p + 1]):
            g = bf_group[base + j]
            ne += 4 + _takes_bound(method, I, B.comp[j], total) + (
                R.group_len[g] if g != -1 else 0)
            nl += 2
        nsteps = RT.ptr[p + 1] - RT.ptr[p]
        return ne + nsteps, nl + 4 * nsteps, 2 * (B.ptr[p + 1] - B.ptr[p]) + 2
    if t == ISSUE or t == SHIPMENT or t == COUNT:
        if t == COUNT:
            q += abs(R.qty[row])
        return (8 + _takes_bound(method, I, i, q) + (R.group_len[group] if group != -1 else 0),
                6, 3)
    return 8, 12, 2


@njit(cache=True, nogil=True)
def _undo(kind, a, x, v, y, I, R, W, ctr):
    """Undo one effect (Inventory.undo and WorkOrders.undo for the kinds a run's
    reversal can meet: never a new order, a new material row or a close)."""
    if kind == ROW:
        R.qty[a] -= x
    elif kind == ITEM:
        I.qty[a] -= x
        I.value[a] -= v
        I.last_unit[a] = y
    elif kind == TAKE:
        I.layer_qty[a] += x
        I.layer_value[a] += v
        i = I.layer_item[a]
        h = I.head[i]
        if h == -1 or a < h or I.layer_qty[h] <= EPS:
            I.head[i] = a
    elif kind == LAYER:
        I.layer_qty[a] -= x
        I.layer_value[a] -= v
        i = I.layer_item[a]
        if a == ctr[C_LAYER] - 1 and abs(I.layer_qty[a]) <= EPS and I.layer_value[a] == 0:
            prev = -1  # the newest layer: unlink and drop it (Inventory._drop_last_layer)
            for k in range(a - 1, -1, -1):
                if I.layer_item[k] == i:
                    prev = k
                    break
            if prev != -1:
                I.layer_next[prev] = -1
            I.tail[i] = prev
            if I.head[i] == a:
                I.head[i] = prev
            ctr[C_LAYER] = a
    elif kind == WIP:
        W.wip[a] -= v
    elif kind == GOOD:
        W.good[a] -= x
    elif kind == MAT:
        W.mat_act_qty[a] -= x
        W.mat_act_value[a] -= v
    elif kind == STEP:
        W.step_act_hours[a] -= x
        W.step_scrap[a] -= y


@njit(cache=True, nogil=True)
def _reverse(E, P, I, R, W, L, X, ends, ctr, e):
    """Reversal e: undo its target's effects newest first, post the negation of its
    lines (memo ids written as -(memo)-1: the caller prefixes them), one fewer live
    event on the target's order. False if the lines buffer is too small."""
    if E.flag[e] == 1:  # the target is event j of this run
        j = E.step[e]
        e0 = ends.eff[j - 1] if j > 0 else 0
        l0 = ends.line[j - 1] if j > 0 else 0
        e1, l1 = ends.eff[j], ends.line[j]
    else:
        e0, e1, l0, l1 = E.row[e], E.row2[e], E.group[e], E.memo[e]
    if ctr[C_LINE] + (l1 - l0) > L.cols.shape[1]:
        return False
    if E.flag[e] == 1:
        for k in range(e1 - 1, e0 - 1, -1):
            _undo(X.ints[0, k], X.ints[1, k], X.floats[0, k], X.ints[2, k], X.floats[1, k],
                  I, R, W, ctr)
        src = L.cols
    else:
        for k in range(e1 - 1, e0 - 1, -1):
            _undo(P.ints[0, k], P.ints[1, k], P.floats[0, k], P.ints[2, k], P.floats[1, k],
                  I, R, W, ctr)
        src = P.lines
    for k in range(l0, l1):
        _line(L, ctr, src[0, k], -src[1, k], src[2, k], src[3, k], src[4, k], -src[5, k] - 1)
    w = E.op[e]
    if w != -1:
        W.live[w] -= 1
    return True


@njit(cache=True, nogil=True)
def _count_gain_amount(C, I, i, q):
    """q at the item's current cost: std, or the current average / last unit."""
    if C.method[i] != 0:
        if I.qty[i] > EPS:
            return _minor(q * (I.value[i] / I.qty[i]))
        if not np.isnan(I.last_unit[i]):
            return _minor(q * I.last_unit[i])
    return _minor(q * C.std[i] * C.scale)


@njit(cache=True, nogil=True)
def run_batch(E, P, C, B, RT, I, R, W, L, X, A, ends, ctr, start):
    n = E.type.shape[0]
    maxb = 1
    for p in range(B.ptr.shape[0] - 1):
        maxb = max(maxb, B.ptr[p + 1] - B.ptr[p])
    tmp_i = np.empty((5, maxb), np.int64)
    tmp_f = np.empty((4, maxb))
    amounts, uniq, v0 = tmp_i[2], tmp_i[3], tmp_i[4]
    q0, u0 = tmp_f[1], tmp_f[2]
    one_i = np.empty(1, np.int64)
    one_q = np.empty(1)
    acc, method, std, scale = C.acc, C.method, C.std, C.scale
    for e in range(start, n):
        t = E.type[e]
        if t == REVERSAL:
            if not _reverse(E, P, I, R, W, L, X, ends, ctr, e):
                return e
            ends.eff[e] = ctr[C_EFF]
            ends.line[e] = ctr[C_LINE]
            ends.alert[e] = ctr[C_ALERT]
            continue
        w = E.wo[e]
        i = E.item[e]
        q = E.q[e]
        ne, nl, na = _bounds(t, w, q, i, E.group[e], E.row[e], method, B, RT, I, R, W.item,
                             W.bf_start, W.bf_group)
        if (ctr[C_EFF] + ne > X.ints.shape[1] or ctr[C_LINE] + nl > L.cols.shape[1]
                or ctr[C_ALERT] + na > A.ints.shape[1]):
            return e
        wip = np.int64(0)
        total0 = ctr[C_LINE]
        if t == RECEIPT:
            paid = _minor(q * E.price[e] * scale)
            booked = _minor(q * std[i] * scale) if method[i] == 0 else paid
            name, memo = C.item_name[i], E.memo[e]
            if booked != 0:
                _line(L, ctr, C.inv_acc[i], booked, name, 0, 0, memo)
            if paid != 0:
                _line(L, ctr, acc[R_GRNI], -paid, name, 0, 0, memo)
            if paid - booked != 0:
                _line(L, ctr, acc[R_PPV], paid - booked, name, 0, 0, C.memo[M_PPV])
            _add(method, I, X, ctr, i, q, booked)
            _move(R, X, ctr, E.row[e], q)
        elif t == ISSUE or t == SHIPMENT:
            _draw(R, X, A, ctr, E.row[e], E.group[e], q)
            one_i[0] = i
            one_q[0] = q
            _value_out(method, std, scale, I, X, A, ctr, one_i, one_q, 1, amounts, uniq, q0,
                       v0, u0)
            amount = amounts[0]
            if t == ISSUE:
                _pair(L, ctr, acc[R_WIP], C.inv_acc[i], amount, C.item_name[i], W.name[w], 0,
                      C.memo[M_ISSUE])
                r = E.step[e]
                if E.flag[e]:
                    _eff(X, ctr, MAT_NEW, r, 0.0, 0, 0.0)
                W.mat_act_qty[r] += q
                W.mat_act_value[r] += amount
                _eff(X, ctr, MAT, r, q, amount, 0.0)
                wip += amount
            else:
                name, memo = C.item_name[i], E.memo[e]
                _pair(L, ctr, acc[R_COGS], C.inv_acc[i], amount, name, 0, 0, memo)
                _pair(L, ctr, acc[R_AR], acc[R_REV], _minor(q * E.price[e] * scale), name,
                      0, 0, memo)
        elif t == RELEASE:
            _eff(X, ctr, WO_NEW, w, 0.0, 0, 0.0)
        elif t == COMPLETION:
            wip += _backflush(C, B, RT, I, R, L, X, A, ctr, W, w, q, NO_LIMIT, 0, tmp_i, tmp_f)
            p = W.item[w]
            amount = _minor(q * std[p] * scale)
            _pair(L, ctr, C.inv_acc[p], acc[R_WIP], amount, C.item_name[p], W.name[w],
                  RT.wc_name[W.line[w]], C.memo[M_COMPLETION])
            wip -= amount
            W.good[w] += q
            _eff(X, ctr, GOOD, w, q, 0, 0.0)
            _add(method, I, X, ctr, p, q, amount)
            _move(R, X, ctr, E.row[e], q)
        elif t == SCRAP:
            s = E.step[e]
            wip += _backflush(C, B, RT, I, R, L, X, A, ctr, W, w, q, E.op[e], 1, tmp_i, tmp_f)
            p = W.item[w]
            amount = _minor(q * E.aux[e] * scale)
            _pair(L, ctr, acc[R_SCRAP], acc[R_WIP], amount, C.item_name[p], W.name[w],
                  RT.wc_name[RT.wc[s]], RT.scrap_memo[s])
            wip -= amount
            row = W.step_start[w] + s - RT.ptr[p]
            W.step_scrap[row] += q
            _eff(X, ctr, STEP, row, 0.0, 0, q)
        elif t == LABOR:
            wip += _hours(C, RT, L, X, ctr, W.item, W.name, W.step_start, W.step_act_hours,
                          w, E.step[e], q, 2)
        elif t == COUNT:
            r = E.row[e]
            diff = q - R.qty[r]
            if abs(diff) > EPS:
                if diff > 0:
                    amount = _count_gain_amount(C, I, i, diff)
                    _add(method, I, X, ctr, i, diff, amount)
                else:
                    one_i[0] = i
                    one_q[0] = -diff
                    _value_out(method, std, scale, I, X, A, ctr, one_i, one_q, 1, amounts,
                               uniq, q0, v0, u0)
                    amount = -amounts[0]
                _pair(L, ctr, C.inv_acc[i], acc[R_ADJ], amount, C.item_name[i], 0, 0,
                      C.memo[M_COUNT])
                _move(R, X, ctr, r, diff)
        elif t == TRANSFER:
            src = E.row[e]
            have = R.qty[src]
            if have < q - EPS:
                _alert(A, ctr, A_TRANSFER, src, q, have)
            _move(R, X, ctr, src, -q)
            _move(R, X, ctr, E.row2[e], q)
        elif t == CLOSE_WO:
            p = W.item[w]
            found = _variances(C, B, W, w, E.op[e], E.flag[e])
            name, wo = C.item_name[p], W.name[w]
            for k in range(4):
                _pair(L, ctr, acc[R_MUV + k], acc[R_WIP], found[k], name, wo, 0,
                      C.memo[M_MUV + k])
                W.wip[w] -= found[k]
                wip -= found[k]
            rest = W.wip[w]
            _pair(L, ctr, acc[R_ROUND], acc[R_WIP], rest, name, wo, 0, C.memo[M_REST])
            wip -= rest
            W.wip[w] -= rest
            per_event = 2 * W.step_count[w] + B.ptr[p + 1] - B.ptr[p] + 1
            bound = (W.live[w] * per_event + 8) // 2 + 4
            if abs(rest) > bound:
                _alert(A, ctr, A_ROUNDING, w, float(rest), 0.0)
            W.var_usage[w] = found[0]
            W.var_price[w] = found[1]
            W.var_labor[w] = found[2]
            W.var_overhead[w] = found[3]
            W.status[w] = 1
            _eff(X, ctr, CLOSE, w, 0.0, 0, 0.0)
        if t != CLOSE_WO and w != -1:  # a close moved W.wip as it went
            W.wip[w] += wip
        if w != -1 and wip != 0:
            _eff(X, ctr, WIP, w, 0.0, wip, 0.0)
        if w != -1:
            W.live[w] += 1
        if not _close_entry(L, ctr, total0, acc[R_ROUND], C.memo[M_ROUND]):
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
