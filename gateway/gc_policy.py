"""How the gateway's processes run Python's cyclic garbage collector.

The journal's work allocates a few dozen small containers per event (tuples of rows,
dicts of a batch, lists of lines) that die by reference counting; cycles are rare.
With CPython's default thresholds (a young collection every 700 allocations) the
collector still ran about 3,000 times over a 100,000-event `gateway ingest` and took
1.5 of its 8.5 CPU seconds, up to 90 ms at a time, and in `gateway run` at 5,000
readings/s its full collections stopped every thread for up to 150-200 ms, the
largest share of the commit latency's tail. So:

- every command collects the young generation every `YOUNG` allocations instead;
- a long-running process, once started, collects what start-up left and freezes the
  rest (master data, the rebuilt engine's indexes, modules): a full collection then
  walks only what the run itself keeps, not the whole start-up heap again;
- a replay turns the collector off while it decodes and applies a chunk (`paused`):
  its structs and what the engine builds from them form no cycles, and the collections
  their allocations trigger were ~4 % of a 1M-event replay.

Objects are still freed by reference counting as soon as they are unused; only cyclic
garbage waits longer (at most `YOUNG` allocations' worth).
"""

from __future__ import annotations

import contextlib
import gc

YOUNG = 50_000  # allocations between two young collections (CPython's default: 700)


def tune() -> None:
    """The collector's thresholds for any gateway process."""
    gc.set_threshold(YOUNG, 10, 10)


def settle() -> None:
    """After start-up: collect once, then keep what is left out of later collections."""
    tune()
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def paused():
    """The collector off for the block (a replay's chunk); on again as it leaves, if it
    was on before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
