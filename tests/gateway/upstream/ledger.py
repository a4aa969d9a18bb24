"""Test ledger: a real SQLite journal written the way gateway/journal.py writes it, and the
one end check every upstream fault test makes."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

from gateway import schema
from gateway.upstream.forwarder import connect

_ids = itertools.count(1)


def open_db(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    conn = connect(str(path), synchronous)
    schema.create(conn)
    return conn


def post(conn: sqlite3.Connection, lines: list[tuple], period: str = "2026-11",
         event_id: str | None = None) -> int:
    """Write one event + entry + its journal lines in one transaction; return the entry.

    lines: (account, debit, credit) or (account, debit, credit, work_center[, work_order, item, memo]).
    """
    event_id = event_id or f"ev-{next(_ids)}"
    ts = f"{period}-15T08:00:00Z"
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute(
        "INSERT INTO events(id, type, ts, source, payload, received_at) VALUES (?, 'labor', ?, 'test', ?, ?)",
        (event_id, ts, json.dumps({"id": event_id}), ts))
    entry = conn.execute("INSERT INTO entries(event_seq, event_id, ts, period) VALUES (?, ?, ?, ?)",
                         (cur.lastrowid, event_id, ts, period)).lastrowid
    for line in lines:
        account, debit, credit, *dims = line
        wc, wo, item, memo = (list(dims) + [None, None, None, ""])[:4]
        conn.execute(
            "INSERT INTO journal_lines(entry, event_id, period, account, debit, credit, "
            "work_order, item, work_center, memo) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (entry, event_id, period, account, debit, credit, wo, item, wc, memo or ""))
    conn.execute("COMMIT")
    return entry


def labor(conn: sqlite3.Connection, cents: int, wc: str = "WC-ASSY", period: str = "2026-11") -> int:
    """A typical two-line entry: Dr wip, Cr applied_labor."""
    return post(conn, [("1400", cents, 0, wc), ("5100", 0, cents, wc)], period)


def journal_totals(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    return {a: (d, c) for a, d, c in conn.execute(
        "SELECT account, SUM(debit), SUM(credit) FROM journal_lines GROUP BY account")}


def assert_delivered(conn: sqlite3.Connection, erp, decimals: int = 2) -> None:
    """The end check of every fault test: upstream applied exactly the journal, once."""
    assert conn.execute("SELECT COUNT(*) FROM journal_lines WHERE batch_seq IS NULL").fetchone()[0] == 0
    batches = conn.execute("SELECT seq, batch_id, state, debit, credit, payload FROM batches ORDER BY seq").fetchall()
    assert [b[0] for b in batches] == list(range(1, len(batches) + 1)), "seq not contiguous"
    for seq, batch_id, state, debit, credit, payload in batches:
        body = json.loads(payload)
        assert state == "acked", (batch_id, state)
        assert debit == credit and body["totals"]["debit"] == body["totals"]["credit"], batch_id
        assert body["batch_id"] == batch_id and body["seq"] == seq
    assert sorted(erp.applied) == sorted(b[1] for b in batches), "not each batch applied exactly once"
    assert len(set(erp.applied)) == len(erp.applied)
    assert erp.totals_minor(decimals) == journal_totals(conn)
