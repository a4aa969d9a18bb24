"""Reading a journal back: every stored event, in seq order, through the engine.

Used by the journal's startup rebuild, `gateway replay` and the replay benchmark.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import msgspec
import numpy as np

from costing.engine import Engine
from costing.outcome import Outcome
from gateway import gc_policy
from gateway.events import Event, EventError, decode_event

stored_list = msgspec.json.Decoder(list[Event])  # a JSON array of stored payloads
_CHUNK_SQL = ("SELECT group_concat(seq), '[' || group_concat(payload, ',') || ']'"
              " FROM (SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?)")


def stored_chunks(conn: sqlite3.Connection, *, chunk: int = 10000, after: int = 0,
                  until: int | None = None, bad: Callable[[int, str, str], None] | None = None
                  ) -> Iterator[tuple[int, list[int], list[Event]]]:
    """The stored events past `after` (none past `until`), decoded a chunk at a time:
    (the chunk's last seq, the seqs and the events). Stored payloads are canonical JSON
    written by this module, so SQLite joins a chunk of them into one JSON array and
    msgspec decodes it in one call: no row tuple and no decoder call per event (this is
    most of what reading a journal back costs). A payload that does not decode raises
    naming its row, or, given `bad`, is told to it (seq, event id, why) and left out."""
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
        top = seqs[-1]
        with gc_policy.paused():
            try:
                events = stored_list.decode(array)
            except msgspec.ValidationError:
                events = _one_by_one(conn, last, chunk, seqs, bad)
        del array
        yield top, seqs, events
        last = top


def _one_by_one(conn, last: int, chunk: int, seqs: list[int], bad) -> list[Event]:
    """A chunk that does not decode as a whole, row by row; `seqs` left with the rows
    that do."""
    events: list[Event] = []
    seqs.clear()
    for seq, event_id, payload in conn.execute(
            "SELECT seq, id, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (last, chunk)).fetchall():
        if bad is None:
            events.append(decode_event(payload))  # raises naming the bad row
        else:
            try:
                events.append(decode_event(payload))
            except EventError as exc:
                bad(seq, event_id, str(exc))
                continue
        seqs.append(seq)
    return events


def replay_stored(conn: sqlite3.Connection, engine: Engine, *, chunk: int = 10000,
                  outcomes: bool = True, after: int = 0, until: int | None = None) -> Iterator[tuple[list[int], list[Outcome] | None]]:
    """Feed every stored event to `engine` in seq order; yield (seqs, outcomes) per chunk.

    A chunk (stored_chunks) is one run of the engine's batch kernel; 10,000 events cost
    no more time than 50,000 and hold a fifth of the memory (each chunk's text, structs
    and kernel buffers live at once: ~130 MB more peak RSS at 50,000 on the benchmark's
    journal). With `outcomes=False` the chunk goes through the engine's batch path
    (`Engine.apply_many`), which builds no per-event objects, and None is yielded: the
    state and the ledger are what `Engine.apply` would have left.
    `after`: only events past that seq (an engine restored from a snapshot of it);
    `until`: none past that seq.
    """
    for _, seqs, events in stored_chunks(conn, chunk=chunk, after=after, until=until):
        with gc_policy.paused():
            if outcomes:
                result = engine.apply(events)
            else:
                result = engine.apply_many(events, outcomes=False)
        del events
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
