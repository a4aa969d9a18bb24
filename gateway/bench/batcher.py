"""The upstream batcher alone: a journal of N unbatched lines, batched with the defaults.

`python -m gateway.bench.batcher [ENTRIES [ROUND_ENTRIES]]` writes ENTRIES completions of 6 lines each
(10,000 by default: 60,000 lines over 40 work centers, 300 orders and 200 items, one
period) into a fresh `synchronous = FULL` journal in the temp dir, then times
`Batcher.run_once(force=True)` until every line is in a batch (500 lines a batch,
summarized) and prints one JSON object: `lines_per_s` (wall), `cpu_us_per_line`, and
`read_us_per_line` (one round that reads every unbatched line and writes nothing).

`rounds_cpu_us_per_line` is the live path's shape: the same entries committed
ROUND_ENTRIES at a time (50 by default, a journal commit's worth; 1,000 is what 0.2 s
brings at 5,000 readings/s), each commit followed by one `run_once()` on a clock that
moves the forwarder's `poll_s` (0.2 s) a round, so a round sees the new lines and an open
batch; the CPU of the `run_once` calls alone, over every line.
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
POLL_S = 0.2                         # the forwarder's round interval under load


class _Journal:
    """A fresh journal that takes balanced entries of 6 lines each, unbatched."""

    def __init__(self, path: str, seed: int = 1):
        self.conn = connect(path, "FULL")
        schema.create(self.conn)
        self.rng = random.Random(seed)
        names = ["1400", *CREDITS, "", "completion", *(f"WO-{i}" for i in range(300)),
                 *(f"ITEM-{i}" for i in range(200)), *(f"WC-{i}" for i in range(40))]
        with transaction(self.conn):
            self.conn.executemany("INSERT INTO names(name) VALUES (?)", [(n,) for n in names])
        self.nid = dict(self.conn.execute("SELECT name, id FROM names"))
        self.entries = 0

    def write(self, count: int) -> int:
        """`count` more entries in one transaction; returns the lines written."""
        rng, nid, conn = self.rng, self.nid, self.conn
        rows = []
        with transaction(conn):
            for e in range(self.entries + 1, self.entries + count + 1):
                conn.execute("INSERT INTO events(seq, id, type, ts, source, payload, received_at)"
                             " VALUES (?, ?, 'completion', '2026-11-15T08:00:00Z', 'bench', '{}',"
                             " '2026-11-15T08:00:00Z')", (e, f"ev-{e}"))
                conn.execute("INSERT INTO entries(entry, event_seq, event_id, ts, period)"
                             " VALUES (?, ?, ?, '2026-11-15T08:00:00Z', '2026-11')",
                             (e, e, f"ev-{e}"))
                dims = (nid[f"WO-{rng.randrange(300)}"], nid[f"ITEM-{rng.randrange(200)}"],
                        nid[f"WC-{rng.randrange(40)}"])
                for credit in CREDITS:
                    amount = rng.randrange(1, 100_000)
                    rows.append((e, nid["1400"], amount, 0, *dims, nid["completion"]))
                    rows.append((e, nid[credit], 0, amount, *dims, nid[""]))
            conn.executemany("INSERT INTO journal_line_ids(entry, account, debit, credit,"
                             " work_order, item, work_center, memo)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.entries += count
        return len(rows)


def write_journal(path: str, entries: int, seed: int = 1) -> int:
    """`entries` balanced entries of 6 lines each, unbatched; returns the lines written."""
    journal = _Journal(path, seed)
    lines = journal.write(entries)
    journal.conn.close()
    return lines


def measure_rounds(path: str, entries: int, round_entries: int) -> float:
    """CPU µs a line of the `run_once` rounds of a journal written `round_entries` at a time."""
    journal = _Journal(path)
    clock = [0.0]
    batcher = Batcher(connect(path, "FULL"), "bench", "EUR", 2, clock=lambda: clock[0])
    lines = 0
    cpu = 0.0
    try:
        while journal.entries < entries:
            lines += journal.write(min(round_entries, entries - journal.entries))
            cpu0 = time.process_time()
            batcher.run_once()
            cpu += time.process_time() - cpu0
            clock[0] += POLL_S
        cpu0 = time.process_time()
        while batcher.run_once(force=True):
            pass
        cpu += time.process_time() - cpu0
    finally:
        batcher.conn.close()
        journal.conn.close()
    return cpu * 1e6 / lines


def measure(entries: int, round_entries: int = 50) -> dict:
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
        rounds = measure_rounds(os.path.join(tmp, "rounds.db"), entries, round_entries)
    return {"lines": lines, "batches": batches, "unbatched": left,
            "lines_per_s": round(lines / wall), "cpu_us_per_line": round(cpu * 1e6 / lines, 2),
            "read_us_per_line": round(read * 1e6 / lines, 2),
            "rounds_cpu_us_per_line": round(rounds, 2)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(json.dumps(measure(*[int(a) for a in argv[:2]] or [10_000])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
