"""Synthetic plants and event streams for the benchmark: valid, realistic, reproducible.

`make_master(items, depth)` builds master data with a multi-level BOM (raw at level 0,
finished at `depth`), routings over a handful of work centers and a mix of costing
methods. `EventStream` then yields canonical events (see docs/architecture.md) in the mix a plant
produces — receipts, transfers, releases, completions, scraps, issues, labor, closes,
shipments, counts and a few reversals — while tracking just enough state (open orders,
finished stock) that every event applies: a stored journal only holds applied events.
The same seed gives the same plant and the same stream.
"""

from __future__ import annotations

import csv
import pathlib
import random
from datetime import datetime, timedelta, timezone

from costing.master import (Accounts, BomLine, Item, Location, MasterData, PurchaseOrderLine,
                            RoutingStep, WorkCenter)

from gateway.events import (Completion, Count, Issue, Labor, Receipt, Reversal, Scrap,
                            Shipment, Transfer, WoClose, WoRelease)

ACCOUNTS = Accounts(
    inventory={"raw": "1310", "semi": "1320", "finished": "1330"},
    wip="1400", grni="2100", ppv="5210", material_usage_variance="5220",
    material_price_variance="5230", labor_efficiency_variance="5240",
    overhead_efficiency_variance="5250", applied_labor="5310", applied_overhead="5320",
    scrap="5400", cogs="5000", revenue="4000", ar="1200", inventory_adjustment="5500",
    rounding="5900")

# Share of each event type in the stream (per 1000 draws); closes and releases follow
# from order progress, so their share here only sets how often an order is started.
MIX = (("completion", 260), ("labor", 150), ("receipt", 170), ("issue", 100),
       ("shipment", 110), ("scrap", 50), ("transfer", 60), ("count", 20),
       ("reversal", 10), ("wo_release", 70))


def make_master(n_items: int, depth: int, seed: int = 7) -> MasterData:
    """A plant of `n_items` items whose BOM is `depth` levels deep above raw material."""
    if depth < 1 or n_items < 4 * (depth + 1):
        raise ValueError(f"items: {n_items} is too few for a BOM {depth} levels deep")
    rng = random.Random(seed)
    n_wc = max(4, min(40, n_items // 200))
    work_centers = tuple(
        WorkCenter(f"WC{k:02d}", round(rng.uniform(25, 60), 2), round(rng.uniform(10, 40), 2),
                   "backflush" if k % 3 else "reported", f"LINE{k:02d}")
        for k in range(n_wc))
    locations = (Location("RM", "stores"), Location("FG", "finished"),
                 Location("QA", "quality"),
                 *(Location(wc.location, "line") for wc in work_centers))
    # Level sizes: most items are purchased, a tenth are finished, semis in between.
    n_raw = max(2, int(n_items * 0.6))
    n_fin = max(1, int(n_items * 0.1))
    per_level = [n_raw] + _split(n_items - n_raw - n_fin, depth - 1) + [n_fin]
    items: list[Item] = []
    levels: list[list[str]] = []
    methods = ("standard", "average", "fifo")
    for level, count in enumerate(per_level):
        kind = "raw" if level == 0 else "finished" if level == depth else "semi"
        skus = [f"{kind[0].upper()}{level}-{k:05d}" for k in range(count)]
        levels.append(skus)
        for sku in skus:
            if level == 0:
                items.append(Item(sku, f"purchased {sku}", "ea", "raw", methods[len(items) % 3],
                                  round(rng.uniform(0.05, 40.0), 3), 1.0,
                                  None, None))
            else:
                items.append(Item(sku, f"made {sku}", "ea", kind, "standard", None,
                                  float(rng.choice((1, 10, 50, 100))), None, None))
    boms: list[BomLine] = []
    routings: list[RoutingStep] = []
    for level in range(1, depth + 1):
        below = [s for lv in levels[:level] for s in lv]
        for sku in levels[level]:
            ops = sorted(rng.sample((10, 20, 30), rng.randint(1, 3)))
            for op in ops:
                routings.append(RoutingStep(sku, op, rng.choice(work_centers).id,
                                            round(rng.uniform(0, 1.0), 2),
                                            round(rng.uniform(0.01, 0.2), 3)))
            # One component from the level right below keeps the BOM `depth` deep.
            comps = [rng.choice(levels[level - 1])]
            for c in rng.sample(below, min(len(below), rng.randint(1, 4))):
                if c not in comps:
                    comps.append(c)
            for c in comps:
                boms.append(BomLine(sku, c, float(rng.choice((1, 1, 2, 3, 4, 0.5, 1.25))),
                                    rng.choice((0.0, 0.0, 1.0, 2.5)),
                                    "issue" if rng.random() < 0.15 else "backflush",
                                    rng.choice(ops)))
    pos = tuple(PurchaseOrderLine(f"PO-{k // 50:04d}", sku, 0.0)
                for k, sku in enumerate(levels[0]))
    by_sku = {it.sku: it for it in items}
    pos = tuple(PurchaseOrderLine(p.po, p.sku, round(by_sku[p.sku].standard_cost * 1.02, 3))
                for p in pos)
    return MasterData(tuple(items), tuple(boms), tuple(routings), work_centers, locations,
                      pos, ACCOUNTS, "EUR", 2)


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(max(total, parts), parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


class EventStream:
    """Generates events that all apply, in order, against `master`."""

    def __init__(self, master: MasterData, seed: int = 11, start: datetime | None = None):
        self.rng = random.Random(seed)
        self.master = master
        self.t = start or datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
        items = {it.sku: it for it in master.items}
        self.raw = [it.sku for it in master.items if it.kind == "raw"]
        self.made = [it.sku for it in master.items if it.kind != "raw"]
        self.finished = [it.sku for it in master.items if it.kind == "finished"]
        wc_loc = {wc.id: wc.location for wc in master.work_centers}
        steps: dict[str, list[tuple[int, str]]] = {}
        for r in master.routings:
            steps.setdefault(r.parent, []).append((r.operation, r.work_center))
        self.steps = {p: sorted(s) for p, s in steps.items()}
        self.lines = [wc.location for wc in master.work_centers]
        # Where each item is consumed: receipts, transfers and completions bring it there.
        self.home: dict[str, str] = {}
        self.issued: dict[str, list[str]] = {}  # parent -> components it takes by issue
        for b in master.boms:
            if b.component not in self.home:
                wc = dict((op, w) for op, w in self.steps[b.parent]).get(b.operation)
                self.home[b.component] = wc_loc[wc] if wc else "RM"
            if b.consumption == "issue" and items[b.component].kind == "raw":
                self.issued.setdefault(b.parent, []).append(b.component)
        self.price = {p.sku: p.unit_price for p in master.purchase_orders}
        self.po_of = {p.sku: p.po for p in master.purchase_orders}  # receipts name a known PO
        self.std_guess = {it.sku: it.standard_cost or 10.0 for it in master.items}
        self.open: list[list] = []  # [work order, item, planned, good]
        self.fg_stock: dict[str, float] = {}
        self.receipts: list[str] = []
        self.reversed: set[str] = set()
        self.n = 0
        self.n_orders = 0
        self.closing: list[str] = []
        # Orders running at once: about two per work center, as on a real floor.
        self.target_open = 2 * len(master.work_centers)
        self.weights = [w for _, w in MIX]
        self.kinds = [k for k, _ in MIX]

    def _ts(self) -> str:
        self.t += timedelta(milliseconds=350)
        return self.t.isoformat().replace("+00:00", "Z")

    def _id(self, kind: str) -> str:
        self.n += 1
        return f"{kind[:3]}-{self.n:08d}"

    def take(self, count: int) -> list:
        """The next `count` events (structs of gateway.events), closes included."""
        out: list = []
        rng = self.rng
        while len(out) < count:
            for kind in rng.choices(self.kinds, self.weights, k=min(256, count - len(out))):
                if len(out) >= count:
                    break
                out.append(self._one(kind))
                if self.closing and len(out) < count:
                    # An order closes right after the completion that finished it.
                    out.append(WoClose(id=self._id("close"), ts=self._ts(),
                                       work_order=self.closing.pop(), source="erp"))
        return out

    def _one(self, kind: str):
        rng = self.rng
        if kind in ("completion", "scrap", "labor", "issue") and len(self.open) < 3:
            kind = "wo_release"
        elif kind == "wo_release" and len(self.open) >= self.target_open:
            kind = "completion"
        if kind == "shipment" and not any(q >= 1 for q in self.fg_stock.values()):
            kind = "receipt"
        if kind == "reversal" and not self.receipts:
            kind = "receipt"
        ts = self._ts()
        if kind == "receipt":
            sku = rng.choice(self.raw)
            eid = self._id(kind)
            if rng.random() < 0.05:
                self.receipts.append(eid)
            return Receipt(id=eid, ts=ts, item=sku, qty=float(rng.randint(50, 500)),
                           location=self.home.get(sku, "RM"),
                           unit_price=round(self.price[sku] * rng.uniform(0.95, 1.05), 3),
                           po=self.po_of[sku], source="erp")
        if kind == "transfer":
            sku = rng.choice(self.raw)
            home = self.home.get(sku, "RM")
            return Transfer(id=self._id(kind), ts=ts, item=sku, qty=float(rng.randint(1, 20)),
                            from_location=home, to_location="QA" if home != "QA" else "RM",
                            to_status="quality", source="manual")
        if kind == "wo_release" or not self.open:
            sku = rng.choice(self.made)
            self.n_orders += 1
            wo = f"WO-{self.n_orders:07d}"
            planned = float(rng.randint(20, 200))
            self.open.append([wo, sku, planned, 0.0])
            line = self.steps[sku][0][1]
            return WoRelease(id=self._id("release"), ts=ts, work_order=wo, item=sku,
                             qty=planned, line=line, source="erp")
        if kind == "count":
            sku = rng.choice(self.raw)
            return Count(id=self._id(kind), ts=ts, item=sku, location="RM",
                         counted_qty=float(rng.randint(0, 40)), source="manual")
        if kind == "reversal":
            target = self.receipts.pop(rng.randrange(len(self.receipts)))
            return Reversal(id=self._id(kind), ts=ts, reverses=target, source="manual")
        if kind == "shipment":
            sku = rng.choice([s for s, q in self.fg_stock.items() if q >= 1])
            q = float(rng.randint(1, int(min(self.fg_stock[sku], 20))))
            self.fg_stock[sku] -= q
            return Shipment(id=self._id(kind), ts=ts, item=sku, qty=q, location="FG",
                            unit_price=round(self.std_guess[sku] * 1.4 + 50, 2),
                            order=f"SO-{self.n // 100:06d}", source="erp")
        k = rng.randrange(len(self.open))
        wo, sku, planned, good = self.open[k]
        if kind == "completion":
            q = float(rng.randint(1, 10))
            self.open[k][3] = good + q
            if sku in self.finished:
                loc = "FG"
                self.fg_stock[sku] = self.fg_stock.get(sku, 0.0) + q
            else:
                loc = self.home.get(sku, "RM")
            event = Completion(id=self._id(kind), ts=ts, work_order=wo, qty=q, location=loc,
                               source="plc")
            if good + q >= planned:
                self.open.pop(k)
                self.closing.append(wo)
            return event
        op, _ = rng.choice(self.steps[sku])
        if kind == "scrap":
            return Scrap(id=self._id(kind), ts=ts, work_order=wo, qty=float(rng.randint(1, 3)),
                         operation=op, source="plc")
        if kind == "labor":
            return Labor(id=self._id(kind), ts=ts, work_order=wo, operation=op,
                         hours=round(rng.uniform(0.1, 4.0), 2), source="terminal")
        # issue: a component the BOM takes by issue, now and then something extra
        comp = rng.choice(self.issued.get(sku) or self.raw)
        return Issue(id=self._id(kind), ts=ts, work_order=wo, item=comp,
                     qty=round(rng.uniform(0.5, 20.0), 3), source="scale")

    events = take


def write_master_csv(master: MasterData, folder: pathlib.Path) -> None:
    """The master data as the CSV files a plant ships (see docs/configuration.md)."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "items.csv": (("sku", "description", "uom", "kind", "costing", "standard_cost",
                       "lot_size", "gtin", "inventory_account"),
                      [(i.sku, i.description, i.uom, i.kind, i.costing,
                        "" if i.standard_cost is None else i.standard_cost, i.lot_size, "", "")
                       for i in master.items]),
        "boms.csv": (("parent", "component", "qty_per", "scrap_pct", "consumption",
                      "operation"),
                     [(b.parent, b.component, b.qty_per, b.scrap_pct, b.consumption,
                       b.operation) for b in master.boms]),
        "routings.csv": (("parent", "operation", "work_center", "setup_hours", "run_hours"),
                         [(r.parent, r.operation, r.work_center, r.setup_hours, r.run_hours)
                          for r in master.routings]),
        "work_centers.csv": (("id", "labor_rate", "overhead_rate", "labor", "location"),
                             [(w.id, w.labor_rate, w.overhead_rate, w.labor, w.location)
                              for w in master.work_centers]),
        "locations.csv": (("id", "kind"), [(loc.id, loc.kind) for loc in master.locations]),
        "purchase_orders.csv": (("po", "sku", "unit_price"),
                                [(p.po, p.sku, p.unit_price) for p in master.purchase_orders]),
    }
    for name, (header, rows) in tables.items():
        with open(folder / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
