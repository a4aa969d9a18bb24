"""Master-data CSVs (see docs/configuration.md) read into costing.master rows, cross-checked as a whole:
either every row is usable, or every problem is reported at once as
`<csv file>: row <n>: <column>: <reason>` (n = line in the file; the header is line 1).

ERP exports are taken as they come (UTF-8, with or without a byte-order mark, blank
lines ignored), but nothing is guessed: a cell that is not what its column says is a
problem, named with its value, never silently defaulted.
"""

from __future__ import annotations

import csv
import math
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any

from costing.master import (
    BomLine, Item, Location, MasterData, PurchaseOrderLine, RoutingStep, WorkCenter,
)
from gateway.config import Config, ConfigError, id_hint

__all__ = ["load_master", "inspect_master", "missing_files", "gtin_check_digit", "COLUMNS"]

# file -> (required columns, optional columns)
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "items.csv": (("sku", "uom", "kind"),
                  ("description", "costing", "standard_cost", "lot_size", "gtin",
                   "inventory_account")),
    "boms.csv": (("parent", "component", "qty_per", "consumption", "operation"),
                 ("scrap_pct",)),
    "routings.csv": (("parent", "operation", "work_center"), ("setup_hours", "run_hours")),
    "work_centers.csv": (("id", "labor_rate", "overhead_rate", "labor", "location"), ()),
    "locations.csv": (("id",), ("kind",)),
    "purchase_orders.csv": (("po", "sku", "unit_price"), ()),
}
# a plant may have nothing to make (no BOMs, no routings) or no open POs
OPTIONAL_FILES = {"boms.csv", "routings.csv", "purchase_orders.csv"}
# ... unless another file needs it: every BOM line names its routing operation
_NEEDED_BY = {"routings.csv": "boms.csv"}

KINDS = ("raw", "semi", "finished")
METHODS = ("standard", "average", "fifo")
CONSUMPTIONS = ("backflush", "issue")
LABOR_MODES = ("backflush", "reported")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def load_master(config: Config) -> MasterData:
    """Read `[gateway].master_data`; raise ConfigError listing every problem."""
    master, problems = inspect_master(config)
    if problems or master is None:
        raise ConfigError(problems)
    return master


def inspect_master(config: Config) -> tuple[MasterData | None, list[str]]:
    """Every problem of the master data, and the MasterData when there is none."""
    reader = _Reader(pathlib.Path(config.gateway.master_data))
    tables = {name: reader.read(name) for name in COLUMNS}
    locations = _locations(reader, tables["locations.csv"])
    work_centers, wc_ids = _work_centers(reader, tables["work_centers.csv"],
                                         reader.ids("locations.csv", locations))
    routings, declared_ops = _routings(reader, tables["routings.csv"],
                                       reader.ids("work_centers.csv", wc_ids))
    items, broken = _items(reader, tables["items.csv"], config)
    known = reader.ids("items.csv", {it.sku for it in items} | broken)
    _drop_unknown_parents(reader, routings, known)
    boms = _boms(reader, tables["boms.csv"], known, reader.ids("routings.csv", declared_ops))
    _check_standard_costs(reader, tables, items, boms, routings)
    _check_cycles(reader, boms)
    pos = _purchase_orders(reader, tables["purchase_orders.csv"], known)
    if reader.problems:
        return None, reader.render()
    master = MasterData(
        items=tuple(items), boms=tuple(b for _, b in boms),
        routings=tuple(r for _, r in routings), work_centers=tuple(work_centers.values()),
        locations=tuple(locations.values()), purchase_orders=tuple(pos),
        accounts=config.accounts.to_master(), currency=config.gateway.currency,
        currency_decimals=config.gateway.currency_decimals, statuses=tuple(config.statuses),
        price_tolerance_pct=config.matching.price_tolerance_pct)
    return master, []


def missing_files(folder: str | pathlib.Path) -> list[pathlib.Path]:
    """The master-data files the plant needs that are not in `folder`."""
    folder = pathlib.Path(folder)
    return [folder / name for name in COLUMNS
            if _needed(folder, name) and not (folder / name).exists()]


def _needed(folder: pathlib.Path, name: str) -> bool:
    return name not in OPTIONAL_FILES or (
        name in _NEEDED_BY and (folder / _NEEDED_BY[name]).exists())


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits before it (weights 3,1,3,... from the
    right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


# ---- reading ----

class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


_EVERYTHING = _Everything()

Row = dict[str, str]


@dataclass
class _Reader:
    folder: pathlib.Path
    problems: list[tuple[str, int, str, str]] = field(default_factory=list)
    unusable: set[str] = field(default_factory=set)  # files whose rows were not read

    def add(self, name: str, line: int, column: str, reason: str) -> None:
        self.problems.append((name, line, column, reason))

    def ids(self, name: str, found: Any) -> Any:
        """The ids `name` defines, or everything when the file could not be read: its
        problem is reported once, not again at every row that names one of its ids."""
        return _EVERYTHING if name in self.unusable else found

    def render(self) -> list[str]:
        """Problems grouped by file (items first), in row order."""
        order = list(COLUMNS)
        out = []
        for name, line, column, reason in sorted(
                self.problems, key=lambda p: (order.index(p[0]), p[1])):
            where = str(self.folder / name)
            parts = [where] + ([f"row {line}"] if line else []) + ([column] if column else [])
            out.append(": ".join(parts + [reason]))
        return out

    def read(self, name: str) -> list[tuple[int, Row]]:
        """(line number, row) pairs; header problems are reported and rows dropped."""
        path = self.folder / name
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return self._rows(name, csv.reader(fh))
        except FileNotFoundError:
            if _needed(self.folder, name):
                why = f" ({_NEEDED_BY[name]} needs it)" if name in _NEEDED_BY else ""
                self.add(name, 0, "", f"file not found: {path}{why}")
                self.unusable.add(name)
            return []
        except UnicodeDecodeError as exc:
            self.add(name, 0, "", f"not UTF-8 text: {exc}")
        except (OSError, csv.Error) as exc:
            self.add(name, 0, "", f"cannot read: {exc}")
        self.unusable.add(name)
        return []

    def _rows(self, name: str, reader: Any) -> list[tuple[int, Row]]:
        header = [h.strip() for h in next(reader, [])]
        required, optional = COLUMNS[name]
        ok = True
        for col in required:
            if col not in header:
                self.add(name, 1, col, "missing column")
                ok = False
        for col in header:
            if col not in required and col not in optional:
                self.add(name, 1, col or "(blank)", f"unknown column; expected "
                         f"{', '.join(required + optional)}")
                ok = False
        if len(set(header)) != len(header):
            self.add(name, 1, "", f"duplicate column names in {header}")
            ok = False
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            line = reader.line_num
            if len(cells) > len(header):
                self.add(name, line, "", f"{len(cells)} cells but the header has "
                                         f"{len(header)}; the raw row is {cells!r}")
                continue
            row = {h: c.strip() for h, c in zip(header, cells)}
            rows.append((line, {h: row.get(h, "") for h in header}))
        if not ok:
            self.unusable.add(name)
            return []
        return rows

    # cell parsers: report and return None on a bad value

    def text(self, name: str, line: int, row: Row, col: str) -> str | None:
        value = row.get(col, "")
        if not value:
            self.add(name, line, col, "missing (blank)")
            return None
        return value

    def choice(self, name: str, line: int, row: Row, col: str, allowed: tuple[str, ...],
               blank: str | None = None) -> str | None:
        value = row.get(col, "")
        if not value and blank is not None:
            return blank
        if value not in allowed:
            self.add(name, line, col, f"expected one of {', '.join(allowed)}, got {value!r}")
            return None
        return value

    def number(self, name: str, line: int, row: Row, col: str, *, positive: bool = False,
               blank: float | None = None, required: bool = True) -> float | None:
        value = row.get(col, "")
        if not value:
            if blank is not None or not required:
                return blank
            self.add(name, line, col, "missing (blank)")
            return None
        # plain decimals only: float() would also take "1_000", "nan" and "inf"
        x = float(value) if _NUMBER.fullmatch(value) else math.nan
        if not math.isfinite(x):
            self.add(name, line, col, f"expected a number, got {value!r}")
            return None
        if x < 0:
            self.add(name, line, col, f"must not be negative, got {value!r}")
            return None
        if positive and x == 0:
            self.add(name, line, col, f"must be > 0, got {value!r}")
            return None
        return x

    def operation(self, name: str, line: int, row: Row, col: str) -> int | None:
        value = row.get(col, "")
        if not value.isdigit() or int(value) == 0:
            self.add(name, line, col, f"expected a positive whole number, got {value!r}")
            return None
        return int(value)

    def unique(self, name: str, line: int, col: str, key: Any, seen: dict,
               what: str) -> bool:
        if key in seen:
            self.add(name, line, col, f"duplicate {what} {key!r} (first at row {seen[key]})")
            return False
        seen[key] = line
        return True


# ---- one function per file ----

def _locations(r: _Reader, rows: list[tuple[int, Row]]) -> dict[str, Location]:
    out: dict[str, Location] = {}
    seen: dict = {}
    for line, row in rows:
        lid = r.text("locations.csv", line, row, "id")
        if lid and r.unique("locations.csv", line, "id", lid, seen, "location"):
            out[lid] = Location(lid, row.get("kind", ""))
    return out


def _work_centers(r: _Reader, rows: list[tuple[int, Row]],
                  locations: Any) -> tuple[dict[str, WorkCenter], set[str]]:
    """Usable work centers, and every id the file defines (broken rows included, so a
    routing naming one is not blamed as well)."""
    f = "work_centers.csv"
    out: dict[str, WorkCenter] = {}
    seen: dict = {}
    for line, row in rows:
        wid = r.text(f, line, row, "id")
        labor_rate = r.number(f, line, row, "labor_rate")
        overhead_rate = r.number(f, line, row, "overhead_rate")
        labor = r.choice(f, line, row, "labor", LABOR_MODES)
        location = r.text(f, line, row, "location")
        if location and location not in locations:
            r.add(f, line, "location", f"unknown location {location!r} (not in locations.csv)"
                                      f"{id_hint(location, locations)}")
            location = None
        if wid and not r.unique(f, line, "id", wid, seen, "work center"):
            continue
        if wid and labor_rate is not None and overhead_rate is not None and labor and location:
            out[wid] = WorkCenter(wid, labor_rate, overhead_rate, labor, location)  # type: ignore[arg-type]
    return out, set(seen)


def _routings(r: _Reader, rows: list[tuple[int, Row]], work_centers: Any
              ) -> tuple[list[tuple[int, RoutingStep]], set[tuple[str, int]]]:
    """Usable steps, and every (parent, operation) the file declares, broken or not, so a
    BOM line is not also blamed for a step that is there but wrong."""
    f = "routings.csv"
    out = []
    seen: dict = {}
    for line, row in rows:
        parent = r.text(f, line, row, "parent")
        op = r.operation(f, line, row, "operation")
        wc = r.text(f, line, row, "work_center")
        if wc and wc not in work_centers:
            r.add(f, line, "work_center", f"unknown work center {wc!r} (not in work_centers.csv)"
                                         f"{id_hint(wc, work_centers)}")
            wc = None
        setup = r.number(f, line, row, "setup_hours", blank=0.0)
        run = r.number(f, line, row, "run_hours", blank=0.0)
        if parent and op is not None and not r.unique(f, line, "operation", (parent, op),
                                                      seen, "routing step"):
            continue
        if parent and op is not None and wc and setup is not None and run is not None:
            out.append((line, RoutingStep(parent, op, wc, setup, run)))
    return out, set(seen)


def _items(r: _Reader, rows: list[tuple[int, Row]],
           config: Config) -> tuple[list[Item], set[str]]:
    """Usable items, and the skus of broken rows (known, so rows elsewhere that name
    them are not blamed twice)."""
    f = "items.csv"
    codes = config.accounts.by_key()
    out: list[Item] = []
    broken: set[str] = set()
    seen: dict = {}
    gtins: dict = {}
    for line, row in rows:
        sku = r.text(f, line, row, "sku")
        uom = r.text(f, line, row, "uom")
        kind = r.choice(f, line, row, "kind", KINDS)
        method = r.choice(f, line, row, "costing", METHODS, blank=config.costing.method)
        std = r.number(f, line, row, "standard_cost", required=False)
        lot = r.number(f, line, row, "lot_size", positive=True, blank=1.0)
        gtin = _gtin(r, line, row.get("gtin", ""), gtins)
        account = _account(r, line, row.get("inventory_account", ""), codes)
        if sku and not r.unique(f, line, "sku", sku, seen, "sku"):
            continue
        std_ok = std is not None or not row.get("standard_cost")
        if sku and uom and kind and method and lot is not None and account is not False \
                and std_ok:
            out.append(Item(sku, row.get("description", ""), uom, kind, method,  # type: ignore[arg-type]
                            std, lot, gtin or None, account or None))  # type: ignore[arg-type]
        elif sku:
            broken.add(sku)
    return out, broken


def _gtin(r: _Reader, line: int, value: str, seen: dict) -> str | None:
    if not value:
        return None
    if not value.isdigit() or len(value) not in (8, 12, 13, 14):
        r.add("items.csv", line, "gtin", f"expected 8, 12, 13 or 14 digits, got {value!r}")
        return None
    expected = gtin_check_digit(value[:-1])
    if int(value[-1]) != expected:
        r.add("items.csv", line, "gtin", f"bad check digit in {value!r}: the last digit "
                                         f"should be {expected}")
        return None
    # scanners read a GTIN-13 also as the GTIN-14 with a leading zero: compare those
    if not r.unique("items.csv", line, "gtin", value.zfill(14), seen, "GTIN"):
        return None
    return value


def _account(r: _Reader, line: int, value: str, codes: dict[str, str]) -> str | None | bool:
    """'' -> None (use [accounts.inventory].<kind>); a key or a code -> the code; False
    when unknown."""
    if not value:
        return None
    if value in codes:
        return codes[value]
    if value in codes.values():
        return value
    if re.fullmatch(r"[a-z_.]+", value):
        r.add("items.csv", line, "inventory_account",
              f"unknown account key {value!r}; keys are {', '.join(sorted(codes))}")
    else:
        r.add("items.csv", line, "inventory_account",
              f"unknown account {value!r}: not one of the codes in [accounts]")
    return False


def _drop_unknown_parents(r: _Reader, routings: list[tuple[int, RoutingStep]],
                          known: Any) -> None:
    # routings are read before items (BOM lines need their operations), so their
    # parents are checked here, once the skus are known
    for line, step in list(routings):
        if step.parent not in known:
            r.add("routings.csv", line, "parent",
                  f"unknown sku {step.parent!r} (not in items.csv)"
                  f"{id_hint(step.parent, known)}")
            routings.remove((line, step))


def _boms(r: _Reader, rows: list[tuple[int, Row]], known: Any,
          ops: set[tuple[str, int]]) -> list[tuple[int, BomLine]]:
    f = "boms.csv"
    out = []
    for line, row in rows:
        parent = r.text(f, line, row, "parent")
        component = r.text(f, line, row, "component")
        for col, sku in (("parent", parent), ("component", component)):
            if sku and sku not in known:
                r.add(f, line, col, f"unknown sku {sku!r} (not in items.csv)"
                                    f"{id_hint(sku, known)}")
        qty = r.number(f, line, row, "qty_per", positive=True)
        scrap = r.number(f, line, row, "scrap_pct", blank=0.0)
        if scrap is not None and scrap >= 100:
            r.add(f, line, "scrap_pct", f"must be below 100, got {row['scrap_pct']!r}")
            scrap = None
        consumption = r.choice(f, line, row, "consumption", CONSUMPTIONS)
        op = r.operation(f, line, row, "operation")
        if parent in known and op is not None and (parent, op) not in ops:
            r.add(f, line, "operation", f"no routing operation {op} for {parent!r} "
                                        "in routings.csv")
        if (parent in known and component in known and qty is not None and scrap is not None
                and consumption and op is not None):
            out.append((line, BomLine(parent, component, qty, scrap, consumption, op)))  # type: ignore[arg-type]
    return out


def _check_standard_costs(r: _Reader, tables: dict, items: list[Item],
                          boms: list[tuple[int, BomLine]],
                          routings: list[tuple[int, RoutingStep]]) -> None:
    made = {b.parent for _, b in boms} | {s.parent for _, s in routings}
    has_bom = {b.parent for _, b in boms}
    line_of = {row.get("sku"): line for line, row in tables["items.csv"]}
    kinds = {it.sku: it.kind for it in items}
    for it in items:
        if it.standard_cost is None and (it.kind == "raw" or it.sku not in made):
            why = ("a purchased (raw) item needs one" if it.kind == "raw"
                   else "an item without a BOM or routing cannot be rolled up")
            r.add("items.csv", line_of[it.sku], "standard_cost", f"missing: {why}")
    for line, b in boms:
        if kinds.get(b.parent) == "raw" and b.parent in has_bom:
            r.add("boms.csv", line, "parent", f"{b.parent!r} is a raw (purchased) item; "
                                              "only semi and finished items have a BOM")


def _check_cycles(r: _Reader, boms: list[tuple[int, BomLine]]) -> None:
    """Report each BOM cycle found once, at the row of its last line in the file (the
    one that closed it), the path starting from that line's parent."""
    edges: dict[str, list[tuple[str, int]]] = {}
    for line, b in boms:
        edges.setdefault(b.parent, []).append((b.component, line))
    state: dict[str, int] = {}  # 1 on the path, 2 done
    reported: set[frozenset] = set()

    def visit(sku: str, path: list[str], rows_in: list[int]) -> None:
        state[sku] = 1
        for child, line in edges.get(sku, []):
            if state.get(child) == 1:
                start = path.index(child) if child in path else len(path)
                nodes = (path + [sku])[start:]
                rows = (rows_in[start + 1:] if child in path else []) + [line]
                if frozenset(nodes) not in reported:
                    reported.add(frozenset(nodes))
                    k = rows.index(max(rows))
                    cycle = nodes[k:] + nodes[:k] + [nodes[k]]
                    r.add("boms.csv", max(rows), "component",
                          "BOM cycle " + " -> ".join(cycle))
            elif child not in state:
                visit(child, path + [sku], rows_in + [line])
        state[sku] = 2

    for sku in list(edges):
        if sku not in state:
            visit(sku, [], [0])


def _purchase_orders(r: _Reader, rows: list[tuple[int, Row]],
                     known: Any) -> list[PurchaseOrderLine]:
    f = "purchase_orders.csv"
    out = []
    seen: dict = {}
    for line, row in rows:
        po = r.text(f, line, row, "po")
        sku = r.text(f, line, row, "sku")
        if sku and sku not in known:
            r.add(f, line, "sku", f"unknown sku {sku!r} (not in items.csv)"
                                    f"{id_hint(sku, known)}")
            sku = None
        price = r.number(f, line, row, "unit_price")
        if po and sku and not r.unique(f, line, "sku", (po, sku), seen, "PO line"):
            continue
        if po and sku and price is not None:
            out.append(PurchaseOrderLine(po, sku, price))
    return out
