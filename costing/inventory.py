"""Inventory state: per-item qty and value, FIFO layers, and stock-row quantities.

Valuation is per item, plant-wide: `value[i]` (minor units) changes by exactly the
inventory-account amounts posted for item i, so Σ item value per inventory account is
that account's GL balance by construction. Stock rows (item, location, status, lot)
hold quantities only; their value is an allocation of the item's value by qty.
Every change is recorded as an effect tuple so a reversal can negate it exactly.
"""

from __future__ import annotations

import math

import numpy as np

from costing.arrays import Column
from costing.kernels import EPS, value_kernel
from costing.money import allocate
from costing.outcome import Alert, StockMove
from costing.plant import FIFO, Plant

RowKey = tuple[str, str, str, str | None]  # item, location, status, lot


class Inventory:
    """Item quantities/values and FIFO layers as arrays; stock rows as a dict."""

    def __init__(self, plant: Plant, std: np.ndarray):
        n = len(plant.skus)
        self.plant = plant
        self.std = std
        self.qty = np.zeros(n)
        self.value = np.zeros(n, np.int64)
        self.last_unit = np.full(n, math.nan)  # minor units per unit; NaN = none yet
        self.layer_qty = Column(np.float64)
        self.layer_value = Column(np.int64)
        self.layer_next = Column(np.int64, -1)
        self.layer_item = Column(np.int64)
        self.head = np.full(n, -1, np.int64)
        self.tail = np.full(n, -1, np.int64)
        # Stock rows are interned to ids (the batch kernel indexes them); a row exists
        # once it was first moved: row_seq is that creation order (-1 = not yet).
        self.row_index: dict[RowKey, int] = {}
        self.row_keys: list[RowKey] = []
        self.row_qty = Column(np.float64)
        self.row_seq = Column(np.int64, -1)
        self.created = 0
        # available lot rows per (item, location), a chain in creation order: what a
        # draw without a lot takes after the no-lot row, oldest lot first
        self.row_group = Column(np.int64, -1)
        self.row_next = Column(np.int64, -1)
        self._item_rows: tuple[int, dict[str, list[int]]] = (0, {})  # `_rows_by_item`
        self.group_index: dict[tuple[str, str], int] = {}
        self.group_head = Column(np.int64, -1)
        self.group_tail = Column(np.int64, -1)
        self.group_len = Column(np.int64)

    # -- values -----------------------------------------------------------------
    def consume(self, items: list[int], qtys: list[float], effects: list):
        """Value consumptions in order (the value kernel); returns (amounts, shorts)."""
        touched = sorted(set(items))
        before = {i: (float(self.qty[i]), int(self.value[i]), float(self.last_unit[i]))
                  for i in touched}
        amounts, shorts, _, t_layer, t_qty, t_value = value_kernel(
            np.asarray(items, np.int64), np.asarray(qtys, np.float64), self.plant.method,
            self.std, self.plant.scale, self.qty, self.value, self.last_unit,
            self.layer_qty.a, self.layer_value.a, self.layer_next.a, self.head)
        for layer, q, v in zip(t_layer.tolist(), t_qty.tolist(), t_value.tolist()):
            effects.append(("take", layer, q, v))
        for i in touched:
            q0, v0, u0 = before[i]
            effects.append(("item", i, float(self.qty[i]) - q0, int(self.value[i]) - v0,
                            u0, float(self.last_unit[i])))
        return [int(a) for a in amounts], [float(s) for s in shorts]

    def add(self, i: int, q: float, amount: int, effects: list) -> None:
        """Stock in at a known amount (receipt, FG, count gain); FIFO items get a layer."""
        u0 = float(self.last_unit[i])
        self.qty[i] += q
        self.value[i] += amount
        if self.plant.method[i] == FIFO:
            layer = self._new_layer(i, q, amount)
            effects.append(("layer", layer, q, amount))
        elif self.qty[i] > EPS:
            self.last_unit[i] = self.value[i] / self.qty[i]
        effects.append(("item", i, q, amount, u0, float(self.last_unit[i])))

    def unit_minor(self, i: int) -> float | None:
        """Current unit cost in minor units for non-standard items (None: use std)."""
        if self.qty[i] > EPS:
            return float(self.value[i] / self.qty[i])
        return None if math.isnan(self.last_unit[i]) else float(self.last_unit[i])

    def _new_layer(self, i: int, q: float, amount: int) -> int:
        layer = self.layer_qty.append(q)
        self.layer_value.append(amount)
        self.layer_next.append(-1)
        self.layer_item.append(i)
        if self.tail[i] == -1:
            self.head[i] = layer
        else:
            self.layer_next[int(self.tail[i])] = layer
            # head = oldest non-empty layer; a reversed receipt can leave an empty layer
            # before full ones, so skip only the empty run (all empty: the new layer)
            h = int(self.head[i])
            while h != layer and self.layer_qty[h] <= EPS:
                h = int(self.layer_next[h])
            self.head[i] = h
        self.tail[i] = layer
        return layer

    # -- stock rows -------------------------------------------------------------
    def row(self, key: RowKey) -> int:
        """The id of a stock row (interned on first sight; it exists once moved)."""
        r = self.row_index.get(key)
        if r is None:
            r = self.row_index[key] = len(self.row_keys)
            self.row_keys.append(key)
            self.row_qty.append(0.0)
            self.row_seq.append(-1)
            self.row_next.append(-1)
            lot_row = key[3] is not None and key[2] == "available"
            self.row_group.append(self.group(key[0], key[1]) if lot_row else -1)
        return r

    def group(self, sku: str, location: str) -> int:
        """The id of the available-lot chain at (item, location), interned."""
        g = self.group_index.get((sku, location))
        if g is None:
            g = self.group_index[(sku, location)] = self.group_head.append(-1)
            self.group_tail.append(-1)
            self.group_len.append(0)
        return g

    def qty_at(self, key: RowKey) -> float:
        r = self.row_index.get(key)
        return 0.0 if r is None else float(self.row_qty[r])

    def move(self, key: RowKey, dq: float, effects: list, moves: list) -> None:
        r = self.row(key)
        if self.row_seq[r] == -1:
            self._create(r)
        self.row_qty[r] += dq
        effects.append(("row", r, dq))
        moves.append(StockMove(key[0], key[1], key[2], key[3], dq))

    def _create(self, r: int) -> None:
        self.row_seq[r] = self.created
        self.created += 1
        g = int(self.row_group[r])
        if g != -1:
            if self.group_tail[g] == -1:
                self.group_head[g] = r
            else:
                self.row_next[int(self.group_tail[g])] = r
            self.group_tail[g] = r
            self.group_len[g] += 1

    def lot_chain(self, sku: str, location: str) -> list[int]:
        """Available lot rows at (item, location), oldest created first."""
        out = []
        g = self.group_index.get((sku, location))
        r = -1 if g is None else int(self.group_head[g])
        while r != -1:
            out.append(r)
            r = int(self.row_next[r])
        return out

    def draw(self, sku: str, location: str, q: float, lot: str | None, effects: list,
             moves: list, alerts: list) -> None:
        """Take q of available stock at location: no-lot row, then lots oldest first.

        With a lot named, only that lot's row. A shortfall drives the first row
        (no-lot, or the named lot) negative and raises a `negative stock` alert.
        """
        first: RowKey = (sku, location, "available", lot)
        candidates = [self.row(first)]
        if lot is None:
            candidates += self.lot_chain(sku, location)
        left = q
        for r in candidates:
            have = float(self.row_qty[r])
            if have > EPS and left > EPS:
                take = min(have, left)
                self.move(self.row_keys[r], -take, effects, moves)
                left -= take
        if left > EPS:
            self.move(first, -left, effects, moves)
            alerts.append(Alert("negative stock",
                                f"{sku} at {location} (lot {lot or '-'}): short by {left:g}"))

    # -- undo -------------------------------------------------------------------
    def undo(self, effect: tuple) -> None:
        kind = effect[0]
        if kind == "row":
            _, r, dq = effect
            self.row_qty[r] -= dq
        elif kind == "item":
            _, i, dq, dv, u0, _u1 = effect
            self.qty[i] -= dq
            self.value[i] -= dv
            self.last_unit[i] = u0
        elif kind == "take":
            _, layer, q, v = effect
            self.layer_qty[layer] += q
            self.layer_value[layer] += v
            i = int(self.layer_item[layer])
            head = int(self.head[i])
            if head == -1 or layer < head or self.layer_qty[head] <= EPS:
                self.head[i] = layer
        elif kind == "layer":
            _, layer, q, v = effect
            self.layer_qty[layer] -= q
            self.layer_value[layer] -= v
            i = int(self.layer_item[layer])
            if layer == self.layer_qty.n - 1 and abs(self.layer_qty[layer]) <= EPS \
                    and self.layer_value[layer] == 0:
                self._drop_last_layer(i, layer)
        else:
            raise KeyError(kind)

    def _drop_last_layer(self, i: int, layer: int) -> None:
        """Undo of the newest layer: unlink and drop it so replayed state is identical."""
        prev = -1
        for k in range(layer - 1, -1, -1):  # the item's chain is in creation order
            if self.layer_item[k] == i:
                prev = k
                break
        if prev != -1:
            self.layer_next[prev] = -1
        self.tail[i] = prev
        if self.head[i] == layer:
            self.head[i] = prev
        for col in (self.layer_qty, self.layer_value, self.layer_next, self.layer_item):
            col.pop()

    # -- views ------------------------------------------------------------------
    def row_values(self, items: set[str] | None = None) -> list[tuple[RowKey, float, int]]:
        """(row, qty, value) with each item's value allocated over its rows by qty;
        only the rows of `items` when given (a commit projects what it touched)."""
        seq = self.row_seq.a
        if items is None:
            live = np.flatnonzero(seq >= 0)
        else:  # the rows of those items only, not a pass over every row
            rows_of = self._rows_by_item()
            live = np.array([r for sku in items for r in rows_of.get(sku, ())], np.int64)
            live = live[seq[live] >= 0]
        ordered = live[np.argsort(seq[live], kind="stable")]
        # each item's rows and quantities in seq order, read in one pass (no numpy call
        # an item: a commit asks for ~40 items of a few rows each)
        by_item: dict[str, tuple[list[int], list[float]]] = {}
        keys = self.row_keys
        for r, x in zip(ordered.tolist(), self.row_qty.a[ordered].tolist()):
            group = by_item.get(keys[r][0])
            if group is None:
                group = by_item[keys[r][0]] = ([], [])
            group[0].append(r)
            group[1].append(0.0 if abs(x) <= EPS else round(x, 9))
        out = []
        index, value = self.plant.item_index, self.value
        for sku, (rows, qtys) in by_item.items():
            shares = allocate(int(value[index[sku]]), qtys)
            for r, q, v in zip(rows, qtys, shares):
                if q != 0.0 or v != 0:
                    out.append((keys[r], q, v))
        return out

    def _rows_by_item(self) -> dict[str, list[int]]:
        """item -> the ids of its stock rows, interned ones included: a cache of
        `row_keys` (which only grows), brought up to date here and never in a snapshot."""
        n, rows_of = self._item_rows
        keys = self.row_keys
        if n > len(keys):  # not the keys it was built from
            n, rows_of = 0, {}
        for r in range(n, len(keys)):
            rows_of.setdefault(keys[r][0], []).append(r)
        self._item_rows = (len(keys), rows_of)
        return rows_of

    def layers_of(self, i: int) -> list[tuple[float, int]]:
        """Non-empty FIFO layers of item i, oldest first (for views and tests)."""
        out = []
        h = int(self.head[i])
        while h != -1:
            if abs(self.layer_qty[h]) > EPS or self.layer_value[h] != 0:
                out.append((float(self.layer_qty[h]), int(self.layer_value[h])))
            h = int(self.layer_next[h])
        return out
