"""Encoding a stretch of a run column-wise: the frequent events whose lookups all hit
the caches, encoded a field at a time; the rest left to their per-event encoder.

`encode_stretch(path, events, lo, hi)` reads receipts, shipments, completions and labor
in events[lo:hi] one list (one comprehension, one dict lookup, one numpy test) per field
and type, and gives back a `Stretch`: the rows of bc.Events each of them encodes to,
and the positions it could not take (`fallback`), which costing.batch encodes one by
one, in order, between the blocks it takes from here.

An event is taken here only when its encoding cannot depend on an event before it in
the stretch: every lookup hits (item, location, status, stock row, lot chain, memo id,
sales order, routing step, the order open, not closing, its backflush rows known) and
every figure passes the per-event test as it stands (a float, 0 < x < inf). A miss
(first sight of a row, a memo, an order released in the stretch), a bad field, an
order closed earlier in the stretch, any other type: the per-event encoder, at its
position, so rows, orders and names are created in the order they are today, and a
refused event is refused with the same field and reason. What can still move under a
taken event, the receipt layer its PO line gets, is counted from the run's layers
when its block is taken (`Stretch.layer`).
"""

from __future__ import annotations

from operator import attrgetter
from typing import NamedTuple

import numpy as np

from costing import batch_columns as bc
from costing.workorders import OPEN

_CODES = {"receipt": bc.RECEIPT, "shipment": bc.SHIPMENT, "completion": bc.COMPLETION,
          "labor": bc.LABOR, "wo_close": bc.CLOSE_WO}
_OTHER = -1


class Stretch(NamedTuple):
    """events[lo:hi] as far as it is encoded here; positions relative to `lo`."""

    ints: list  # per position: the 10 int fields of bc.Events (a fallback's: unused)
    floats: list  # per position: q, price, aux
    fallback: list  # positions left to the per-event encoders, ascending
    layer0: int  # the receipt layer count (made and pending) the layers below assume
    layer_before: list  # per position (and one past the end): taken receipts with a
    #                     PO line before it
    layer_at: list  # positions of those receipts
    layer_lines: list  # and their PO lines
    layer_prices: list  # and unit prices


def encode_stretch(path, events: list, lo: int, hi: int) -> Stretch:
    """events[lo:hi] encoded where it can be here (see the module's docstring)."""
    m = hi - lo
    ints = np.full((m, 10), -1, np.int64)
    floats = np.zeros((m, 3))
    ok = np.zeros(m, bool)
    layer_pos = np.empty(0, np.int64)
    layer_line = np.empty(0, np.int64)
    seg = events[lo:hi]
    layer0 = path.engine.money.rl_line.n + len(path.layer_lines)
    try:
        get = _CODES.get
        code = np.array([get(t, _OTHER) for t in map(attrgetter("type"), seg)], np.int64)
        closed_at = _closes(seg, code)
        for t, encode in ((bc.RECEIPT, _receipts), (bc.SHIPMENT, _shipments),
                          (bc.COMPLETION, _completions), (bc.LABOR, _labor)):
            pos = np.flatnonzero(code == t)
            if not len(pos):
                continue
            evs = list(map(seg.__getitem__, pos.tolist()))
            try:
                got = encode(path, evs, pos, closed_at)
            except AttributeError:  # a field missing: the per-event encoder says so
                continue
            good, cols, fcols = got[:3]
            ints[pos[:, None], cols[0]] = cols[1]
            floats[pos[:, None], fcols[0]] = fcols[1]
            ints[pos, 0] = t
            ok[pos] = good
            if t == bc.RECEIPT:
                has = good & (got[3] >= 0)
                layer_pos, layer_line = pos[has], got[3][has]
                layer_price = fcols[1][has, 1]
    except (AttributeError, TypeError, ValueError):  # no type, an unhashable or odd
        # field: all one by one
        ok[:] = False
        layer_pos = layer_line = np.empty(0, np.int64)
    before = np.zeros(m + 1, np.int64)
    if len(layer_pos):
        ints[layer_pos, 4] = layer0 + np.arange(len(layer_pos))
        np.add.at(before, layer_pos + 1, 1)
        before = np.cumsum(before)
        prices = layer_price.tolist()
    else:
        prices = []
    return Stretch(ints.tolist(), floats.tolist(), np.flatnonzero(~ok).tolist(), layer0,
                   before.tolist(), layer_pos.tolist(), layer_line.tolist(), prices)


def _field(evs: list, name: str) -> list:
    return list(map(attrgetter(name), evs))


def _optional(evs: list, name: str) -> list:
    try:
        return list(map(attrgetter(name), evs))
    except AttributeError:
        return [getattr(ev, name, None) for ev in evs]


def _figures(values: list) -> tuple[np.ndarray, np.ndarray]:
    """Floats and where each passes the per-event fast test (a float, 0 < x < inf);
    anything else is the per-event encoder's to check."""
    if not all(type(v) is float for v in values):
        values = [v if type(v) is float else np.nan for v in values]
    a = np.array(values, np.float64)
    return a, (a > 0.0) & (a < np.inf)


def _closes(seg: list, code: np.ndarray) -> dict:
    """Order id -> position of its first close in the stretch."""
    out: dict = {}
    for k in np.flatnonzero(code == bc.CLOSE_WO).tolist():
        try:
            out.setdefault(seg[k].work_order, k)
        except (AttributeError, TypeError):
            pass
    return out


def _items(path, skus: list) -> np.ndarray:
    get = path._item_index.get
    return np.array([get(s, -1) for s in skus], np.int64)


def _in(values: list, allowed) -> np.ndarray:
    return np.array([v in allowed for v in values], bool)


def _lookup(table: dict, keys) -> np.ndarray:
    get = table.get
    return np.array([get(k, -1) for k in keys], np.int64)


def _receipts(path, evs, pos, closed_at):
    sku = _field(evs, "item")
    item = _items(path, sku)
    q, q_ok = _figures(_field(evs, "qty"))
    loc = _field(evs, "location")
    status = _optional(evs, "status")
    statuses = path._statuses
    st_ok = np.array([s is None or s in statuses for s in status], bool)
    status = ["available" if s is None else s for s in status]
    lot = _optional(evs, "lot")
    po = _optional(evs, "po")
    price, p_ok = _figures(_field(evs, "unit_price"))
    memo = _lookup(path._memo_ids, [("receipt", p) for p in po])
    row = _lookup(path._row_index, zip(sku, loc, status, lot))
    lines = path._po_lines
    line = np.array([-1 if p is None else lines.get((p, s), -1) for p, s in zip(po, sku)],
                    np.int64)
    good = (item >= 0) & q_ok & _in(loc, path._locations) & st_ok & p_ok & (memo >= 0) \
        & (row >= 0)
    return (good, ([1, 3, 6], np.stack([item, row, memo], 1)),
            ([0, 1], np.stack([q, price], 1)), line)


def _shipments(path, evs, pos, closed_at):
    sku = _field(evs, "item")
    item = _items(path, sku)
    q, q_ok = _figures(_field(evs, "qty"))
    loc = _field(evs, "location")
    order = _optional(evs, "order")
    price, p_ok = _figures(_field(evs, "unit_price"))
    memo = _lookup(path._memo_ids, [("shipment", o) for o in order])
    lot = _optional(evs, "lot")
    row = _lookup(path._row_index, [(s, l, "available", t) for s, l, t in zip(sku, loc, lot)])
    groups = path._group_index.get
    group = np.array([-1 if t is None and g is None else -2 if t is not None else g
                      for t, g in zip(lot, map(groups, zip(sku, loc)))], np.int64)
    # -2: a lot is named, no chain drawn after the row (-1 in the column)
    orders = path.engine.money.order_index.get
    so = np.array([-2 if o is None else orders(o, -1) for o in order], np.int64)
    good = (item >= 0) & q_ok & _in(loc, path._locations) & p_ok & (memo >= 0) \
        & (row >= 0) & (group != -1) & (so != -1)
    group[group == -2] = -1
    so[so == -2] = -1
    return (good, ([1, 3, 4, 5, 6], np.stack([item, row, so, group, memo], 1)),
            ([0, 1], np.stack([q, price], 1)))


def _orders(path, evs, pos, closed_at) -> tuple[np.ndarray, np.ndarray, list]:
    """Each event's order, whether it may be taken here (open, not closing in the run
    nor earlier in the stretch, its backflush rows known), and the order ids."""
    ids = _field(evs, "work_order")
    wo = _lookup(path._wo_index, ids)
    known = wo >= 0
    w = np.where(known, wo, 0)
    good = known & (path._wo_status.buf[w] == OPEN)
    bf = path.bf_start
    good &= (w < bf.n) & (bf.buf[np.minimum(w, len(bf.buf) - 1)] != -1)
    if path.closing:
        good &= ~_in(wo.tolist(), path.closing)
    if closed_at:
        never = int(pos[-1]) + 1
        good &= np.array([closed_at.get(i, never) for i in ids], np.int64) >= pos
    return wo, good, ids


def _completions(path, evs, pos, closed_at):
    wo, good, _ = _orders(path, evs, pos, closed_at)
    q, q_ok = _figures(_field(evs, "qty"))
    loc = _field(evs, "location")
    skus = path._skus
    item = path.engine.wos.item.buf[np.where(good, wo, 0)].tolist()
    row = _lookup(path._row_index, [(skus[i], l, "available", None)
                                    for i, l in zip(item, loc)])
    good = good & q_ok & _in(loc, path._locations) & (row >= 0)
    return (good, ([2, 3], np.stack([wo, row], 1)), ([0], q[:, None]))


def _labor(path, evs, pos, closed_at):
    wo, good, _ = _orders(path, evs, pos, closed_at)
    q, q_ok = _figures(_field(evs, "hours"))
    item = path.engine.wos.item.buf[np.where(good, wo, 0)].tolist()
    step = _lookup(path._steps, zip(item, _field(evs, "operation")))
    good = good & q_ok & (step >= 0)
    return (good, ([2, 7], np.stack([wo, step], 1)), ([0], q[:, None]))
