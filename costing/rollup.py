"""Standard-cost roll-up: every item's std, bottom-up over BOM levels (see docs/accounting.md).

std(P) = Σ_c qty_per·(1+scrap%/100)·std(c) + Σ_op (setup/lot_size + run)·(labor+overhead).
A manufactured item with a given standard_cost keeps it (frozen) and the row reports
`difference = rolled − given`, so a controller sees what re-rolling would change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from costing.kernels import rollup_kernel, std_through_kernel, std_through_table_kernel
from costing.master import MasterData
from costing.plant import Plant

__all__ = ["Rollup", "RollupRow", "roll_up"]


@dataclass(frozen=True, slots=True)
class RollupRow:
    sku: str
    level: int  # 0 = purchased; a parent is one above its highest component
    kind: str
    method: str
    material: float
    labor: float
    overhead: float
    std: float  # the standard cost the engine values at
    given: float | None  # items.csv standard_cost, None when blank
    difference: float | None  # rolled − given for a manufactured item with a given cost


class Rollup:
    """Roll-up result: rows in level order (purchased first) and std by sku."""

    def __init__(self, plant: Plant):
        self.plant = plant
        material, labor, overhead, rolled, std = rollup_kernel(
            plant.order, plant.manufactured, plant.given, plant.bom_ptr, plant.bom_comp,
            plant.bom_qty_eff, plant.rt_ptr, plant.rt_wc, plant.rt_per_unit,
            plant.wc_labor, plant.wc_overhead)
        self.std_array = std
        self.rolled_array = rolled
        self.std: dict[str, float] = {sku: float(std[i]) for i, sku in enumerate(plant.skus)}
        # std_through of every routing step, filled once: a scrap (always at a step of
        # its order's routing) looks its value up instead of calling a kernel per event.
        self.through_array = std_through_table_kernel(
            std, plant.bom_ptr, plant.bom_comp, plant.bom_qty_eff, plant.bom_op,
            plant.rt_ptr, plant.rt_op, plant.rt_wc, plant.rt_per_unit, plant.wc_labor,
            plant.wc_overhead)
        step_item = np.repeat(np.arange(len(plant.skus)), np.diff(plant.rt_ptr)).tolist()
        self._through: dict[tuple[int, int], float] = dict(
            zip(zip(step_item, plant.rt_op.tolist()), self.through_array.tolist()))
        items = plant.master.items
        rows = []
        for p in (int(x) for x in plant.order):
            given = None if math.isnan(plant.given[p]) else float(plant.given[p])
            difference = (float(rolled[p]) - given
                          if plant.manufactured[p] and given is not None else None)
            rows.append(RollupRow(items[p].sku, int(plant.level[p]), items[p].kind,
                                  items[p].costing, float(material[p]), float(labor[p]),
                                  float(overhead[p]), float(std[p]), given, difference))
        self.rows: list[RollupRow] = rows

    def std_through(self, sku: str, operation: int) -> float:
        """Unit cost of `sku` carried through routing step `operation` (scrap value)."""
        return self.std_through_index(self.plant.item_index[sku], operation)

    def std_through_index(self, p: int, operation: int) -> float:
        """std_through by item index: a lookup for an operation of p's routing."""
        through = self._through.get((p, operation))
        if through is not None:
            return through
        pl = self.plant  # not a step of p's routing (a purchased item, a BOM-only parent)
        return float(std_through_kernel(
            p, operation, pl.manufactured, self.std_array, pl.bom_ptr, pl.bom_comp,
            pl.bom_qty_eff, pl.bom_op, pl.rt_ptr, pl.rt_op, pl.rt_wc, pl.rt_per_unit,
            pl.wc_labor, pl.wc_overhead))


def roll_up(master: MasterData | Plant) -> Rollup:
    """Roll up standard costs; raises costing.plant.MasterDataError on unusable data."""
    return Rollup(master if isinstance(master, Plant) else Plant(master))
