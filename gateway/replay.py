"""Reading a journal back: every stored event, in seq order, through the engine.

Used by the journal's startup rebuild, `gateway replay` and the replay benchmark.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator

import msgspec
import numpy as np

from costing.engine import Engine
from costing.outcome import Outcome
from gateway.events import Event, decode_event

stored_list = msgspec.json.Decoder(list[Event])  # a JSON array of stored payloads
_CHUNK_SQL = ("SELECT group_concat(seq), '[' || group_concat(payload, ',') || ']'"
              " FROM (SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?)")


def replay_stored(conn: sqlite3.Connection, engine: Engine, *, chunk: int = 10000,
                  outcomes: bool = True, after: int = 0, until: int | None = None) -> Iterator[tuple[list[int], list[Outcome] | None]]:
    """Feed every stored event to `engine` in seq order; yield (seqs, outcomes) per chunk.

    Stored payloads are canonical JSON written by this module, so SQLite joins a chunk
    of them into one JSON array and msgspec decodes it in one call: no row tuple and no
    decoder call per event (this is most of what reading a journal back costs).
    A chunk is one run of the engine's batch kernel; 10,000 events cost no more time
    than 50,000 and hold a fifth of the memory (each chunk's text, structs and kernel
    buffers live at once: ~130 MB more peak RSS at 50,000 on the benchmark's journal).
    With `outcomes=False` the chunk goes through the engine's batch path
    (`Engine.apply_many`), which builds no per-event objects, and None is yielded: the
    state and the ledger are what `Engine.apply` would have left.
    `after`: only events past that seq (an engine restored from a snapshot of it);
    `until`: none past that seq.
    """
    last = after
    while True:
        if until is not None:
            chunk = min(chunk, until - last)
            if chunk <= 0:
                return
        seq_text, array = conn.execute(_CHUNK_SQL, (last, chunk)).fetchone()
        if seq_text is None:
            return
        seq_arr = np.fromstring(seq_text, np.int64, sep=",")  # one C parse, no int()s
        seqs = seq_arr.tolist()
        if len(seqs) != seq_text.count(",") + 1 or (np.diff(seq_arr) <= 0).any():
            # group_concat's order is the subquery's in practice, not by contract:
            # should it ever differ, read the same rows one by one, in order.
            rows = conn.execute("SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq"
                                " LIMIT ?", (last, chunk)).fetchall()
            seqs = [r[0] for r in rows]
            array = "[" + ",".join([r[1] for r in rows]) + "]"
        # the cyclic GC is off while a chunk is decoded and applied: its structs and
        # what the engine builds from them form no cycles, and the collections their
        # allocations would trigger (each scanning the young objects, now and then all
        # of them) were ~4 % of a 1M-event replay; on again before control leaves here
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            try:
                events = stored_list.decode(array)
            except msgspec.ValidationError:
                rows = conn.execute("SELECT payload FROM events WHERE seq > ? ORDER BY seq"
                                    " LIMIT ?", (last, chunk)).fetchall()
                events = [decode_event(r[0]) for r in rows]  # raises naming the bad row
            last = seqs[-1]
            if outcomes:
                result = engine.apply(events)
            else:
                result = engine.apply_many(events, outcomes=False)
        finally:
            if was_enabled:
                gc.enable()
        del events, array
        yield seqs, result


def replay_versions(conn: sqlite3.Connection, engine: Engine, masters, *, after: int = 0,
                    until: int | None = None, chunk: int = 10000) -> tuple[Engine, int]:
    """Every stored event past `after` through `engine` (its batch path), each against
    the version of the master data in force when it was committed: the engine switches
    master data (costing.remaster) where a version starts. Returns the engine, over the
    last version (`until`: none past that seq, the engine over the version of the last
    one read), and the number of events read. `masters`: a
    gateway.master_versions.Masters of the journal (no versions: `engine`'s master
    data values every event)."""
    from gateway.master_versions import segments

    replayed = 0
    for version, last in segments(masters.versions, after):
        if until is not None:
            if version.from_seq > until:
                break
            last = until if last is None else min(last, until)
        engine = masters.switch(engine, version)
        for seqs, _ in replay_stored(conn, engine, outcomes=False, chunk=chunk,
                                     after=max(after, version.from_seq - 1), until=last):
            replayed += len(seqs)
    if not masters.versions:
        for seqs, _ in replay_stored(conn, engine, outcomes=False, chunk=chunk, after=after,
                                     until=until):
            replayed += len(seqs)
    elif until is None:
        engine = masters.switch(engine, masters.versions[-1])
    return engine, replayed
