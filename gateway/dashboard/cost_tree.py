"""How an item's standard cost is built: its BOM lines (each component at its own rolled
standard, opened further down to purchased parts) and its routing steps (hours a unit at
the work center's labor and overhead rates), as a flat list of nodes in tree order.

The figures are those of costing.rollup (docs/accounting.md):
  component line = qty_per x (1 + scrap%/100) x std(component)
  routing step   = (setup_hours / lot_size + run_hours) x (labor_rate + overhead_rate)
and the children of a node add up to the node's own standard unless its item carries a
given (frozen) standard_cost, which the node then shows beside what re-rolling would give.
"""

from __future__ import annotations

from typing import Any

from costing.master import MasterData

__all__ = ["cost_tree", "MAX_DEPTH"]

MAX_DEPTH = 12  # BOM levels; the roll-up refuses cycles, this only bounds the page


def cost_tree(master: MasterData, std: dict[str, float], sku: str) -> list[dict[str, Any]]:
    """Nodes {depth, kind (item | component | step), label, qty, unit, amount} for `sku`
    and everything below it; `std` is the rolled standard per sku (Rollup.std)."""
    items = {i.sku: i for i in master.items}
    boms: dict[str, list] = {}
    for b in master.boms:
        boms.setdefault(b.parent, []).append(b)
    steps: dict[str, list] = {}
    for r in master.routings:
        steps.setdefault(r.parent, []).append(r)
    centers = {w.id: w for w in master.work_centers}
    nodes: list[dict[str, Any]] = [{"depth": 0, "kind": "item", "sku": sku, "label": sku,
                                    "qty": 1.0, "unit": std.get(sku), "amount": std.get(sku)}]

    def walk(parent: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        for b in sorted(boms.get(parent, ()), key=lambda b: b.operation):
            qty = b.qty_per * (1.0 + b.scrap_pct / 100.0)
            unit = std.get(b.component, 0.0)
            nodes.append({"depth": depth, "kind": "component", "sku": b.component,
                          "label": f"{b.component} · op {b.operation} · {b.consumption}"
                                   + (f" · scrap {b.scrap_pct:g}%" if b.scrap_pct else ""),
                          "qty": qty, "unit": unit, "amount": qty * unit})
            walk(b.component, depth + 1)
        lot = (items[parent].lot_size if parent in items else 1.0) or 1.0
        for r in sorted(steps.get(parent, ()), key=lambda r: r.operation):
            wc = centers.get(r.work_center)
            rate = (wc.labor_rate + wc.overhead_rate) if wc else 0.0
            hours = r.setup_hours / lot + r.run_hours
            nodes.append({"depth": depth, "kind": "step", "sku": None,
                          "label": f"op {r.operation} at {r.work_center}: labor "
                                   f"{wc.labor_rate if wc else 0:g} + overhead "
                                   f"{wc.overhead_rate if wc else 0:g} an hour",
                          "qty": hours, "unit": rate, "amount": hours * rate})

    walk(sku, 1)
    return nodes
