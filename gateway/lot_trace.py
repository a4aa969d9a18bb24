"""Lot traceability from the journal: where a lot went (receipt → issues and backflushes
into work orders → what they produced → the shipments that took it), and back from a
shipment to every lot in it.

What the journal records decides what is certain. Receipts, transfers, issues and
shipments name their lot: those links are exact. A backflush draws the component from
the work center's line-side location without recording the lot (oldest lot there first):
such a link says "backflush at L1 (lot not recorded)" and is shown as possible, not as
fact. Completions carry no lot: a produced batch is known by its work order.

The result is a flat list of nodes in tree order (`depth` gives the nesting), so the CLI
prints it as a table and the dashboard as an indented tree. Read-only.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

__all__ = ["LotNotFound", "lot", "shipment", "MAX_NODES"]

MAX_NODES = 400  # a trace beyond this is cut, and says so


class LotNotFound(LookupError):
    """No event names this lot or shipment."""


_EV = """SELECT seq, id, type, payload FROM events"""


def _events(conn: sqlite3.Connection, where: str, params: tuple) -> list[dict[str, Any]]:
    out = []
    for seq, eid, typ, payload in conn.execute(f"{_EV} WHERE {where} ORDER BY seq", params):
        p = json.loads(payload)
        out.append({"seq": seq, "id": eid, "type": typ, **p})
    return out


class _Tree:
    def __init__(self, conn: sqlite3.Connection, wc_locations: dict[str, str]):
        self.conn = conn
        self.places = wc_locations
        self.nodes: list[dict[str, Any]] = []
        self.cut = False

    def add(self, depth: int, label: str, *, event: dict | None = None, type_: str = "",
            item: str | None = None, qty: float | None = None, where: str | None = None,
            note: str | None = None, certain: bool = True, work_order: str | None = None,
            lot: str | None = None) -> bool:
        if len(self.nodes) >= MAX_NODES:
            self.cut = True
            return False
        self.nodes.append({"depth": depth, "label": label,
                           "event_id": event["id"] if event else None,
                           "seq": event["seq"] if event else None,
                           "type": type_ or (event["type"] if event else ""), "item": item,
                           "qty": qty, "where": where, "note": note, "certain": certain,
                           "work_order": work_order, "lot": lot})
        return True

    # -- forward: where did it go ------------------------------------------------

    def onward(self, item: str, location: str, after: int, depth: int, lot: str | None,
               seen: set) -> None:
        """What took `item` (of `lot`, if given) out of `location` after event `after`."""
        key = (item, location, lot)
        if key in seen or depth > 12:
            return
        seen = seen | {key}
        lot_sql = " AND json_extract(payload, '$.lot') = ?" if lot else ""
        lot_arg = (lot,) if lot else ()
        moves = _events(self.conn, "type IN ('issue', 'shipment', 'transfer') AND seq > ?"
                        " AND json_extract(payload, '$.item') = ?" + lot_sql,
                        (after, item, *lot_arg))
        for ev in moves:
            src = ev.get("from_location") if ev["type"] == "transfer" else ev.get("location")
            if src is not None and src != location:
                continue
            if ev["type"] == "transfer":
                if self.add(depth, f"moved {src} → {ev['to_location']}", event=ev, item=item,
                            qty=ev["qty"], where=ev["to_location"], lot=lot):
                    self.onward(item, ev["to_location"], ev["seq"], depth + 1, lot, seen)
            elif ev["type"] == "shipment":
                self.add(depth, f"shipped{' on ' + ev['order'] if ev.get('order') else ''}",
                         event=ev, item=item, qty=ev["qty"], where=src, lot=lot)
            elif self.add(depth, f"issued to {ev['work_order']}", event=ev, item=item,
                          qty=ev["qty"], where=src, work_order=ev["work_order"], lot=lot):
                self.produced(ev["work_order"], depth + 1, seen)
        wcs = [wc for wc, loc in self.places.items() if loc == location]
        if not wcs:
            return
        marks = ",".join("?" * len(wcs))
        for wo, wc, value, first_seq, first_id in self.conn.execute(
                f"""SELECT l.work_order, l.work_center, sum(l.credit), min(e.event_seq),
                           min(e.event_id)
                    FROM journal_lines l JOIN entries e ON e.entry = l.entry
                    WHERE l.memo = 'completion: backflush' AND l.item = ? AND l.credit > 0
                      AND l.work_center IN ({marks}) AND e.event_seq > ?
                    GROUP BY l.work_order ORDER BY min(e.event_seq)""", (item, *wcs, after)):
            note = f"backflush at {location} ({wc}); lot not recorded" if lot else \
                f"backflush at {location} ({wc})"
            if self.add(depth, f"backflushed into {wo}", event={"id": first_id,
                                                                "seq": first_seq,
                                                                "type": "completion"},
                        item=item, where=location, note=note, certain=not lot,
                        work_order=wo, lot=lot):
                self.produced(wo, depth + 1, seen)

    def produced(self, wo: str, depth: int, seen: set) -> None:
        """The completions of `wo`, one node per location, and where that output went."""
        rows = self.conn.execute(
            """SELECT json_extract(payload, '$.location'), sum(json_extract(payload, '$.qty')),
                      min(seq), min(id)
               FROM events WHERE type = 'completion'
                 AND json_extract(payload, '$.work_order') = ?
               GROUP BY 1 ORDER BY min(seq)""", (wo,)).fetchall()
        out = self.conn.execute("SELECT item FROM work_orders WHERE work_order = ?",
                                (wo,)).fetchone()
        if out is None:
            return
        for location, qty, first_seq, first_id in rows:
            if self.add(depth, f"{wo} produced {out[0]}", event={"id": first_id,
                                                                 "seq": first_seq,
                                                                 "type": "completion"},
                        item=out[0], qty=qty, where=location, work_order=wo):
                self.onward(out[0], location, first_seq, depth + 1, None, seen)

    # -- backward: where did it come from ------------------------------------------

    def origin(self, item: str, location: str, before: int, depth: int, lot: str | None,
               seen: set) -> None:
        """What brought `item` (of `lot`) into `location` before event `before`."""
        key = (item, location, lot)
        if key in seen or depth > 12:
            return
        seen = seen | {key}
        lot_sql = " AND json_extract(payload, '$.lot') = ?" if lot else ""
        for ev in _events(self.conn, "type IN ('receipt', 'transfer') AND seq < ?"
                          " AND json_extract(payload, '$.item') = ?" + lot_sql,
                          (before, item, *((lot,) if lot else ()))):
            if ev["type"] == "receipt" and ev["location"] == location:
                self.add(depth, f"received{' on ' + ev['po'] if ev.get('po') else ''}",
                         event=ev, item=item, qty=ev["qty"], where=location,
                         lot=ev.get("lot"), note=f"lot {ev['lot']}" if ev.get("lot") else
                         "no lot")
            elif ev["type"] == "transfer" and ev["to_location"] == location:
                if self.add(depth, f"moved {ev['from_location']} → {location}", event=ev,
                            item=item, qty=ev["qty"], where=location, lot=ev.get("lot")):
                    self.origin(item, ev["from_location"], ev["seq"], depth + 1,
                                ev.get("lot"), seen)
        if lot:
            return  # completions carry no lot: a lot is bought, not made
        for wo, qty, first_seq, first_id in self.conn.execute(
                """SELECT json_extract(payload, '$.work_order'), sum(json_extract(payload,
                          '$.qty')), min(seq), min(id)
                   FROM events WHERE type = 'completion' AND seq < ?
                     AND json_extract(payload, '$.location') = ?
                     AND json_extract(payload, '$.work_order') IN
                         (SELECT work_order FROM work_orders WHERE item = ?)
                   GROUP BY 1 ORDER BY min(seq)""", (before, location, item)):
            if self.add(depth, f"made by {wo}", event={"id": first_id, "seq": first_seq,
                                                       "type": "completion"},
                        item=item, qty=qty, where=location, work_order=wo):
                self.inputs(wo, depth + 1, seen)

    def inputs(self, wo: str, depth: int, seen: set) -> None:
        """The components `wo` consumed: issues (with their lots) and backflushes."""
        for ev in _events(self.conn, "type = 'issue' AND json_extract(payload, "
                          "'$.work_order') = ?", (wo,)):
            if self.add(depth, f"issued {ev['item']}", event=ev, item=ev["item"],
                        qty=ev["qty"], where=ev.get("location"), lot=ev.get("lot"),
                        note=f"lot {ev['lot']}" if ev.get("lot") else None):
                if ev.get("location"):
                    self.origin(ev["item"], ev["location"], ev["seq"], depth + 1,
                                ev.get("lot"), seen)
        for item, wc, last_seq, first_id in self.conn.execute(
                """SELECT l.item, l.work_center, max(e.event_seq), min(e.event_id)
                   FROM journal_lines l JOIN entries e ON e.entry = l.entry
                   WHERE l.memo = 'completion: backflush' AND l.work_order = ? AND l.credit > 0
                   GROUP BY l.item, l.work_center ORDER BY min(e.event_seq)""", (wo,)):
            location = self.places.get(wc)
            if self.add(depth, f"backflushed {item}", event={"id": first_id, "type":
                                                            "completion", "seq": None},
                        item=item, where=location, note=f"at {wc}; lots not recorded",
                        certain=False) and location:
                self.origin(item, location, last_seq + 1, depth + 1, None, seen)


def _done(tree: _Tree, title: str) -> dict[str, Any]:
    return {"title": title + (f" (cut at {MAX_NODES} steps)" if tree.cut else ""),
            "nodes": tree.nodes, "cut": tree.cut}


def lot(conn: sqlite3.Connection, lot_id: str, wc_locations: dict[str, str]) -> dict[str, Any]:
    """Forward from a lot: its receipts, then every move out of every place it reached."""
    evs = _events(conn, "json_extract(payload, '$.lot') = ?", (lot_id,))
    if not evs:
        raise LotNotFound(f"lot {lot_id!r}: no event in the journal names this lot")
    tree = _Tree(conn, wc_locations)
    item = evs[0]["item"]
    tree.add(0, f"lot {lot_id}", item=item, lot=lot_id, type_="lot")
    starts = [e for e in evs if e["type"] in ("receipt", "count")] or evs[:1]
    seen: set = set()
    for ev in starts:
        where = ev.get("location") or ev.get("from_location")
        label = "received" + (f" on {ev['po']}" if ev.get("po") else "") \
            if ev["type"] == "receipt" else f"first seen ({ev['type']})"
        if tree.add(1, label, event=ev, item=ev["item"], qty=ev.get("qty"), where=where,
                    lot=lot_id):
            tree.onward(ev["item"], where, ev["seq"], 2, lot_id, seen)
    return _done(tree, f"lot {lot_id} ({item}): where it went")


def shipment(conn: sqlite3.Connection, shipment_id: str,
             wc_locations: dict[str, str]) -> dict[str, Any]:
    """Back from a shipment (its event id, or its order) to every lot that can be in it."""
    evs = _events(conn, "type = 'shipment' AND (id = ? OR json_extract(payload, '$.order') = ?)",
                  (shipment_id, shipment_id))
    if not evs:
        raise LotNotFound(f"shipment {shipment_id!r}: no shipment event has this id or order")
    tree = _Tree(conn, wc_locations)
    for ev in evs:
        if tree.add(0, f"shipment {ev['id']}" + (f" on {ev['order']}" if ev.get("order") else ""),
                    event=ev, item=ev["item"], qty=ev["qty"], where=ev["location"],
                    lot=ev.get("lot")):
            tree.origin(ev["item"], ev["location"], ev["seq"], 1, ev.get("lot"), set())
    return _done(tree, f"shipment {shipment_id}: where it came from")
