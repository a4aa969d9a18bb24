"""Why an order's WIP is what it is: what it has been charged, by kind, against what
completions and scrap have relieved at standard — and why that can be negative.

Under standard costing a completion relieves WIP at the item's full standard cost
(material, labor and overhead) the moment it is counted, while components issued by hand
(BOM consumption `issue`) and hours at `reported` work centers reach WIP only when their
events arrive. Until then relief runs ahead of charges and WIP is negative by the
standard of what is still to come; it is timing, not a fault (docs/accounting.md).
"""

from __future__ import annotations

from costing.master import MasterData

__all__ = ["charged_later", "split", "note"]


def charged_later(master: MasterData) -> dict[str, tuple[str, ...]]:
    """Per parent item, what reaches WIP by its own event after the completion relieved
    it: "RM-RESIN issues" for each hand-issued component, "WC3 labor" for each routing
    step at a work center whose labor is reported."""
    reported = {w.id for w in master.work_centers if w.labor == "reported"}
    out: dict[str, list[str]] = {}
    for b in master.boms:
        if b.consumption == "issue":
            out.setdefault(b.parent, []).append(f"{b.component} issues")
    for r in master.routings:
        if r.work_center in reported:
            name = f"{r.work_center} labor"
            if name not in out.setdefault(r.parent, []):
                out[r.parent].append(name)
    return {k: tuple(v) for k, v in out.items()}


def split(order: dict) -> dict[str, int]:
    """The order's WIP as charged material / labor / overhead minus relieved, all from
    its journal lines (see gateway.dashboard.queries.work_orders)."""
    labor, overhead = order.get("charged_labor") or 0, order.get("charged_overhead") or 0
    return {"material": order["charged"] - labor - overhead, "labor": labor,
            "overhead": overhead, "relieved": order.get("relieved") or 0}


def _join(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def note(order: dict, later: dict[str, tuple[str, ...]]) -> str | None:
    """A sentence for people when an open order's WIP is negative, else None."""
    if order["status"] != "open" or order["wip"] >= 0:
        return None
    units = order["good"] + order["scrap"]
    what = later.get(order["item"])
    ahead = f"their {_join(what)}" if what else "what they consumed"
    return (f"Negative because {units:g} units were relieved at standard ahead of {ahead}: "
            "charges still to come, not a fault. It returns to the variance as those "
            "events arrive.")
