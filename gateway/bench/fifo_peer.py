"""fifo_peer stage: FIFO valuation of a receipt/shipment stream, three ways.

A stream of receipts and shipments over a few hundred FIFO items is valued
(a) by `PlainFifo`, a plain-Python FIFO in the manner of a general-purpose ERP's stock
ledger: a list of [qty, rate] layers per item, the item's total qty and value summed
again after every movement, no database; (b) by our engine (`Engine.apply_many`,
valuing and posting every movement); (c) by `gateway ingest` of the same stream as a
JSON-lines file, in a process of its own, into an empty journal. Reported: movements/s
of each, the ratios of (b) and (c) to (a), and whether the ending value of every item
agrees to the cent across the three.
"""

from __future__ import annotations

import pathlib
import random
import sqlite3
import time
from datetime import datetime, timedelta, timezone

from costing.master import Item, Location, MasterData

from gateway.bench.synth import ACCOUNTS, write_master_csv
from gateway.events import Receipt, Shipment, encode_event

TARGET_ENGINE = 100.0  # × the plain FIFO
TARGET_INGEST = 5.0


def fifo_master(n_items: int) -> MasterData:
    """`n_items` purchased FIFO items in one store, nothing else."""
    items = tuple(Item(f"F-{k:04d}", f"fifo {k}", "ea", "raw", "fifo", 10.0)
                  for k in range(n_items))
    return MasterData(items, (), (), (), (Location("RM", "stores"),), (), ACCOUNTS, "EUR", 2)


def movements(n: int, n_items: int, seed: int = 5) -> list:
    """`n` receipts and shipments (about half each) that never ship more than is on
    hand: integer quantities, prices in cents, so every value is a whole cent."""
    rng = random.Random(seed)
    on_hand = [0] * n_items
    t = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
    out: list = []
    for k in range(n):
        i = rng.randrange(n_items)
        ts = (t + timedelta(milliseconds=250 * k)).isoformat().replace("+00:00", "Z")
        if on_hand[i] and rng.random() < 0.5:
            q = rng.randint(1, on_hand[i])
            on_hand[i] -= q
            out.append(Shipment(id=f"s{k:07d}", ts=ts, item=f"F-{i:04d}", qty=float(q),
                                location="RM", unit_price=25.0))
        else:
            q = rng.randint(1, 200)
            on_hand[i] += q
            out.append(Receipt(id=f"r{k:07d}", ts=ts, item=f"F-{i:04d}", qty=float(q),
                               location="RM", unit_price=rng.randint(500, 1500) / 100))
    return out


class FifoQueue:
    """One item's FIFO queue, as such a stock ledger builds it for each movement: a list
    of [qty, rate] layers, oldest first, with negative stock as a layer of its own."""

    def __init__(self, layers: list[list[float]]):
        self.layers = layers

    def add_stock(self, qty: float, rate: float) -> None:
        layers = self.layers
        if layers and layers[-1][0] < 0:  # stock was negative: fill the hole first
            layers[-1][0] += qty
            if layers[-1][0] > 0:
                layers[-1][1] = rate
        elif layers and layers[-1][1] == rate:
            layers[-1][0] += qty
        else:
            layers.append([qty, rate])

    def remove_stock(self, qty: float) -> list[list[float]]:
        """Take `qty` from the oldest layers; the [qty, rate] pairs taken."""
        layers, taken = self.layers, []
        while qty > 0:
            if not layers:  # nothing left: the rest goes negative at the last rate
                layers.append([-qty, taken[-1][1] if taken else 0.0])
                taken.append([qty, layers[-1][1]])
                break
            head = layers[0]
            if head[0] <= qty:
                qty -= head[0]
                taken.append(layers.pop(0))
            else:
                head[0] = round(head[0] - qty, 9)
                taken.append([qty, head[1]])
                qty = 0
        return taken

    def totals(self) -> tuple[float, float]:
        return (sum(q for q, _ in self.layers), sum(q * r for q, r in self.layers))


class PlainFifo:
    """Every movement builds its item's queue, updates it and sums the item's qty and
    value again (rounded to the cent), as a stock ledger entry records them."""

    def __init__(self):
        self.layers: dict[str, list[list[float]]] = {}
        self.totals: dict[str, tuple[float, float]] = {}  # item -> (qty, value)
        self.outgoing: float = 0.0                          # value shipped

    def apply(self, events) -> None:
        for ev in events:
            queue = FifoQueue(self.layers.setdefault(ev.item, []))
            if ev.type == "receipt":
                queue.add_stock(ev.qty, ev.unit_price)
            else:
                self.outgoing += sum(q * r for q, r in queue.remove_stock(ev.qty))
            qty, value = queue.totals()
            self.totals[ev.item] = (qty, round(value, 2))

    def values(self) -> dict[str, int]:
        """Ending value per item, in cents."""
        return {item: round(v * 100) for item, (_, v) in self.totals.items()}


def _engine(master: MasterData, events) -> tuple[float, dict[str, int]]:
    from costing.engine import Engine

    warm = Engine(master)  # the kernels loaded from the cache before the clock starts
    warm.apply_many(events[:100], outcomes=False)
    engine = Engine(master)
    t0 = time.perf_counter()
    engine.apply_many(events, outcomes=False)
    seconds = time.perf_counter() - t0
    return seconds, {c.item: int(c.value) for c in engine.item_costs(
        {it.sku for it in master.items})}


def _ingest(folder: pathlib.Path, master: MasterData, events) -> tuple[float, dict[str, int]]:
    from gateway.bench.history import _command
    from gateway.bench.ingest import write_site

    site = folder / "fifo_peer"
    write_master_csv(master, site / "master")
    cfg = write_site(site, len(master.items), 1, "mqtt://127.0.0.1:1", db="var/fifo.db")
    db = site / "var" / "fifo.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    path = site / "movements.jsonl"
    path.write_bytes(b"".join(encode_event(ev) + b"\n" for ev in events))
    figures, _, err = _command(site, "ingest", "-c", str(cfg), str(path))
    want = f"{len(events)} applied, 0 duplicate, 0 rejected"
    if figures["status"] != 0 or want not in err:
        raise RuntimeError(f"gateway ingest: expected {want!r}, got {err[-2000:]}")
    with sqlite3.connect(db) as conn:
        values = dict(conn.execute("SELECT item, value FROM item_costs"))
    return figures["seconds"], values


def run_stage(folder: pathlib.Path, n: int, n_items: int = 200, progress=print) -> dict:
    master = fifo_master(n_items)
    events = movements(n, n_items)
    t0 = time.perf_counter()
    plain = PlainFifo()
    plain.apply(events)
    plain_s = time.perf_counter() - t0
    progress(f"  plain FIFO {n / plain_s:,.0f} movements/s")
    engine_s, engine_values = _engine(master, events)
    progress(f"  engine {n / engine_s:,.0f} movements/s")
    ingest_s, ingest_values = _ingest(folder, master, events)
    progress(f"  gateway ingest {n / ingest_s:,.0f} movements/s")
    want = plain.values()
    items = sorted(want)
    differ = [i for i in items if not (want[i] == engine_values.get(i, 0)
                                       == ingest_values.get(i, 0))]
    if differ:
        i = differ[0]
        raise RuntimeError(f"fifo_peer: {len(differ)} items end at other values, first {i}:"
                           f" plain {want[i]}, engine {engine_values.get(i)},"
                           f" ingest {ingest_values.get(i)} (cents)")
    rate = {k: round(n / s, 1) for k, s in
            (("plain", plain_s), ("engine", engine_s), ("ingest", ingest_s))}
    return {"movements": n, "items": n_items,
            "plain_per_s": rate["plain"], "engine_per_s": rate["engine"],
            "ingest_per_s": rate["ingest"],
            "engine_ratio": round(plain_s / engine_s, 1),
            "ingest_ratio": round(plain_s / ingest_s, 2),
            "engine_target": TARGET_ENGINE, "ingest_target": TARGET_INGEST,
            "ending_value_cents": sum(want.values()), "values_agree": True}
