"""Readings become business events (see docs/architecture.md): station semantics, the active work
order per line, unit conversion. A reading that cannot become an event is never dropped:
it becomes an exception a supervisor resolves, carrying the reading verbatim.

`Mapper.map(reading)` is pure apart from its small memory of the last scan per station;
the active work order per line is read through the `active` callable (the journal's table
as the batch in hand would leave it, gateway/active_orders.py), and a work-order scan
becomes a `wo_start` event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from costing.master import Item, MasterData

from drivers.base import Reading
from drivers.gs1 import ScanError, decode_scan

from gateway.binding import refusal
from gateway.near_miss import unknown

# Mass units to kilograms; an item's uom must be one of these for a weight to apply.
_KG = {"kg": 1.0, "g": 0.001, "mg": 1e-6, "t": 1000.0, "lb": 0.45359237, "oz": 0.028349523125}


@dataclass(frozen=True, slots=True)
class Mapped:
    """What a reading means: an event to journal, an exception, or a note."""

    event: dict | None = None
    exception: tuple[str, str] | None = None  # (kind, reason)
    note: str | None = None


def reading_json(r: Reading) -> dict:
    """The reading as stored next to the event it caused (traceability)."""
    return {"device": r.device, "kind": r.kind, "value": r.value, "ts": r.ts,
            "unit": r.unit, "attrs": r.attrs}


def convert_mass(value: float, unit: str, to: str) -> float | None:
    a, b = _KG.get((unit or "").lower()), _KG.get((to or "").lower())
    if a is None or b is None:
        return None
    return round(value * a / b, 9)


def _scan_id(r: Reading) -> str:
    """An event id from the scan reading itself: the same reading redelivered is the same id."""
    return f"{r.device}:{r.ts}:{r.value}"


def gtin14(code: str) -> str:
    return code.strip().zfill(14)


class Mapper:
    def __init__(self, config: Any, master: MasterData, active: Callable[[str], str | None]):
        self.master = master
        self.active = active
        self.items = {i.sku: i for i in master.items}
        self.by_gtin = {gtin14(i.gtin): i for i in master.items if i.gtin}
        self.stations = {s.id: s for s in (getattr(config, "stations", None) or [])}
        self.po_lines: dict[str, list] = {}
        for line in sorted(master.purchase_orders, key=lambda p: p.po):
            self.po_lines.setdefault(line.sku, []).append(line)
        self.counters: dict[tuple[str, str], Any] = {}
        self.topics = {d.id: d for d in getattr(config, "devices", None) or []
                       if getattr(d, "driver", None) == "mqtt"}
        for dev in getattr(config, "devices", None) or []:
            for c in getattr(dev, "counters", None) or []:
                self.counters[(dev.id, c.node)] = c
        self.last_scan: dict[str, str] = {}  # station -> sku
        self._finished_loc = next((l.id for l in master.locations if l.kind == "finished"), None)
        wc_loc = {w.id: w.location for w in master.work_centers}
        op_wc = {(r.parent, r.operation): r.work_center for r in master.routings}
        self._consumed_at: dict[str, str] = {}
        for b in master.boms:
            wc = op_wc.get((b.parent, b.operation))
            if wc and b.component not in self._consumed_at:
                self._consumed_at[b.component] = wc_loc[wc]
        self._wc_loc = wc_loc
        self._last_op = {}
        for r in master.routings:
            self._last_op[r.parent] = max(self._last_op.get(r.parent, r.operation), r.operation)
        self._wo_item: dict[str, str] = {}

    # -- dispatch ------------------------------------------------------------------

    def map(self, r: Reading) -> Mapped:
        handler = getattr(self, f"_map_{r.kind}", None)
        if handler is None:
            return Mapped(note=f"{r.kind} reading kept for the dashboard only")
        return handler(r)

    def _unassigned(self, r: Reading, what: str, line: str) -> Mapped:
        return Mapped(exception=("unassigned_count",
                                 f"{what} on {line} with no active work order"))

    # -- PLC counters ---------------------------------------------------------------

    def _map_counter(self, r: Reading) -> Mapped:
        a = r.attrs
        line, kind, delta = a.get("line"), a.get("counter_kind"), a.get("delta") or 0
        if delta <= 0:
            return Mapped(note="no count")
        wo = self.active(line)
        if wo is None:
            return self._unassigned(r, f"{delta} {kind} count(s)", line)
        base = {"id": a["event_id"], "ts": r.ts, "source": r.device, "work_order": wo,
                "qty": delta}
        if kind == "scrap":
            op = a.get("operation") or self._last_op.get(self._item_of(wo) or "", 0)
            return Mapped(event={**base, "type": "scrap", "operation": int(op)})
        cfg = self.counters.get((r.device, a.get("node")))
        location = getattr(cfg, "location", None) or self.output_location(wo, line)
        return Mapped(event={**base, "type": "completion", "location": location})

    # -- units reported by MQTT devices ({"kind": "good"|"scrap", "value": units}) ------

    def _map_good(self, r: Reading) -> Mapped:
        return self._map_units(r, "good")

    def _map_scrap(self, r: Reading) -> Mapped:
        return self._map_units(r, "scrap")

    def _map_units(self, r: Reading, kind: str) -> Mapped:
        a = r.attrs
        cfg = self.topics.get(a.get("via"))
        if cfg is not None:
            why = refusal(cfg, r.device, a, self.active, self._line_locations)
            if why is not None:
                return Mapped(exception=("unbound_device", why))
            if cfg.line:
                a = {**a, "line": cfg.line}
        line = a.get("line")
        wo = a.get("work_order") or (self.active(line) if line else None)
        if wo is None:
            if not line:
                return Mapped(exception=("unmapped", f"{kind} units from {r.device} name "
                                         "neither a line nor a work order"))
            return self._unassigned(r, f"{r.value} {kind} unit(s)", line)
        base = {"id": a["event_id"], "ts": r.ts, "source": r.device, "work_order": wo,
                "qty": r.value}
        if kind == "scrap":
            op = a.get("operation") or self._last_op.get(self._item_of(wo) or "", 0)
            return Mapped(event={**base, "type": "scrap", "operation": int(op)})
        location = a.get("location") or self.output_location(wo, line or "")
        return Mapped(event={**base, "type": "completion", "location": location})

    def _line_locations(self, line: str, work_order: str | None) -> set[str]:
        """Where a line's device may book: the line's own location and where its order's
        output goes."""
        here = {self._wc_loc.get(line, line)}
        return here | {self.output_location(work_order, line)} if work_order else here

    def _item_of(self, wo: str) -> str | None:
        return self._wo_item.get(wo)

    def note_release(self, work_order: str, item: str) -> None:
        """The mapper learns which item an order makes (from wo_release events)."""
        self._wo_item[work_order] = item

    def output_location(self, wo: str, line: str) -> str:
        """Finished goods go to the finished-goods store; a semi-finished item to where
        the next step backflushes it from; otherwise it stays at the line."""
        item = self.items.get(self._item_of(wo) or "")
        if item is not None and item.kind == "finished" and self._finished_loc:
            return self._finished_loc
        if item is not None and item.sku in self._consumed_at:
            return self._consumed_at[item.sku]
        return self._wc_loc.get(line, line)

    # -- scales ----------------------------------------------------------------------

    def _map_weight(self, r: Reading) -> Mapped:
        station = self.stations.get(r.attrs.get("station"))
        if station is None or station.kind != "line":
            return Mapped(exception=("unmapped", f"weight from {r.device} at station "
                                     f"{r.attrs.get('station')!r}, which is not a line station"))
        sku = self.last_scan.get(station.id)
        if sku is None:
            return Mapped(exception=("weight_without_item", f"{r.value} {r.unit} weighed at "
                                     f"{station.id} with no item scanned first"))
        item = self.items[sku]
        qty = convert_mass(float(r.value), r.unit or "kg", item.uom)
        if qty is None:
            return Mapped(exception=("unit", f"{sku} is counted in {item.uom!r}; a weight in "
                                     f"{r.unit!r} cannot be converted"))
        wo = self.active(station.work_center)
        if wo is None:
            return self._unassigned(r, f"{qty} {item.uom} of {sku} weighed", station.work_center)
        eid = r.attrs.get("event_id") or \
            f"{r.device}:weighing:{r.attrs.get('session', '')}:{r.ts}:{r.attrs.get('weighing', '')}"
        return Mapped(event={"id": eid, "type": "issue", "ts": r.ts, "source": r.device,
                             "work_order": wo, "item": sku, "qty": qty})

    # -- scanners ----------------------------------------------------------------------

    def _map_scan(self, r: Reading) -> Mapped:
        a = r.attrs
        if "symbology" not in a:  # pushed over MQTT as text: decode it as a scanner would
            decoded = decode_scan(str(r.value))
            if isinstance(decoded, ScanError):
                return Mapped(exception=("decode_error", f"scan from {r.device}: "
                                         f"{decoded.reason}"))
            a = {**a, **decoded.attrs}
        station = self.stations.get(a.get("station"))
        if station is None:
            return Mapped(exception=("unmapped", f"scan from {r.device} at " + unknown(
                "station", a.get("station"), self.stations, "[[stations]]")))
        if a.get("work_order"):
            if station.kind != "line":
                return Mapped(exception=("unmapped", f"work order {a['work_order']} scanned at "
                                         f"{station.kind} station {station.id}"))
            # the scan's id: a redelivered reading is the same event, a duplicate
            return Mapped(event={"id": a.get("event_id") or _scan_id(r), "type": "wo_start",
                                 "ts": r.ts, "source": r.device,
                                 "work_order": a["work_order"],
                                 "line": station.work_center})
        gtin = a.get("gtin")
        item = self.by_gtin.get(gtin14(gtin)) if gtin else None
        if item is None:
            return Mapped(exception=("unknown_gtin", f"no item has GTIN {gtin!r}"
                                     if gtin else f"not an item barcode: {r.value!r}"))
        if station.kind == "line":
            self.last_scan[station.id] = item.sku
            return Mapped(note=f"{item.sku} is next at {station.id}")
        qty = self._scan_qty(a, item)
        eid = f"{r.device}:{a['sscc']}" if a.get("sscc") else _scan_id(r)
        base = {"id": eid, "ts": r.ts, "source": r.device, "item": item.sku, "qty": qty,
                "location": station.location}
        if a.get("lot"):
            base["lot"] = a["lot"]
        if station.kind == "receiving":
            lines = self.po_lines.get(item.sku)
            if not lines:
                return Mapped(exception=("no_po", json.dumps(
                    {"reason": f"no open purchase order line for {item.sku}",
                     "draft": {**base, "type": "receipt"}})))
            return Mapped(event={**base, "type": "receipt", "po": lines[0].po,
                                 "unit_price": lines[0].unit_price})
        # Shipping: the sale price belongs to the sales order, which the scanner does not
        # know; a supervisor confirms it (the draft shipment is kept in the exception).
        return Mapped(exception=("no_price", json.dumps(
            {"reason": f"shipment of {qty} {item.sku} needs its sales-order price",
             "draft": {**base, "type": "shipment"}})))

    @staticmethod
    def _scan_qty(a: dict, item: Item) -> float:
        if a.get("count"):
            return float(a["count"])
        if a.get("net_kg") and item.uom in _KG:
            return convert_mass(float(a["net_kg"]), "kg", item.uom) or 1.0
        return 1.0

    # -- events pushed by other systems ---------------------------------------------------

    def _map_event(self, r: Reading) -> Mapped:
        event = dict(r.value) if isinstance(r.value, dict) else r.value
        if isinstance(event, dict):
            event.setdefault("source", r.device)
            if event.get("type") == "wo_release" and event.get("item"):
                self.note_release(str(event.get("work_order")), str(event["item"]))
        return Mapped(event=event)
