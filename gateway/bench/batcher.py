"""The upstream batcher alone: a journal of N unbatched lines, batched with the defaults.

`python -m gateway.bench.batcher [ENTRIES]` writes ENTRIES completions of 6 lines each
(10,000 by default: 60,000 lines over 40 work centers, 300 orders and 200 items, one
period) into a fresh `synchronous = FULL` journal in the temp dir, then times
`Batcher.run_once(force=True)` until every line is in a batch (500 lines a batch,
summarized) and prints one JSON object: `lines_per_s` (wall), `cpu_us_per_line`, and
`read_us_per_line` (one round that reads every unbatched line and writes nothing).
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time

from gateway import schema
from gateway.upstream.batcher import Batcher, transaction
from gateway.upstream.forwarder import connect

CREDITS = ("1310", "5310", "5320")   # each debit to WIP is offset by one of these


def write_journal(path: str, entries: int, seed: int = 1) -> int:
    """`entries` balanced entries of 6 lines each, unbatched; returns the lines written."""
    conn = connect(path, "FULL")
    schema.create(conn)
    rng = random.Random(seed)
    names = ["1400", *CREDITS, "", "completion", *(f"WO-{i}" for i in range(300)),
             *(f"ITEM-{i}" for i in range(200)), *(f"WC-{i}" for i in range(40))]
    with transaction(conn):
        conn.executemany("INSERT INTO names(name) VALUES (?)", [(n,) for n in names])
    nid = dict(conn.execute("SELECT name, id FROM names"))
    rows = []
    with transaction(conn):
        for e in range(1, entries + 1):
            conn.execute("INSERT INTO events(seq, id, type, ts, source, payload, received_at)"
                         " VALUES (?, ?, 'completion', '2026-11-15T08:00:00Z', 'bench', '{}',"
                         " '2026-11-15T08:00:00Z')", (e, f"ev-{e}"))
            conn.execute("INSERT INTO entries(entry, event_seq, event_id, ts, period)"
                         " VALUES (?, ?, ?, '2026-11-15T08:00:00Z', '2026-11')", (e, e, f"ev-{e}"))
            dims = (nid[f"WO-{rng.randrange(300)}"], nid[f"ITEM-{rng.randrange(200)}"],
                    nid[f"WC-{rng.randrange(40)}"])
            for credit in CREDITS:
                amount = rng.randrange(1, 100_000)
                rows.append((e, f"ev-{e}", "2026-11", nid["1400"], amount, 0, *dims,
                             nid["completion"]))
                rows.append((e, f"ev-{e}", "2026-11", nid[credit], 0, amount, *dims, nid[""]))
        conn.executemany("INSERT INTO journal_line_ids(entry, event_id, period, account, debit,"
                         " credit, work_order, item, work_center, memo)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()
    return len(rows)


def measure(entries: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "journal.db")
        lines = write_journal(path, entries)
        conn = connect(path, "FULL")
        try:
            # One round over every line with nothing due: what a read costs.
            idle = Batcher(conn, "bench", "EUR", 2, max_lines=10**9, max_seconds=1e9,
                           clock=lambda: 0.0)
            cpu0 = time.process_time()
            assert idle.run_once() == []
            read = time.process_time() - cpu0
            batcher = Batcher(conn, "bench", "EUR", 2)
            wall0, cpu0 = time.perf_counter(), time.process_time()
            batches = 0
            while written := batcher.run_once(force=True):
                batches += len(written)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            left = conn.execute(
                "SELECT count(*) FROM journal_line_ids WHERE batch_seq IS NULL").fetchone()[0]
        finally:
            conn.close()
    return {"lines": lines, "batches": batches, "unbatched": left,
            "lines_per_s": round(lines / wall), "cpu_us_per_line": round(cpu * 1e6 / lines, 2),
            "read_us_per_line": round(read * 1e6 / lines, 2)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(json.dumps(measure(int(argv[0]) if argv else 10_000)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
