"""The audit trail of the books: from a GL line, an event or an upstream batch back to
the event that caused it and, when a device sent it, the raw reading.

`find(conn, key)` takes whatever a person has at hand (a journal line number, an event
id or seq, a batch id) and returns the chain as plain data; the CLI (`gateway trace`)
and the dashboard's event page both show it. Read-only, money in minor units.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

__all__ = ["TraceNotFound", "find", "event_chain", "line_chain", "batch_chain", "KINDS"]

KINDS = ("line", "event", "batch")


class TraceNotFound(LookupError):
    """Nothing in the journal answers to the key; the message says what was tried."""


def _rows(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur]


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # kept verbatim: a frame that was never JSON


_LINES = """SELECT l.line, l.entry, e.event_id, e.ts, e.period, l.account, l.debit, l.credit,
                   l.work_order, l.item, l.work_center, l.memo, l.batch_seq, b.batch_id
            FROM journal_lines l JOIN entries e ON e.entry = l.entry
            LEFT JOIN batches b ON b.seq = l.batch_seq"""


def event_chain(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    """The event at `seq`: canonical payload, who/when/source, the reading that caused it,
    its entry's lines, the batches that carried them and the exceptions that name it."""
    found = _rows(conn, "SELECT * FROM events WHERE seq = ?", (seq,))
    if not found:
        raise TraceNotFound(f"event seq {seq}: no such event in the journal")
    ev = found[0]
    payload = _json(ev["payload"])
    lines = _rows(conn, _LINES + " WHERE e.event_seq = ? ORDER BY l.line", (seq,))
    return {
        "event": {"seq": ev["seq"], "id": ev["id"], "type": ev["type"], "ts": ev["ts"],
                  "source": ev["source"], "received_at": ev["received_at"],
                  "claimed_source": payload.get("claimed_source")
                  if isinstance(payload, dict) else None},
        "payload": payload,
        "reading": _json(ev["reading"]),
        "lines": lines,
        "batches": sorted({ln["batch_id"] for ln in lines if ln["batch_id"]}),
        "exceptions": _rows(conn, """SELECT id, kind, status, reason, created_at FROM exceptions
                                     WHERE event_id = ? ORDER BY id""", (ev["id"],)),
    }


def line_chain(conn: sqlite3.Connection, line: int) -> dict[str, Any]:
    """A GL line, then the chain of the event its entry was posted for."""
    found = _rows(conn, _LINES + " WHERE l.line = ?", (line,))
    if not found:
        raise TraceNotFound(f"journal line {line}: no such line")
    (seq,) = conn.execute("SELECT event_seq FROM entries WHERE entry = ?",
                          (found[0]["entry"],)).fetchone()
    return {"line": found[0]} | event_chain(conn, seq)


def batch_chain(conn: sqlite3.Connection, batch_id: str) -> dict[str, Any]:
    """An upstream batch, its lines, and per event in it: type, source and reading."""
    found = _rows(conn, """SELECT seq, batch_id, period, created_at, debit, credit, state,
                                  attempts, acked_at FROM batches WHERE batch_id = ?""",
                  (batch_id,))
    if not found:
        raise TraceNotFound(f"batch {batch_id}: no such batch")
    b = found[0]
    # its lines through the entries its payload names (the lines' index by batch holds
    # the unbatched ones only), those the batcher marked with this batch
    of_batch = ("l.entry IN (SELECT value FROM json_each((SELECT payload FROM batches"
                " WHERE seq = ?1), '$.entries')) AND l.batch_seq = ?1")
    lines = _rows(conn, _LINES + f" WHERE {of_batch} ORDER BY l.line", (b["seq"],))
    events = _rows(conn, f"""SELECT DISTINCT v.seq, v.id, v.type, v.ts, v.source, v.reading
                             FROM journal_lines l JOIN entries e ON e.entry = l.entry
                             JOIN events v ON v.seq = e.event_seq
                             WHERE {of_batch} ORDER BY v.seq""", (b["seq"],))
    for ev in events:
        ev["reading"] = _json(ev["reading"])
    return {"batch": b, "lines": lines, "events": events}


def find(conn: sqlite3.Connection, key: str, kind: str | None = None) -> tuple[str, dict]:
    """(`kind`, chain) for `key`. Without `kind`: a batch id, then an event id, then a
    number as a journal line. `event` also takes `#seq` or a bare seq number."""
    key = key.strip()
    if kind not in (None, *KINDS):
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if kind in (None, "batch") and conn.execute(
            "SELECT 1 FROM batches WHERE batch_id = ?", (key,)).fetchone():
        return "batch", batch_chain(conn, key)
    if kind in (None, "event"):
        row = conn.execute("SELECT seq FROM events WHERE id = ?", (key,)).fetchone()
        if row is None and kind == "event" and key.lstrip("#").isdigit():
            row = (int(key.lstrip("#")),)
        if row is not None:
            return "event", event_chain(conn, row[0])
    if kind in (None, "line") and key.isdigit():
        return "line", line_chain(conn, int(key))
    tried = {"line": "journal line number", "event": "event id or seq",
             "batch": "batch id"}
    what = tried[kind] if kind else "batch id, event id or journal line number"
    raise TraceNotFound(f"{key!r}: no {what} matches in the journal")
