"""What every accepted event changed, kept compactly so a reversal can negate it exactly.

An effect is one state change (a stock-row move, an item's qty/value, a FIFO take or
layer, WIP, good units, material and step actuals, a new material row or order, a
close). `EffectLog` keeps them as typed columns — 29 bytes an effect instead of a
Python tuple — written by the per-event path and by the batch kernel alike, all but
the newest spilled to the engine's block store (costing.arrays.SpillColumn): only a
reversal reads them again. `Records`
maps each accepted event id to its effect range and journal-line range.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from costing.arrays import Column, MemoryBlocks, SpillColumn
from costing.kernels import id_hash_kernel

# effect kinds: column codes shared with costing.batch's kernel
ROW, ITEM, TAKE, LAYER, WIP, GOOD, MAT, STEP, MAT_NEW, WO_NEW, CLOSE = range(11)
# what is owed (costing.settlement): a receipt layer's uninvoiced qty and value, an
# invoice billed / paid, a sales order shipped (qty, revenue) / paid, its cost of sales
RCV, AP_BILL, AP_PAY, AR_BILL, AR_PAY, SO_COGS = range(11, 17)
KIND_NAMES = ("row", "item", "take", "layer", "wip", "good", "mat", "step", "mat_new",
              "wo_new", "close", "rcv", "ap_bill", "ap_pay", "ar_bill", "ar_pay", "so_cogs")
MONEY_KINDS = frozenset(range(11, 17))
KIND_CODE = {name: k for k, name in enumerate(KIND_NAMES)}

EVENT_TYPES = ("receipt", "issue", "wo_release", "completion", "scrap", "labor",
               "shipment", "count", "transfer", "wo_close", "reversal", "supplier_invoice",
               "payment", "customer_payment", "wo_start")
TYPE_CODE = {name: k for k, name in enumerate(EVENT_TYPES)}


class EffectLog:
    """Effects as columns: kind, a (row/item/layer/order/material-row/step-row id),
    x (a quantity or hours), v (minor units), y (old unit cost, or scrap qty)."""

    def __init__(self, spill_block: int = 1 << 16, blocks=MemoryBlocks):
        store = blocks()  # read again only by a reversal: all but the newest spilled
        self.kind = SpillColumn(np.int8, store, spill_block)
        self.a = SpillColumn(np.int32, store, spill_block)
        self.x = SpillColumn(np.float64, store, spill_block)
        self.v = SpillColumn(np.int64, store, spill_block)
        self.y = SpillColumn(np.float64, store, spill_block)
        self.closed: dict[int, tuple[int, ...]] = {}  # effect -> variances before a close

    @property
    def n(self) -> int:
        return self.kind.n

    def columns(self) -> tuple[Column, ...]:
        return self.kind, self.a, self.x, self.v, self.y

    def append(self, effect: tuple) -> None:
        name = effect[0]
        k = KIND_CODE[name]
        a, x, v, y = int(effect[1]), 0.0, 0, 0.0
        if name == "row" or name == "good":
            x = effect[2]
        elif name == "item":
            x, v, y = effect[2], effect[3], effect[4]
        elif name in ("take", "layer", "mat") or k in MONEY_KINDS:
            x, v = effect[2], effect[3]
        elif name == "wip":
            v = effect[2]
        elif name == "step":
            x, y = effect[2], effect[3]
        elif name == "mat_new":
            a = int(effect[3])  # the order and item are still on the material row
        elif name == "close":
            self.closed[self.kind.n] = tuple(effect[2])
        for col, value in zip(self.columns(), (k, a, x, v, y)):
            col.append(value)

    def range(self, e0: int, e1: int) -> list[tuple[int, int, int, float, int, float]]:
        """Effects [e0, e1) as (e, kind, a, x, v, y), one read per column."""
        cols = [c.read(e0, e1).tolist() for c in self.columns()]
        return list(zip(range(e0, e1), *cols))

    def get(self, e: int, wos, row: tuple | None = None) -> tuple:
        """Effect e as the tuple the undo methods take (`row`: e's entry of `range`)."""
        if row is None:
            (row,) = self.range(e, e + 1)
        _, k, a, x, v, y = row
        name = KIND_NAMES[k]
        if name == "row" or name == "good":
            return (name, a, x)
        if name == "item":
            return (name, a, x, v, y, None)
        if name in ("take", "layer", "mat") or k in MONEY_KINDS:
            return (name, a, x, v)
        if name == "wip":
            return (name, a, v)
        if name == "step":
            return (name, a, x, y)
        if name == "mat_new":
            return (name, int(wos.mat_wo[a]), int(wos.mat_item[a]), a)
        if name == "close":
            # an open order's posted variances are 0: only a close sets them, and the
            # reversal of a close restores them
            return (name, a, self.closed.get(e, (0, 0, 0, 0)))
        return (name, a)


def _bounds(sizes) -> np.ndarray:
    ends = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, dtype=np.int64, out=ends[1:])
    return ends


def _utf8(ids: list[str]) -> tuple[bytes, list[int]]:
    """The ids' UTF-8 bytes, joined, and each one's length in bytes."""
    text = "".join(ids)
    if text.isascii():  # then a character is a byte: one encode for all
        return text.encode(), list(map(len, ids))
    encoded = [s.encode() for s in ids]
    return b"".join(encoded), list(map(len, encoded))


def id_hashes(ids: list[str]) -> np.ndarray:
    """The index's hash of each id (costing.kernels.id_hash_kernel: the same in every
    process), as int64."""
    raw, sizes = _utf8(ids)
    return id_hash_kernel(np.frombuffer(raw, np.uint8), _bounds(sizes))


class IdIndex:
    """Event id -> record index, compact: ~16 bytes an id in memory instead of ~170.

    The newest ids are in a dict; the rest are (hash, record) pairs sorted by hash in two
    numpy arrays (`id_hashes`: not Python's per-process str hash, so the arrays of a
    snapshot are valid as they are in any process), and the ids' text is spilled by record (a hash match is checked
    against it, so a collision never confuses two ids). The dict moves into the arrays
    when it reaches an eighth of them (at least `spill_block` ids): merging costs O(n) amortized.
    `hold` defers that move while a batch relies on `known_many` taken at its start.
    """

    def __init__(self, store, spill_block: int):
        self.recent: dict[str, int] = {}
        self.keys = np.empty(0, np.int64)  # id_hashes of the ids, sorted
        self.vals = np.empty(0, np.int64)  # record index of each key
        self.text = SpillColumn(np.uint8, store, spill_block * 8)  # ids' UTF-8, by record
        self.text_end = SpillColumn(np.int64, store, spill_block)  # end of record k's id
        self.hold = False
        self.least = spill_block  # the dict moves at this size or an eighth of the arrays

    def __len__(self) -> int:
        return self.text_end.n

    def id_of(self, k: int) -> str:
        return self.ids_between(k, k + 1)[0]

    def ids_between(self, k0: int, k1: int) -> list[str]:
        ends = self.text_end.read(max(k0 - 1, 0), k1).tolist()
        if k0 == 0:
            ends.insert(0, 0)
        raw = self.text.read(ends[0], ends[-1]).tobytes()
        base = ends[0]
        return [raw[a - base:b - base].decode() for a, b in pairwise(ends)]

    def _sorted_get(self, event_id: str, h: int | None = None) -> int:
        keys = self.keys
        h = int(id_hashes([event_id])[0]) if h is None else h
        i = int(keys.searchsorted(h))
        while i < len(keys) and keys[i] == h:
            k = int(self.vals[i])
            if self.id_of(k) == event_id:
                return k
            i += 1
        return -1

    def get(self, event_id: str) -> int | None:
        k = self.recent.get(event_id)
        if k is not None:
            return k
        if not len(self.keys):
            return None
        k = self._sorted_get(event_id)
        return None if k == -1 else k

    def __contains__(self, event_id: str) -> bool:
        return self.get(event_id) is not None

    def known_many(self, ids: list[str]) -> list[bool]:
        """Whether each id is in the sorted arrays (not the dict: ask it directly)."""
        keys = self.keys
        if not len(keys) or not ids:
            return [False] * len(ids)
        hashes = id_hashes(ids)
        pos = np.minimum(keys.searchsorted(hashes), len(keys) - 1)
        out = [False] * len(ids)
        hits = np.flatnonzero(keys[pos] == hashes)
        if not len(hits):
            return out
        # a hash match is checked against the id's text: the texts of the records hit,
        # read in one range when they lie close together (a journal's ids, in order)
        ks = self.vals[pos[hits]]
        k0, k1 = int(ks.min()), int(ks.max()) + 1
        if k1 - k0 > 4 * len(hits) + 1024:
            for m in hits.tolist():
                out[m] = self._sorted_get(ids[m], int(hashes[m])) != -1
            return out
        ends = self.text_end.read(max(k0 - 1, 0), k1).tolist()
        if k0 == 0:
            ends.insert(0, 0)
        base = ends[0]
        raw = self.text.read(base, ends[-1]).tobytes()
        for m, k in zip(hits.tolist(), (ks - k0).tolist()):
            same = raw[ends[k] - base:ends[k + 1] - base] == ids[m].encode()
            # no: another id with the same hash may follow in the keys
            out[m] = same or self._sorted_get(ids[m], int(hashes[m])) != -1
        return out

    def contains_many(self, ids: list[str]) -> list[bool]:
        """`id in index` for each id, at once (a journal's rebuild checks all of them)."""
        recent = self.recent
        return [r or id_ in recent for r, id_ in zip(self.known_many(ids), ids)]

    def add_many(self, ids: list[str], first: int) -> None:
        """Ids of records first, first + 1, ... (in order, none known yet)."""
        raw, sizes = _utf8(ids)
        start = self.text.n
        self.text.extend(np.frombuffer(raw, np.uint8))
        self.text_end.extend(np.cumsum(sizes, dtype=np.int64) + start)
        self.recent.update(zip(ids, range(first, first + len(ids))))
        self.settle()

    def settle(self) -> None:
        """Move the dict into the sorted arrays once it is large enough (unless held)."""
        if self.hold or len(self.recent) < max(self.least, len(self.keys) >> 3):
            return
        ks = id_hashes(list(self.recent))
        vs = np.fromiter(self.recent.values(), np.int64, len(self.recent))
        order = np.argsort(ks, kind="stable")
        ks, vs = ks[order], vs[order]
        at = self.keys.searchsorted(ks)
        self.keys = np.insert(self.keys, at, ks)
        self.vals = np.insert(self.vals, at, vs)
        self.recent.clear()  # the same dict: a batch path holds it


class Records:
    """Accepted events in order: id, type, effect and line ranges, order, reversed flag.

    Ranges are contiguous: record k spans [end[k-1], end[k]) of the effect log and of
    the ledger's lines, so one end per record is all that is stored. Only a reversal,
    `lines_of` and `entries_since` read a record again: the columns are spilled but for
    their newest rows, and the id index is compact (IdIndex).
    """

    def __init__(self, spill_block: int = 1 << 16, blocks=MemoryBlocks):
        store = blocks()
        self.index = IdIndex(store, spill_block)
        self.type = SpillColumn(np.int8, store, spill_block)
        self.eff_end = SpillColumn(np.int64, store, spill_block)
        self.line_end = SpillColumn(np.int64, store, spill_block)
        self.wo = SpillColumn(np.int32, store, spill_block)
        self.reversed: set[int] = set()  # records reversed since

    @property
    def n(self) -> int:
        return self.type.n

    def __contains__(self, event_id: str) -> bool:
        return event_id in self.index

    def contains_many(self, event_ids: list[str]) -> list[bool]:
        """Whether each event was accepted: `id in records` for many ids at once."""
        return self.index.contains_many(event_ids)

    def get(self, event_id: str) -> int | None:
        return self.index.get(event_id)

    def add(self, event_id: str, type_: str, eff_end: int, line_end: int,
            wo: int | None) -> None:
        self.index.add_many([event_id], self.type.append(TYPE_CODE[type_]))
        self.eff_end.append(eff_end)
        self.line_end.append(line_end)
        self.wo.append(-1 if wo is None else wo)

    def extend(self, ids: list[str], types, eff_ends, line_ends, wos) -> None:
        first = self.type.n
        self.type.extend(types)
        self.eff_end.extend(eff_ends)
        self.line_end.extend(line_ends)
        self.wo.extend(wos)
        self.index.add_many(ids, first)

    def ids_between(self, k0: int, k1: int) -> list[str]:
        return self.index.ids_between(k0, k1) if k1 > k0 else []

    def ranges(self, k: int) -> tuple[int, int, int, int]:
        """(effect start, effect end, line start, line end) of record k."""
        if k:
            (e0, e1), (l0, l1) = (c.read(k - 1, k + 1).tolist()
                                  for c in (self.eff_end, self.line_end))
            return e0, e1, l0, l1
        return 0, int(self.eff_end[0]), 0, int(self.line_end[0])
