"""Read-only views of engine state: stock rows, item costs, work orders, balances.

What the journal projections, the dashboard and the CLI show. Values are integer
minor units; a stock row's value is its share of the item's value (by qty, largest
remainder), so the rows of an item sum exactly to the item's value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costing.kernels import EPS
from costing.master import Method
from costing.workorders import CLOSED, OPEN, VARIANCES, VOID

__all__ = ["EngineViews", "ItemCost", "StockRow", "WorkOrderState"]


@dataclass(frozen=True, slots=True)
class StockRow:
    item: str
    location: str
    status: str
    lot: str | None
    qty: float
    value: int


@dataclass(frozen=True, slots=True)
class ItemCost:
    item: str
    method: Method
    qty: float
    value: int
    unit_cost: float  # major units: std, or value/qty, or the last known unit cost


@dataclass(frozen=True, slots=True)
class WorkOrderState:
    work_order: str
    item: str
    line: str
    planned: float
    status: str  # "open" | "closed"
    good: float
    scrap: float
    wip: int
    material_usage: int  # variances posted at close; 0 while open
    material_price: int
    labor_efficiency: int
    overhead_efficiency: int


class EngineViews:
    """Mixed into Engine: everything here only reads state."""

    def stock_rows(self, items: set[str] | None = None) -> list[StockRow]:
        """Every stock row, or only the rows of `items`."""
        return [StockRow(k[0], k[1], k[2], k[3], q, v)
                for k, q, v in self.inv.row_values(items)]

    def stock_figures(self, items: set[str] | None = None
                      ) -> list[tuple[str, str, str, str, float, int]]:
        """The rows of `stock_rows` as (item, location, status, lot or '', qty, value)
        tuples: what a commit projects, with no object built a row (a frozen dataclass
        costs a few µs to make, and a commit of 50 events writes ~150 rows)."""
        return [(k[0], k[1], k[2], k[3] or "", q, v) for k, q, v in self.inv.row_values(items)]

    def item_costs(self, items: set[str] | None = None) -> list[ItemCost]:
        """Every item's cost, or only those of `items` (in master-data order)."""
        pl, inv, out = self.plant, self.inv, []
        master_items = self.master.items
        # a commit asks for the few items it touched: those, not a pass over them all
        chosen = (range(len(master_items)) if items is None else
                  sorted(pl.item_index[sku] for sku in items if sku in pl.item_index))
        for i in chosen:
            item = master_items[i]
            q, v = float(inv.qty[i]), int(inv.value[i])
            if pl.method[i] == 0:
                unit = float(self.std[i])
            else:
                unit_minor = inv.unit_minor(i)
                unit = float(self.std[i]) if unit_minor is None else unit_minor / pl.scale
            out.append(ItemCost(item.sku, item.costing, 0.0 if abs(q) <= EPS else q, v, unit))
        return out

    def work_orders(self, orders: set[str] | None = None) -> list[WorkOrderState]:
        """Every work order, or only `orders`."""
        wos, out = self.wos, []
        if orders is None:
            chosen = range(len(wos.ids))
        else:
            chosen = sorted(wos.index[o] for o in orders if o in wos.index)
        for w in chosen:
            wo_id = wos.ids[w]
            if wos.status[w] not in (OPEN, CLOSED):
                continue  # a reversed release
            out.append(WorkOrderState(
                wo_id, self.plant.skus[int(wos.item[w])],
                self.plant.wc_ids[int(wos.line[w])], float(wos.planned[w]),
                "open" if wos.status[w] == OPEN else "closed", float(wos.good[w]),
                wos.scrap_total(w), int(wos.wip[w]), *(int(v[w]) for v in wos.variance)))
        return out

    def variance_so_far(self, work_order: str) -> dict[str, int]:
        """The four variances as if the order closed now (posted ones once closed)."""
        wos = self.wos
        w = wos.index[work_order]
        if wos.status[w] == CLOSED:
            return {name: int(v[w]) for name, v in zip(VARIANCES, wos.variance)}
        selected = np.zeros(len(wos.ids), np.bool_)
        selected[w] = True
        found = wos.variances(selected, self.std)
        return {name: int(v[w]) for name, v in zip(VARIANCES, found)}

    def open_variances(self) -> dict[str, dict[str, int]]:
        """variance_so_far for every open order in one kernel call (dashboard)."""
        wos = self.wos
        selected = np.asarray(wos.status.a == OPEN)
        found = wos.variances(selected, self.std)
        return {wos.ids[w]: {name: int(v[w]) for name, v in zip(VARIANCES, found)}
                for w in np.flatnonzero(selected).tolist()}

    def balances(self) -> dict[str, int]:
        return self.ledger.balances()

    def inventory_by_account(self) -> dict[str, int]:
        """Σ item value per inventory account: equals the GL balance of each."""
        out: dict[str, int] = {}
        for i, account in enumerate(self.plant.inv_account):
            out[account] = out.get(account, 0) + int(self.inv.value[i])
        return out

    def snapshot(self) -> tuple:
        """All observable state, for replay and reversal comparisons."""
        layers = tuple(tuple(self.inv.layers_of(i)) for i in range(len(self.plant.skus)))
        return (tuple(self.stock_rows()), tuple(self.item_costs()),
                tuple(self.work_orders()), tuple(sorted((a, b) for a, b in self.balances().items() if b)),
                layers, self.money.state(),
                tuple((self.wos.ids[w], int(so)) for w, (so, status) in enumerate(zip(
                    self.wos.sales_order.a.tolist(), self.wos.status.a.tolist()))
                    if so != -1 and status != VOID))
