"""What every accepted event changed, kept compactly so a reversal can negate it exactly.

An effect is one state change (a stock-row move, an item's qty/value, a FIFO take or
layer, WIP, good units, material and step actuals, a new material row or order, a
close). `EffectLog` keeps them as typed columns — 29 bytes an effect instead of a
Python tuple — written by the per-event path and by the batch kernel alike, all but
the newest on disk (costing.arrays.SpillColumn): only a reversal reads them again. `Records`
maps each accepted event id to its effect range and journal-line range.
"""

from __future__ import annotations

import numpy as np

from costing.arrays import Column, SpillColumn, SpillStore

# effect kinds: column codes shared with costing.batch's kernel
ROW, ITEM, TAKE, LAYER, WIP, GOOD, MAT, STEP, MAT_NEW, WO_NEW, CLOSE = range(11)
KIND_NAMES = ("row", "item", "take", "layer", "wip", "good", "mat", "step", "mat_new",
              "wo_new", "close")
KIND_CODE = {name: k for k, name in enumerate(KIND_NAMES)}

EVENT_TYPES = ("receipt", "issue", "wo_release", "completion", "scrap", "labor",
               "shipment", "count", "transfer", "wo_close", "reversal")
TYPE_CODE = {name: k for k, name in enumerate(EVENT_TYPES)}


class EffectLog:
    """Effects as columns: kind, a (row/item/layer/order/material-row/step-row id),
    x (a quantity or hours), v (minor units), y (old unit cost, or scrap qty)."""

    def __init__(self, spill_block: int = 1 << 16):
        store = SpillStore()  # read again only by a reversal: all but the newest on disk
        self.kind = SpillColumn(np.int8, store, spill_block)
        self.a = SpillColumn(np.int32, store, spill_block)
        self.x = SpillColumn(np.float64, store, spill_block)
        self.v = SpillColumn(np.int64, store, spill_block)
        self.y = SpillColumn(np.float64, store, spill_block)
        self.closed: dict[int, tuple[int, ...]] = {}  # effect -> variances before a close

    @property
    def n(self) -> int:
        return self.kind.n

    def columns(self) -> tuple[Column, ...]:
        return self.kind, self.a, self.x, self.v, self.y

    def append(self, effect: tuple) -> None:
        name = effect[0]
        k = KIND_CODE[name]
        a, x, v, y = int(effect[1]), 0.0, 0, 0.0
        if name == "row" or name == "good":
            x = effect[2]
        elif name == "item":
            x, v, y = effect[2], effect[3], effect[4]
        elif name in ("take", "layer", "mat"):
            x, v = effect[2], effect[3]
        elif name == "wip":
            v = effect[2]
        elif name == "step":
            x, y = effect[2], effect[3]
        elif name == "mat_new":
            a = int(effect[3])  # the order and item are still on the material row
        elif name == "close":
            self.closed[self.kind.n] = tuple(effect[2])
        for col, value in zip(self.columns(), (k, a, x, v, y)):
            col.append(value)

    def range(self, e0: int, e1: int) -> list[tuple[int, int, int, float, int, float]]:
        """Effects [e0, e1) as (e, kind, a, x, v, y), one read per column."""
        cols = [c.read(e0, e1).tolist() for c in self.columns()]
        return list(zip(range(e0, e1), *cols))

    def get(self, e: int, wos, row: tuple | None = None) -> tuple:
        """Effect e as the tuple the undo methods take (`row`: e's entry of `range`)."""
        if row is None:
            (row,) = self.range(e, e + 1)
        _, k, a, x, v, y = row
        name = KIND_NAMES[k]
        if name == "row" or name == "good":
            return (name, a, x)
        if name == "item":
            return (name, a, x, v, y, None)
        if name in ("take", "layer", "mat"):
            return (name, a, x, v)
        if name == "wip":
            return (name, a, v)
        if name == "step":
            return (name, a, x, y)
        if name == "mat_new":
            return (name, int(wos.mat_wo[a]), int(wos.mat_item[a]), a)
        if name == "close":
            # an open order's posted variances are 0: only a close sets them, and the
            # reversal of a close restores them
            return (name, a, self.closed.get(e, (0, 0, 0, 0)))
        return (name, a)


class Records:
    """Accepted events in order: type, effect and line ranges, order, reversed flag.

    Ranges are contiguous: record k spans [end[k-1], end[k]) of the effect log and of
    the ledger's lines, so one end per record is all that is stored.
    """

    def __init__(self):
        self.index: dict[str, int] = {}
        self.ids: list[str] = []  # record -> event id (the index's own key strings)
        self.type = Column(np.int8)
        self.eff_end = Column(np.int64)
        self.line_end = Column(np.int64)
        self.wo = Column(np.int32, -1)
        self.reversed = Column(np.bool_)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self.index

    def add(self, event_id: str, type_: str, eff_end: int, line_end: int,
            wo: int | None) -> None:
        self.index[event_id] = self.type.append(TYPE_CODE[type_])
        self.ids.append(event_id)
        self.eff_end.append(eff_end)
        self.line_end.append(line_end)
        self.wo.append(-1 if wo is None else wo)
        self.reversed.append(False)

    def ranges(self, k: int) -> tuple[int, int, int, int]:
        """(effect start, effect end, line start, line end) of record k."""
        e0 = int(self.eff_end[k - 1]) if k else 0
        l0 = int(self.line_end[k - 1]) if k else 0
        return e0, int(self.eff_end[k]), l0, int(self.line_end[k])
