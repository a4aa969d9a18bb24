"""The release check: a work order released without the components its plan needs.

A `wo_release` needs, for each direct component of its item (one BOM level), the
planned quantity × qty_per × (1 + scrap %) at the component's consuming location (the
location of the work center of the routing step that consumes it; the order's line when
the BOM line names no step — the rule backflush follows). Available is the `available`
stock there, from the journal's stock projection, minus what other open orders still
need of it there: their planned quantity not yet reported good or scrap, at the same
rate. Reading only the order's own components keeps a release's cost bounded by its BOM.

The check sees what is committed, plus the releases accepted earlier in the same
micro-batch; a receipt earlier in the same batch is not yet in the projection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from costing.plant import Plant

EPS = 1e-9
MODES = ("warn", "refuse", "off")


@dataclass(frozen=True, slots=True)
class Short:
    """One component the order cannot get enough of at its consuming location."""

    item: str
    location: str
    needed: float
    available: float

    def text(self) -> str:
        return (f"{self.item} at {self.location}: needs {self.needed:g},"
                f" {self.available:g} available")


def _needs(plant: Plant, item: str, line: str, qty: float) -> dict[tuple[str, str], float]:
    """(component, consuming location) -> quantity the plan of `qty` of `item` needs."""
    p, wc = plant.item_index.get(item), plant.wc_index.get(line)
    out: dict[tuple[str, str], float] = {}
    if p is None or wc is None:
        return out  # the engine rejects the release itself
    for j in plant.bom_lines(p):
        s = plant.step_of(p, int(plant.bom_op[j]))
        loc = plant.wc_location[int(plant.rt_wc[s]) if s is not None else wc]
        key = (plant.skus[int(plant.bom_comp[j])], loc)
        out[key] = out.get(key, 0.0) + qty * float(plant.bom_qty_eff[j])
    return out


class ReleaseCheck:
    """Shortages of one release against stock and other open orders' remaining needs."""

    def __init__(self, plant: Plant):
        self.plant = plant
        users: dict[str, set[str]] = {}  # component -> parents that consume it
        for p in range(len(plant.skus)):
            for j in plant.bom_lines(p):
                users.setdefault(plant.skus[int(plant.bom_comp[j])], set()).add(plant.skus[p])
        self._users = users
        self.batch_need: dict[tuple[str, str], float] = {}  # accepted earlier this batch

    def shortages(self, conn: sqlite3.Connection, work_order: str, item: str, line: str,
                  qty: float) -> list[Short]:
        needs = _needs(self.plant, item, line, qty)
        if not needs:
            return []
        taken = self._open_needs(conn, work_order, {c for c, _ in needs})
        short = []
        for (comp, loc), needed in needs.items():
            stock = conn.execute(
                "SELECT coalesce(sum(qty), 0) FROM stock WHERE item=? AND location=?"
                " AND status='available'", (comp, loc)).fetchone()[0]
            available = max(0.0, stock - taken.get((comp, loc), 0.0)
                            - self.batch_need.get((comp, loc), 0.0))
            if available + EPS < needed:
                short.append(Short(comp, loc, round(needed, 6), round(available, 6)))
        return short

    def reserve(self, item: str, line: str, qty: float) -> None:
        """Count an accepted release's needs against the rest of this micro-batch."""
        for key, q in _needs(self.plant, item, line, qty).items():
            self.batch_need[key] = self.batch_need.get(key, 0.0) + q

    def _open_needs(self, conn, work_order: str, comps: set[str]
                    ) -> dict[tuple[str, str], float]:
        parents = sorted(set().union(*(self._users.get(c, set()) for c in comps)))
        out: dict[tuple[str, str], float] = {}
        if not parents:
            return out
        rows = conn.execute(
            "SELECT item, line, max(planned - good - scrap, 0) FROM work_orders"
            f" WHERE status='open' AND work_order != ? AND item IN"
            f" ({','.join('?' * len(parents))})", [work_order, *parents])
        for parent, line, left in rows:
            for key, q in _needs(self.plant, parent, line, float(left)).items():
                if key[0] in comps:
                    out[key] = out.get(key, 0.0) + q
        return out


MARK = " released short of components: "


def reason_of(work_order: str, short: list[Short]) -> str:
    """The `short_components` exception's reason: the one record of an order's shortage
    (the dashboard flags the order from it, see components_in)."""
    return f"work_order: {work_order!r}{MARK}" + "; ".join(s.text() for s in short)


def components_in(reason: str) -> list[str]:
    """The shortages a reason_of text names, one `Short.text()` each."""
    _, found, rest = reason.partition(MARK)
    return rest.split("; ") if found and rest else []
