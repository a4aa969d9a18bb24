"""The cost engine: values events in order and returns balanced journal entries.

`Engine(master).apply(events)` takes events in gateway order (duck-typed: `.type`,
`.id` and the canonical event fields) and returns one `Outcome` per event. A rejected event
changes no state. Every accepted event's state changes are kept as effect records, so
a `reversal` is the exact negation of lines, stock moves, item values, FIFO layers and
work-order actuals. The same master and the same events give identical outcomes.
Every posting rule is written once, columnar: events are encoded and checked by
costing.batch and valued and posted by costing.batch_kernel, a live event as a run of
one (`apply_one`). tests/costing/reference_engine.py writes the rules out per event in
plain Python; property tests hold the two equal.
What is kept per event (journal lines, effects, the record of its ranges) is live only
for the newest rows (costing.arrays.SpillColumn); older rows go as compact blocks to the
store `Engine(blocks=...)` makes — a spill file beside the journal in the gateway — with a
compact id index (costing.effects.IdIndex), so memory does not grow with events kept.
"""

from __future__ import annotations

from typing import Any, Callable

from costing.arrays import MemoryBlocks
from costing.batch import BatchPath
from costing.effects import EVENT_TYPES, KIND_NAMES, ROW, EffectLog, Records
from costing.inventory import Inventory
from costing.ledger import Ledger
from costing.master import MasterData
from costing.outcome import Line, Outcome, Reject, StockMove
from costing.posted import Posted
from costing.rollup import roll_up
from costing.settlement import EFFECT_NAMES as MONEY_EFFECTS
from costing.settlement import Settlement
from costing.views import EngineViews, ItemCost, StockRow, WorkOrderState
from costing.workorders import CLOSED, WorkOrders

__all__ = ["Engine", "ItemCost", "Reject", "StockRow", "WorkOrderState"]


class Engine(EngineViews):
    """Values a stream of events; state is arrays (items, layers, work orders)."""

    def __init__(self, master: MasterData, spill_block: int = 1 << 16,
                 blocks: Callable[[], Any] = MemoryBlocks):
        """`spill_block`: rows of journal lines, effects and records kept live per column
        (2x this at most); older ones are moved, as compact blocks, to a store made by
        `blocks()` (costing.arrays.MemoryBlocks: in memory; the gateway passes a spill
        file beside its journal) until a reversal reads them."""
        self.master = master
        self.rollup = roll_up(master)
        self.plant = plant = self.rollup.plant
        self.std = self.rollup.std_array
        self.acc = master.accounts
        self.ledger = Ledger(master.accounts, plant.inv_account, spill_block, blocks)
        self.inv = Inventory(plant, self.std)
        self.wos = WorkOrders(plant)
        self.money = Settlement(plant)  # what is owed: GRNI by receipt, AP, AR by order
        self.effects = EffectLog(spill_block, blocks)  # what each event changed, for reversal
        self.records = Records(spill_block, blocks)
        self._batch = BatchPath(self)

    # -- driver -----------------------------------------------------------------
    def apply(self, events) -> list[Outcome]:
        """One outcome per event, in order (`apply_many` with outcomes)."""
        return self._batch.apply(events, True)

    def apply_one(self, event) -> Outcome:
        """One event, as a run of one."""
        (out,) = self._batch.apply([event], True)
        return out

    def apply_many(self, events, outcomes: bool = True) -> list[Outcome] | None:
        """Runs of events valued and posted by one numba kernel call each.

        With `outcomes=False` (replay, rebuild) no per-event objects are built and None
        is returned; `mark()` before and `entries_since(mark)` after give the lines posted.
        """
        return self._batch.apply(events, outcomes)

    def post_many(self, events) -> Posted:
        """`apply_many` that returns what was posted as ranges over the engine's columns
        (costing.posted): objects only for rejected events, reversals and alerts."""
        posted = Posted(self)
        self._batch.apply(events, posted)
        return posted

    def mark(self) -> int:
        """A position in the sequence of accepted events, for `entries_since`."""
        return self.records.n

    def entries_since(self, mark: int):
        """(event id, its journal lines) of every event accepted after `mark`, in order."""
        recs = self.records
        for k, event_id in enumerate(recs.ids_between(mark, recs.n), mark):
            _, _, l0, l1 = recs.ranges(k)
            yield event_id, self.ledger.lines(l0, l1)

    def lines_of(self, event_id: str) -> tuple[Line, ...]:
        """The journal lines an accepted event posted (() if it was never accepted)."""
        k = self.records.get(event_id)
        if k is None:
            return ()
        _, _, l0, l1 = self.records.ranges(k)
        return self.ledger.lines(l0, l1)

    # -- reversal ---------------------------------------------------------------
    def _undo(self, effect: tuple) -> None:
        if effect[0] in ("row", "item", "take", "layer"):
            self.inv.undo(effect)
        elif effect[0] in MONEY_EFFECTS:
            self.money.undo(effect)
        else:
            self.wos.undo(effect)

    def reverse(self, ev) -> Outcome:
        """A reversal the batch kernel does not do (of a release, a close, an issue that
        made a material row, or one refused): its target's effects undone newest first,
        its lines negated. Raises Reject before any state moved."""
        target = str(ev.reverses)
        recs = self.records
        k = recs.get(target)
        if k is None:
            raise Reject("reverses", f"unknown event {target!r}")
        type_ = EVENT_TYPES[int(recs.type[k])]
        if type_ == "reversal":
            raise Reject("reverses", f"event {target} is a reversal and cannot be reversed")
        if k in recs.reversed:
            raise Reject("reverses", f"event {target} is already reversed")
        w = int(recs.wo[k])
        if w != -1:
            wo_id = self.wos.ids[w]
            if self.wos.status[w] == CLOSED and type_ != "wo_close":
                raise Reject("work_order", f"work order {wo_id} is closed")
            if type_ == "wo_release" and self.wos.live_count[w] > 1:
                raise Reject("reverses", f"work order {wo_id} has events; reverse them first")
        e0, e1, l0, l1 = recs.ranges(k)
        log, keys = self.effects, self.inv.row_keys
        done = log.range(e0, e1)
        why = self.money.refusal(log.get(row[0], self.wos, row) for row in done
                                 if KIND_NAMES[row[1]] in MONEY_EFFECTS)
        if why is not None:
            raise Reject("reverses", f"event {target}: {why}")
        for row in reversed(done):
            self._undo(log.get(row[0], self.wos, row))
        lines, _, end = self.ledger.post_reversal(l0, l1, f"reversal of {target}: ")
        # a stock move is exactly a row effect: negate them in their original order
        moves = tuple(StockMove(*keys[a], -x) for _, kind, a, x, _, _ in done if kind == ROW)
        recs.reversed.add(k)
        if w != -1:
            self.wos.live_count[w] -= 1
        recs.add(str(ev.id), "reversal", log.n, end, None)
        return Outcome(str(ev.id), True, lines, moves)


