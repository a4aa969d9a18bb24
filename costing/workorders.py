"""Work orders as arrays: counters, WIP balance, material and routing-step actuals.

Each order owns a contiguous block of routing-step rows (hours, scrap per operation)
and one material row per BOM line, plus rows appended for issued items that are not
in its BOM. The variance kernel reads these columns for every open order at once.
"""

from __future__ import annotations

import numpy as np

from costing.arrays import Column
from costing.kernels import variance_kernel
from costing.plant import Plant

OPEN, CLOSED, VOID = 0, 1, 2
VARIANCES = ("material_usage", "material_price", "labor_efficiency", "overhead_efficiency")


class WorkOrders:
    def __init__(self, plant: Plant):
        self.plant = plant
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.item = Column(np.int64)
        self.line = Column(np.int64)
        self.planned = Column(np.float64)
        self.status = Column(np.int64)
        self.good = Column(np.float64)
        self.wip = Column(np.int64)
        self.variance = [Column(np.int64) for _ in VARIANCES]  # posted at close
        self.mat_start = Column(np.int64)
        self.step_start = Column(np.int64)
        self.step_count = Column(np.int64)
        self.mat_wo, self.mat_item, self.mat_op = (Column(np.int64) for _ in range(3))
        self.mat_qty_eff, self.mat_act_qty = Column(np.float64), Column(np.float64)
        self.mat_act_value = Column(np.int64)
        self.step_op, self.step_wc = Column(np.int64), Column(np.int64)
        self.step_per_unit, self.step_labor, self.step_overhead = (
            Column(np.float64) for _ in range(3))
        self.step_act_hours, self.step_scrap = Column(np.float64), Column(np.float64)
        self.extra_rows: dict[tuple[int, int], int] = {}  # (wo, item) -> material row
        self.extra_of: dict[int, list[int]] = {}  # wo -> its extra material rows, in order
        self.live_count = Column(np.int64)  # accepted, unreversed events of each order
        self.sales_order = Column(np.int64)  # costing.settlement order it is made for, or -1

    def create(self, wo_id: str, p: int, line: int, planned: float,
               sales_order: int = -1) -> int:
        pl = self.plant
        w = len(self.ids)
        self.ids.append(wo_id)
        self.index[wo_id] = w
        for col, v in ((self.item, p), (self.line, line), (self.planned, planned),
                       (self.status, OPEN), (self.good, 0.0), (self.wip, 0),
                       (self.mat_start, self.mat_wo.n), (self.step_start, self.step_op.n),
                       (self.step_count, len(pl.steps(p)))):
            col.append(v)
        for col in self.variance:
            col.append(0)
        # one material row per BOM line and one step row per routing step, column by column
        b0, b1 = int(pl.bom_ptr[p]), int(pl.bom_ptr[p + 1])
        self._mat_rows(w, pl.bom_comp[b0:b1], pl.bom_qty_eff[b0:b1], pl.bom_op[b0:b1])
        s0, s1 = int(pl.rt_ptr[p]), int(pl.rt_ptr[p + 1])
        ns, wc = s1 - s0, pl.rt_wc[s0:s1]
        for col, values in ((self.step_op, pl.rt_op[s0:s1]), (self.step_wc, wc),
                            (self.step_per_unit, pl.rt_per_unit[s0:s1]),
                            (self.step_labor, pl.wc_labor[wc]),
                            (self.step_overhead, pl.wc_overhead[wc]),
                            (self.step_act_hours, np.zeros(ns)),
                            (self.step_scrap, np.zeros(ns))):
            col.extend(values)
        self.live_count.append(0)
        self.sales_order.append(sales_order)
        return w

    def _mat_rows(self, w: int, items, qty_eff, ops) -> int:
        """Material rows of order w, nothing consumed yet; the first one's index."""
        r, n = self.mat_wo.n, len(items)
        cols = (self.mat_wo, self.mat_item, self.mat_qty_eff, self.mat_op, self.mat_act_qty,
                self.mat_act_value)
        if n == 1:  # an extra row: six values, no arrays built (most issues of a replay)
            for col, value in zip(cols, (w, items[0], qty_eff[0], ops[0], 0.0, 0.0)):
                col.append(value)
            return r
        for col, values in zip(cols, (np.full(n, w), items, qty_eff, ops, np.zeros(n),
                                      np.zeros(n))):
            col.extend(values)
        return r

    def material_row(self, w: int, item: int, effects: list, bom_line: int | None = None) -> int:
        """The order's material row for a BOM line, or for an item (first BOM line
        using it, else an extra row with no standard quantity)."""
        p = int(self.item[w])
        base = int(self.mat_start[w]) - int(self.plant.bom_ptr[p])
        if bom_line is not None:
            return base + bom_line
        for j in self.plant.bom_lines(p):
            if self.plant.bom_comp[j] == item:
                return base + j
        r = self.extra_rows.get((w, item))
        if r is None:
            r = self.extra_row(w, item)
            effects.append(("mat_new", w, item, r))
        return r

    def extra_row(self, w: int, item: int) -> int:
        """A new material row of order w for an item not in its BOM."""
        r = self._mat_rows(w, (item,), (0.0,), (0,))
        self.extra_rows[(w, item)] = r
        self.extra_of.setdefault(w, []).append(r)
        return r

    def step_row(self, w: int, global_step: int) -> int:
        p = int(self.item[w])
        return int(self.step_start[w]) + global_step - int(self.plant.rt_ptr[p])

    def scrap_total(self, w: int) -> float:
        s0 = int(self.step_start[w])
        return float(self.step_scrap.a[s0:s0 + int(self.step_count[w])].sum())

    def variances(self, selected: np.ndarray, std: np.ndarray):
        """The variance kernel over the selected orders (bool mask)."""
        return variance_kernel(
            selected, self.good.a, self.mat_wo.a, self.mat_item.a, self.mat_qty_eff.a,
            self.mat_op.a, self.mat_act_qty.a, self.mat_act_value.a, self.step_start.a,
            self.step_count.a, self.step_op.a, self.step_per_unit.a, self.step_labor.a,
            self.step_overhead.a, self.step_act_hours.a, self.step_scrap.a, std,
            self.plant.scale)

    def undo(self, effect: tuple) -> None:
        kind = effect[0]
        if kind == "wo_new":
            w = effect[1]
            self.status[w] = VOID
            del self.index[self.ids[w]]
        elif kind == "good":
            self.good[effect[1]] -= effect[2]
        elif kind == "wip":
            self.wip[effect[1]] -= effect[2]
        elif kind == "mat":
            _, r, dq, dv = effect
            self.mat_act_qty[r] -= dq
            self.mat_act_value[r] -= dv
        elif kind == "step":
            _, s, dh, dscrap = effect
            self.step_act_hours[s] -= dh
            self.step_scrap[s] -= dscrap
        elif kind == "mat_new":
            _, w, item, r = effect
            if self.mat_act_qty[r] != 0 or self.mat_act_value[r] != 0:
                # a later issue of the order drew on this row too (its own actuals were
                # undone just before): the row stays, the later event still points at it
                return
            del self.extra_rows[(w, item)]
            self.extra_of[w].remove(r)
            if r == self.mat_wo.n - 1:
                for col in (self.mat_wo, self.mat_item, self.mat_qty_eff, self.mat_op,
                            self.mat_act_qty, self.mat_act_value):
                    col.pop()
            else:  # rows behind it belong to other orders: leave an inert row
                self.mat_wo[r] = w
                self.mat_item[r] = item
        elif kind == "close":
            _, w, old = effect
            self.status[w] = OPEN
            for col, v in zip(self.variance, old):
                col[w] = v
        else:
            raise KeyError(kind)
