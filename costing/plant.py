"""Master data as arrays: item table, CSR BOM, CSR routings, work centers.

`Plant(master)` indexes every sku / work center once and lays the BOM and routings
out as compressed rows per parent (`bom_ptr[p]:bom_ptr[p+1]`, `rt_ptr[p]:rt_ptr[p+1]`)
so the numba kernels can walk them without Python objects. It also orders items by
BOM level (purchased items first) and refuses a BOM cycle, naming it.
"""

from __future__ import annotations

import math

import numpy as np

from costing.master import MasterData

METHOD_CODE = {"standard": 0, "average": 1, "fifo": 2}
STANDARD, AVERAGE, FIFO = 0, 1, 2


class MasterDataError(ValueError):
    """Master data the engine cannot cost: `where` names the file and row/key."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class Plant:
    """Read-only arrays built from MasterData; indexes are positions in `skus`."""

    def __init__(self, master: MasterData):
        self.master = master
        self.decimals = master.currency_decimals
        self.scale = 10.0 ** master.currency_decimals
        self.skus = tuple(item.sku for item in master.items)
        self.item_index = {sku: i for i, sku in enumerate(self.skus)}
        n = len(self.skus)
        self.method = np.array([METHOD_CODE[it.costing] for it in master.items], np.int64)
        self.lot_size = np.array([it.lot_size or 1.0 for it in master.items], np.float64)
        self.given = np.array([math.nan if it.standard_cost is None else it.standard_cost
                               for it in master.items], np.float64)
        acc = master.accounts
        self.inv_account = tuple(it.inventory_account or acc.inventory[it.kind]
                                 for it in master.items)

        self.wc_ids = tuple(wc.id for wc in master.work_centers)
        self.wc_index = {w: k for k, w in enumerate(self.wc_ids)}
        self.wc_labor = np.array([wc.labor_rate for wc in master.work_centers], np.float64)
        self.wc_overhead = np.array([wc.overhead_rate for wc in master.work_centers],
                                    np.float64)
        self.wc_backflush = np.array([wc.labor == "backflush" for wc in master.work_centers],
                                     np.bool_)
        self.wc_location = tuple(wc.location for wc in master.work_centers)
        self.locations = frozenset(loc.id for loc in master.locations)
        self.statuses = tuple(master.statuses)

        by_parent: list[list] = [[] for _ in range(n)]
        for k, line in enumerate(master.boms):
            p = self._sku(line.parent, f"boms.csv: line {k + 1}: parent")
            c = self._sku(line.component, f"boms.csv: line {k + 1}: component")
            by_parent[p].append((c, line))
        self.bom_ptr = np.zeros(n + 1, np.int64)
        comp, qty_per, scrap, op, backflush = [], [], [], [], []
        for p in range(n):
            for c, line in by_parent[p]:
                comp.append(c)
                qty_per.append(line.qty_per)
                scrap.append(line.scrap_pct)
                op.append(line.operation)
                backflush.append(line.consumption == "backflush")
            self.bom_ptr[p + 1] = len(comp)
        self.bom_comp = np.array(comp, np.int64)
        self.bom_qty_per = np.array(qty_per, np.float64)
        self.bom_scrap = np.array(scrap, np.float64)
        self.bom_qty_eff = self.bom_qty_per * (1.0 + self.bom_scrap / 100.0)
        self.bom_op = np.array(op, np.int64)
        self.bom_backflush = np.array(backflush, np.bool_)

        steps: list[list] = [[] for _ in range(n)]
        for k, step in enumerate(master.routings):
            p = self._sku(step.parent, f"routings.csv: line {k + 1}: parent")
            if step.work_center not in self.wc_index:
                raise MasterDataError(f"routings.csv: line {k + 1}: work_center",
                                      f"unknown work center {step.work_center!r}")
            steps[p].append(step)
        self.rt_ptr = np.zeros(n + 1, np.int64)
        r_op, r_wc, r_setup, r_run, r_per_unit = [], [], [], [], []
        for p in range(n):
            for step in sorted(steps[p], key=lambda s: s.operation):
                r_op.append(step.operation)
                r_wc.append(self.wc_index[step.work_center])
                r_setup.append(step.setup_hours)
                r_run.append(step.run_hours)
                # hours per good unit: the setup spread over the parent's lot size
                r_per_unit.append(step.setup_hours / self.lot_size[p] + step.run_hours)
            self.rt_ptr[p + 1] = len(r_op)
        self.rt_op = np.array(r_op, np.int64)
        self.rt_wc = np.array(r_wc, np.int64)
        self.rt_setup = np.array(r_setup, np.float64)
        self.rt_run = np.array(r_run, np.float64)
        self.rt_per_unit = np.array(r_per_unit, np.float64)

        self.manufactured = np.array(
            [self.bom_ptr[p + 1] > self.bom_ptr[p] or self.rt_ptr[p + 1] > self.rt_ptr[p]
             for p in range(n)], np.bool_)
        for p in range(n):
            if not self.manufactured[p] and math.isnan(self.given[p]):
                raise MasterDataError(f"items.csv: {self.skus[p]}: standard_cost",
                                      "required for a purchased item (no BOM or routing)")
        self.level = self._levels()
        self.order = np.array(sorted(range(n), key=lambda p: (self.level[p], p)), np.int64)

    def _sku(self, sku: str, where: str) -> int:
        try:
            return self.item_index[sku]
        except KeyError:
            raise MasterDataError(where, f"unknown item {sku!r}") from None

    def _levels(self) -> np.ndarray:
        """Height in the BOM: purchased = 0, a parent = 1 + its highest component."""
        n = len(self.skus)
        level = np.full(n, -1, np.int64)
        state = [0] * n  # 0 new, 1 on the path, 2 done

        def visit(p: int, path: list[int]) -> int:
            if state[p] == 2:
                return int(level[p])
            if state[p] == 1:
                cycle = path[path.index(p):] + [p]
                raise MasterDataError("boms.csv", "BOM cycle " +
                                      " -> ".join(self.skus[c] for c in cycle))
            state[p] = 1
            path.append(p)
            height = 1 if self.manufactured[p] else 0
            for j in range(self.bom_ptr[p], self.bom_ptr[p + 1]):
                height = max(height, 1 + visit(int(self.bom_comp[j]), path))
            path.pop()
            state[p] = 2
            level[p] = height
            return height

        for p in range(n):
            visit(p, [])
        return level

    def bom_lines(self, p: int) -> range:
        return range(int(self.bom_ptr[p]), int(self.bom_ptr[p + 1]))

    def steps(self, p: int) -> range:
        return range(int(self.rt_ptr[p]), int(self.rt_ptr[p + 1]))

    def step_of(self, p: int, operation: int) -> int | None:
        for s in self.steps(p):
            if self.rt_op[s] == operation:
                return s
        return None
