"""A small plant's database, written the way the journal writes it: real SQLite file,
the contract schema, WAL. Tests read the numbers below back off the pages."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from gateway import schema

PASSWORD = {"sam": "supervisor-pass-1", "vic": "viewer-pass-1", "carla": "controller-pass-1"}

EVENTS = [  # seq, id, type, source
    (1, "rcpt-1", "receipt", "scanner-dock"),
    (2, "rel-WO-1", "wo_release", "erp"),
    (3, "plc-assy-good-7", "completion", "plc-assy"),
]
JOURNAL = [  # entry, account, debit, credit, work_order, item
    (1, "1310", 1_250_000, 0, None, "RAW-STEEL"),
    (1, "2100", 0, 1_250_000, None, "RAW-STEEL"),
    (2, "1400", 345_678, 0, "WO-1", "RAW-STEEL"),
    (2, "1310", 0, 345_678, "WO-1", "RAW-STEEL"),
    (3, "1330", 300_000, 0, "WO-1", "FG-BRACKET"),
    (3, "1400", 0, 300_000, "WO-1", "FG-BRACKET"),
]
STOCK = [  # item, location, status, lot, qty, value
    ("RAW-STEEL", "RM", "available", "L1", 904.5, 904_322),
    ("RAW-STEEL", "RM", "quality", "L2", 12.0, 12_000),
    ("FG-BRACKET", "FG", "available", "", 120.0, 300_000),
    ("FG-BRACKET", "FG", "damaged", "", 3.0, 7_500),
]
WORK_ORDERS = [  # work_order, item, line, planned, status, good, scrap, wip, mu, mp, le, oe, rel
    ("WO-1", "FG-BRACKET", "WC-ASSY", 500, "open", 120, 4, 45_678, 0, 0, 0, 0, 2),
    ("WO-0", "FG-BRACKET", "WC-ASSY", 100, "closed", 100, 0, 0, 1_234, -567, 890, 0, 1),
]
EXCEPTIONS = [  # id, kind, source, event_id, field, reason, raw
    (1, "unassigned_count", "plc-assy", "plc-assy-good-9", "work_order",
     "count of 5 on WC-PACK with no active work order", '{"node": "ns=2;s=Pack.Good", "value": 5}'),
    (2, "no_po", "scanner-dock", None, "po", "no open PO for RAW-STEEL from this receipt",
     "]C1\x1d0109501101530003\x1d3103000125"),
    (3, "decode_error", "scale-mix", None, None, "bad Toledo checksum 0x41", "\x02ABC 000123000000\r\x41"),
]
BATCHES = [  # seq, state, debit, error
    (1, "acked", 1_250_000, None),
    (2, "quarantined", 345_678, "422 Unprocessable Entity: account 1400 is closed"),
    (3, "pending", 300_000, None),
]


def write(conn: sqlite3.Connection, sql: str, rows) -> None:
    conn.executemany(sql, rows)


def build(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    schema.create(conn)
    with conn:
        for seq, eid, typ, src in EVENTS:
            conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,NULL)",
                         (seq, eid, typ, "2026-11-22T03:00:00Z", src,
                          json.dumps({"id": eid, "type": typ}), f"2026-11-22T03:00:0{seq}Z"))
            conn.execute("INSERT INTO entries VALUES (?,?,?,?,?)",
                         (seq, seq, eid, "2026-11-22T03:00:00Z", "2026-11"))
        for entry, acct, dr, cr, wo, item in JOURNAL:
            conn.execute("""INSERT INTO journal_lines(entry, event_id, period, account, debit,
                            credit, work_order, item, batch_seq) VALUES (?,?,?,?,?,?,?,?,?)""",
                         (entry, EVENTS[entry - 1][1], "2026-11", acct,
                          dr, cr, wo, item, entry if entry < 3 else None))
        write(conn, "INSERT INTO stock VALUES (?,?,?,?,?,?)", STOCK)
        write(conn, "INSERT INTO item_costs VALUES (?,?,?,?,?)",
              [("RAW-STEEL", "standard", 916.5, 916_322, 10.0),
               ("FG-BRACKET", "standard", 123.0, 307_500, 25.0)])
        for wo in WORK_ORDERS:
            conn.execute("""INSERT INTO work_orders(work_order, item, line, planned, status, good,
                            scrap, wip, material_usage, material_price, labor_efficiency,
                            overhead_efficiency, released_seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""", wo)
        conn.execute("INSERT INTO active_orders VALUES ('WC-ASSY', 'WO-1', 2)")
        for x in EXCEPTIONS:
            conn.execute("""INSERT INTO exceptions(id, created_at, kind, source, event_id, field,
                            reason, raw) VALUES (?, '2026-11-22T03:10:00Z', ?,?,?,?,?,?)""", x)
        for seq, state, amount, err in BATCHES:
            conn.execute("""INSERT INTO batches(seq, batch_id, period, created_at, payload, debit,
                            credit, state, attempts, last_error, acked_at)
                            VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                         (seq, f"plant1-line1-{seq}", "2026-11", "2026-11-22T03:05:00Z", "{}",
                          amount, amount, state, 1 if state != "quarantined" else 6, err,
                          "2026-11-22T03:06:00Z" if state == "acked" else None))
    conn.close()
    return path


def add_events(path: Path, n: int, start: int = 100) -> None:
    """What the journal does while a page is open: commit more events."""
    conn = sqlite3.connect(path)
    with conn:
        for seq in range(start, start + n):
            conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,NULL)",
                         (seq, f"live-{seq}", "completion", "2026-11-22T03:30:00Z", "plc-assy",
                          "{}", "2026-11-22T03:30:00Z"))
        conn.execute("UPDATE work_orders SET good = good + ? WHERE work_order = 'WO-1'", (n,))
    conn.close()


def resolve_in_db(path: Path, exc_id: int, status: str, resolution: str, user: str) -> None:
    """What the gateway's act implementation does after journaling the action."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("""UPDATE exceptions SET status = ?, resolution = ?, resolved_by = ?,
                        resolved_at = '2026-11-22T03:20:00Z' WHERE id = ?""",
                     (status, resolution, user, exc_id))
    conn.close()


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
