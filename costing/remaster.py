"""Switching the engine to other master data between two events, keeping its state.

`switch_master(engine, master)` returns an engine over `master` holding `engine`'s
state (the old engine is not to be used after). What is kept and what is new:

- every piece of state (stock, item quantities and book values, FIFO layers, work
  orders and their material and step rows, GL balances and lines, receipts, invoices,
  records of events) moves over unchanged: existing stock keeps its book value;
- what is derived from master data (standards, BOM and routing tables, PO prices,
  account codes) comes from `master`; so do the encoders' caches of those (the
  standard cost through an operation, a BOM's first rows, backflush blocks), started
  again when BOMs, routings, work centers or standards changed;
- items, work centers, PO lines and account codes may be added, never removed or
  reordered: state is indexed by their position. The caller (the gateway) keeps the
  previous positions when it builds the new master data; anything else raises
  `MasterSwitchError` naming what moved, before any state did.

No I/O here (the gateway reads the versions of master data from its journal).
"""

from __future__ import annotations

import numpy as np

from costing.arrays import Column, MemoryBlocks, SpillColumn
from costing.batch import BatchPath
from costing.engine import Engine
from costing.master import MasterData
from costing.snapshot import _leaves, _put_plain

# state paths whose value comes from the master data, not from the events
_FROM_MASTER = frozenset({
    "money.line_index", "money.line_key", "money.line_price", "money.tolerance_pct",
    "money.decimals", "ledger.codes", "ledger.index", "ledger.rounding",
    # the encoders' views of the plant and of the PO lines
    "batch._item_index", "batch._skus", "batch._po_lines", "batch._locations",
    "batch._statuses"})
# the encoders' caches of BOM, routing and standards: started again when those changed
_CACHES = frozenset({"batch._std_through", "batch._bom_first", "batch._bf_block"})


class MasterSwitchError(ValueError):
    """The new master data cannot carry the engine's state; the message says why."""


def _prefix(what: str, old, new) -> None:
    for k, key in enumerate(old):
        if k >= len(new) or new[k] != key:
            now = "is gone" if key not in new else f"moved to position {list(new).index(key)}"
            raise MasterSwitchError(f"{what} {key!r} (position {k}) {now} in the new master"
                                    f" data; {what}s may be added, not removed or reordered")


def check_switch(engine: Engine, master: MasterData) -> Engine:
    """A fresh engine over `master`, or MasterSwitchError if `engine`'s state cannot
    move to it."""
    fresh = Engine(master, 1, MemoryBlocks)
    old, new = engine.plant, fresh.plant
    if new.decimals != old.decimals:
        raise MasterSwitchError(f"currency_decimals: {old.decimals} in force, {new.decimals}"
                                " in the new master data; amounts cannot change scale")
    _prefix("item", old.skus, new.skus)
    _prefix("work center", old.wc_ids, new.wc_ids)
    _prefix("PO line", engine.money.line_key, fresh.money.line_key)
    _prefix("account", engine.ledger.codes, fresh.ledger.codes)
    if fresh.ledger.rounding != engine.ledger.rounding:
        raise MasterSwitchError("accounts.rounding: the rounding account changed")
    for i, sku in enumerate(old.skus):
        a, b = old.inv_account[i], new.inv_account[i]
        if a != b and (engine.inv.value[i] != 0 or abs(engine.inv.qty[i]) > 1e-9):
            raise MasterSwitchError(
                f"item {sku!r}: inventory account {a} in force, {b} in the new master data,"
                f" and it holds stock ({engine.inv.qty[i]:g} at {int(engine.inv.value[i])}"
                " minor units): its value would stay on the old account")
    return fresh


def _move(path: str, owner, key, value, old_value) -> None:
    if isinstance(value, np.ndarray):
        if value.shape[:1] > old_value.shape[:1]:  # more items, PO lines or accounts
            value[:len(old_value)] = old_value     # the new ones keep their initial state
        else:
            setattr(owner, key, old_value)
    elif isinstance(value, SpillColumn):
        for slot in SpillColumn.__slots__:
            setattr(value, slot, getattr(old_value, slot))
    elif isinstance(value, Column):
        value.buf, value.n = old_value.buf, old_value.n
    else:
        _put_plain(owner, key, value, old_value)


def switch_master(engine: Engine, master: MasterData) -> Engine:
    """`engine`'s state over `master` (see the module's docstring); `engine` is spent."""
    if engine._batch.ints:
        raise RuntimeError("master data switched in the middle of a run")
    new = check_switch(engine, master)
    old = engine.master
    same_tables = (old.boms == master.boms and old.routings == master.routings
                   and old.work_centers == master.work_centers
                   and np.array_equal(engine.std, new.std, equal_nan=True))
    skip = _FROM_MASTER if same_tables else _FROM_MASTER | _CACHES
    before = {path: value for path, _, _, value in _leaves(engine)}
    for path, owner, key, value in _leaves(new):
        if not path.startswith("batch.") and path not in _FROM_MASTER:
            _move(path, owner, key, value, before[path])
    # the batch path's tables intern names in the ledger: built again over the moved one
    new._batch = BatchPath(new)
    for path, owner, key, value in _leaves(new):
        if path.startswith("batch.") and path not in skip:
            _move(path, owner, key, value, before[path])
    return new
