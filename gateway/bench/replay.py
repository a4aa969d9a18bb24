"""Replay stage: N generated events stored in an SQLite journal, valued and posted again.

`stored_journal(n, items, depth)` writes a journal of `n` events over a synthetic plant
with the entries and lines they post, as the gateway stores them (cached under the temp
dir, keyed by size, so repeated runs reuse it).
`main()` — run as `python -m gateway.bench.replay DB ITEMS DEPTH` so its peak RSS is its
own — reads every payload back from the `events` table, decodes, costs and posts them
through the journal's bulk replay path, checks that nothing was rejected and that the
ledger balances, and prints one JSON object.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import sys
import tempfile
import time

from gateway import schema
from gateway.bench.synth import EventStream, make_master
from gateway.events import encode_event

VERSION = 5  # bump when the generator changes: cached journals are keyed by it
CHUNK = 50_000


def cache_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), "gateway-bench")
    os.makedirs(path, exist_ok=True)
    return path


def stored_journal(n: int, items: int, depth: int, folder: str | None = None) -> str:
    """Path of an SQLite journal holding `n` generated events and the lines they post
    (built once, then reused): a journal the gateway starts on as it would on its own."""
    from costing.engine import Engine
    path = os.path.join(folder or cache_dir(), f"journal-v{VERSION}-{n}-{items}-{depth}.db")
    if os.path.exists(path):
        return path
    partial = f"{path}.{os.getpid()}.part"  # two runs building it at once do not collide
    if os.path.exists(partial):
        os.remove(partial)
    conn = sqlite3.connect(partial, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # a scratch file: renamed only when complete
    conn.execute("PRAGMA synchronous=OFF")
    schema.create(conn)
    master = make_master(items, depth)
    stream, engine = EventStream(master), Engine(master)
    seq = entry = 0
    while seq < n:
        rows, at = [], {}
        events = stream.take(min(CHUNK, n - seq))
        for ev in events:
            seq += 1
            rows.append((seq, ev.id, ev.type, ev.ts, ev.source, encode_event(ev).decode(),
                         ev.ts, None))
            at[ev.id] = (seq, ev.ts)
        mark = engine.mark()
        engine.apply_many(events, outcomes=False)
        entries, lines = [], []
        for event_id, posted in engine.entries_since(mark):
            if posted:
                entry += 1
                s, ts = at[event_id]
                entries.append((entry, s, event_id, ts, ts[:7]))
                lines += [(entry, event_id, ts[:7], *line) for line in posted]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events(seq, id, type, ts, source, payload, received_at,"
                         " reading) VALUES (?,?,?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO entries(entry, event_seq, event_id, ts, period)"
                         " VALUES (?,?,?,?,?)", entries)
        conn.executemany("INSERT INTO journal_lines(entry, event_id, period, account, debit,"
                         " credit, item, work_order, work_center, memo)"
                         " VALUES (?,?,?,?,?,?,?,?,?,?)", lines)
        conn.execute("COMMIT")
    conn.close()
    os.replace(partial, path)
    return path


def replay(db: str, items: int, depth: int) -> dict:
    """Cost and post every stored event once; events/s over the whole pass."""
    from costing.engine import Engine
    from gateway.journal import connect
    from gateway.replay import replay_stored
    from gateway.spill import spill_files

    master = make_master(items, depth)
    # built (and numba loaded) before the clock starts; old rows spill beside the journal
    # file, as the gateway's own rebuild does
    engine = Engine(master, blocks=spill_files(os.path.dirname(os.path.abspath(db))))
    conn = connect(db, readonly=True)
    warm_up(master)
    n = 0
    t0 = time.perf_counter()
    # outcomes=False and the default chunk: the journal's rebuild path, the engine's
    # batch path (no per-event objects); whether every event applied is checked after
    # the clock stopped.
    for seqs, _ in replay_stored(conn, engine, outcomes=False):
        n += len(seqs)
    seconds = time.perf_counter() - t0
    applied = 0
    stored = conn.execute("SELECT id FROM events ORDER BY seq")
    while rows := stored.fetchmany(10000):  # as the journal's rebuild checks them
        applied += sum(engine.records.contains_many([eid for (eid,) in rows]))
    conn.close()
    return {"events": n, "seconds": round(seconds, 3),
            "events_per_s": round(n / seconds, 1) if seconds else 0.0,
            "journal_lines": len(engine.ledger.cols[0]),  # the ledger's posted lines
            "rejected": n - applied,
            "ledger_imbalance": int(engine.ledger.balance.sum()),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def warm_up(master) -> None:
    """Load every batch-path kernel from the numba cache on a throwaway engine (compiling
    and caching it first if the cache is cold), so the timed pass measures replay, not
    loading machine code."""
    from costing.engine import Engine

    Engine(master).apply_many(EventStream(master, seed=5).take(300), outcomes=False)


def peak_rss_mb() -> float:
    """This process's high-water resident set, in MB.

    VmHWM of /proc/self/status: the high-water mark of this program's own memory.
    Not `ru_maxrss`: Linux carries the parent's high-water mark into a child across
    fork and exec, so a replay started by a bench process that had just held the
    kernels' inputs (~900 MB) reported that figure, not its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    db, items, depth = (argv or sys.argv[1:])[:3]
    print(json.dumps(replay(db, int(items), int(depth))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
