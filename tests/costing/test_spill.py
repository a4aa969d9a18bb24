"""Journal lines and effects spilled out of the live columns read back exactly.

The engine keeps every accepted event's lines and effects (a reversal may name any past
event) in `SpillColumn`s: the newest rows live, the rest as blocks in a store — compact
bytes in memory by default (costing.arrays.MemoryBlocks), an unlinked file beside the
journal in the gateway (gateway.spill.SpillFile). Whatever the block size and store,
reading a range gives the rows appended, and an engine whose blocks are a few rows
reverses, replays and reports exactly like one whose data never left its columns.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costing.arrays import MemoryBlocks, SpillColumn
from costing.engine import Engine
from gateway.events import Reversal
from gateway.spill import SpillFile, spill_files
from tests.costing.strategies import event_streams, masters


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9),
       st.lists(st.lists(st.integers(-2**40, 2**40), max_size=30), max_size=20),
       st.booleans(), st.data())
def test_a_spill_column_reads_back_what_was_appended(block, batches, on_disk, data):
    store = spill_files()() if on_disk else MemoryBlocks()
    col, other = SpillColumn(np.int64, store, block), SpillColumn(np.int8, store, block)
    if isinstance(store, SpillFile):
        assert store.fd == -1  # no file until a row has to move to disk
    kept: list[int] = []
    for values in batches:  # two columns share the file: offsets must not mix
        if len(values) == 1:
            assert col.append(values[0]) == len(kept)
        else:
            col.extend(values)
        other.extend([v % 100 for v in values])
        kept.extend(values)
        assert col.n == len(col) == len(kept)
        assert col.hot.n < 2 * block  # the rest went to the store
    assert col.a.tolist() == kept
    assert other.a.tolist() == [v % 100 for v in kept]
    if kept:
        start = data.draw(st.integers(0, len(kept)))
        end = data.draw(st.integers(start, len(kept) + 3))
        assert col.read(start, end).tolist() == kept[start:end]
        k = data.draw(st.integers(0, len(kept) - 1))
        assert col[k] == kept[k] and col[k - len(kept)] == kept[k]
    store.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_an_engine_whose_lines_and_effects_spill_behaves_like_one_that_keeps_them(data):
    master = data.draw(masters())
    events = data.draw(event_streams(master, max_size=60))
    block = data.draw(st.integers(1, 8))
    small, big = Engine(master, spill_block=block, blocks=spill_files()), Engine(master)
    assert small.apply_many(events) == big.apply_many(events)
    # then reverse every accepted event, newest first: each reads spilled rows back
    undo = [Reversal(id=f"undo-{k}", ts="t", reverses=eid)
            for k, eid in enumerate(reversed(big.records.ids_between(0, big.records.n)))]
    assert small.apply(undo) == big.apply(undo)
    assert small.snapshot() == big.snapshot()
    assert small.effects.kind.cold_n > 0 or small.effects.n < 2 * block
    for a, b in zip(small.effects.columns(), big.effects.columns()):
        assert a.a.tobytes() == b.a.tobytes()
    assert list(small.entries_since(0)) == list(big.entries_since(0))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.lists(st.lists(st.text(min_size=1, max_size=12), max_size=12),
                                   max_size=12), st.lists(st.text(max_size=12), max_size=20))
def test_the_id_index_finds_every_id_added_and_nothing_else(block, batches, probes):
    from costing.effects import IdIndex

    index, added = IdIndex(MemoryBlocks(), block), {}
    for ids in batches:
        ids = [s for s in dict.fromkeys(ids) if s not in added]
        index.add_many(ids, len(added))
        added.update(zip(ids, range(len(added), len(added) + len(ids))))
    assert len(index) == len(added)
    assert index.ids_between(0, len(added)) == list(added)
    for s in list(added) + probes:
        assert index.get(s) == added.get(s)
        assert (s in index) == (s in added)
    sorted_part = index.known_many(list(added) + probes)
    assert sorted_part == [s in added and s not in index.recent for s in list(added) + probes]
    assert index.contains_many(probes + list(added)) == [s in added for s in probes + list(added)]
    if len(added) > 2 * block:
        assert len(index.keys) > 0  # the dict moved into the sorted arrays at least once
