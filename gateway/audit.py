"""The audit log: every user action — who, when, from where, what — appended to the
journal database and never changed (the schema's triggers refuse UPDATE and DELETE).

Actions recorded:

    login, logout, login_failed, login_refused (throttled), session_ended (the users
    file removed or changed the user), assign_count, confirm_po, approve_invoice, dismiss,
    dismiss_many, retry_batch (dashboard; detail says done or why refused; the first
    four also from `gateway exceptions`, address `cli`), user_add, user_replace,
    user_remove (`gateway user`).

A failed login's actor is the name only when it is a user's; otherwise it is its
length and a keyed digest, since people type passwords into the name field.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import astuple, dataclass
from pathlib import Path

__all__ = ["AuditEntry", "AuditLog", "FIELDS", "read", "record"]

FIELDS = ("seq", "ts", "actor", "address", "action", "target", "detail")
DETAIL_MAX = 500  # a reason typed into a form is kept, but not a whole upload


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    address: str
    action: str
    target: str = ""
    detail: str = ""


def record(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    """Append one entry (committed on its own: an audit line never waits on a batch)."""
    from gateway.journal import now_utc  # lazily: the dashboard and CLI need no engine

    actor, address, action, target, detail = (str(v) for v in astuple(entry))
    conn.execute("INSERT INTO audit(ts, actor, address, action, target, detail) "
                 "VALUES (?, ?, ?, ?, ?, ?)",
                 (now_utc(), actor, address, action, target, detail[:DETAIL_MAX]))


def read(conn: sqlite3.Connection, *, limit: int | None = None, actor: str | None = None,
         since: str | None = None) -> list[dict]:
    """Entries, newest first; `since` an ISO timestamp (inclusive)."""
    where, args = [], []
    if actor:
        where.append("actor = ?")
        args.append(actor)
    if since:
        where.append("ts >= ?")
        args.append(since)
    sql = f"SELECT {', '.join(FIELDS)} FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return [dict(zip(FIELDS, row)) for row in conn.execute(sql, args)]


class AuditLog:
    """A writer of audit entries with its own connection to the journal database (the
    dashboard reads the database read-only; SQLite serialises this with the journal's
    writer, as it does for `gateway outbox retry`)."""

    def __init__(self, db_path: str | Path):
        self.db_path = str(db_path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def write(self, entry: AuditEntry) -> None:
        with self._lock:
            if self._conn is None:
                from gateway.journal import connect

                self._conn = connect(self.db_path)
            record(self._conn, entry)

    async def __call__(self, entry: AuditEntry) -> None:
        await asyncio.to_thread(self.write, entry)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
