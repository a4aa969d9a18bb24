"""Reading alerts and the people's actions on them: acknowledge, resolve by hand.

An action names the alert by key (the one not resolved) and says who and why; acting
on an alert that is not open for it is refused with the reason, never applied twice.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from gateway.alerts.book import ALERT_COLUMNS, Transition
from gateway.alerts.delivery import enqueue

STATES = ("open", "acknowledged", "resolved")
LIST_COLUMNS = ("id",) + ALERT_COLUMNS + ("acked_by", "acked_at", "ack_note")


class AlertRefused(ValueError):
    """An action that does not apply to the alert as it stands."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def list_alerts(conn: sqlite3.Connection, *, state: str | None = None,
                rule: str | None = None, line: str | None = None,
                limit: int = 1000) -> list[dict]:
    """Alerts newest first; `state` 'active' means open or acknowledged."""
    where, args = [], []
    if state == "active":
        where.append("state != 'resolved'")
    elif state:
        where.append("state = ?")
        args.append(state)
    for col, value in (("rule", rule), ("line", line)):
        if value:
            where.append(f"{col} = ?")
            args.append(value)
    sql = (f"SELECT {', '.join(LIST_COLUMNS)} FROM alerts"
           f"{' WHERE ' + ' AND '.join(where) if where else ''}"
           " ORDER BY (state = 'resolved'), last_seen DESC, id DESC LIMIT ?")
    return [dict(zip(LIST_COLUMNS, row)) for row in conn.execute(sql, [*args, limit])]


def open_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM alerts WHERE state != 'resolved'").fetchone()[0]


def _current(conn: sqlite3.Connection, key: str) -> dict:
    row = conn.execute(f"SELECT {', '.join(LIST_COLUMNS)} FROM alerts WHERE key = ?"
                       " ORDER BY (state != 'resolved') DESC, id DESC LIMIT 1",
                       (key,)).fetchone()
    if row is None:
        raise AlertRefused(f"key: no alert {key!r}")
    return dict(zip(LIST_COLUMNS, row))


def _act(conn, key: str, user: str, note: str, routes, to: str, allowed: tuple[str, ...]
         ) -> dict:
    if not user.strip():
        raise AlertRefused("user: who acts must be named")
    conn.execute("BEGIN IMMEDIATE")
    try:
        alert = _current(conn, key)
        if alert["state"] not in allowed:
            raise AlertRefused(f"key: alert {key!r} is {alert['state']}, cannot be {to}")
        stamp = _now()
        if to == "acknowledged":
            conn.execute("UPDATE alerts SET state='acknowledged', acked_by=?, acked_at=?,"
                         " ack_note=? WHERE id=?", (user, stamp, note, alert["id"]))
            alert.update(state=to, acked_by=user, acked_at=stamp, ack_note=note)
        else:
            conn.execute("UPDATE alerts SET state='resolved', resolved_by=?, resolved_at=?,"
                         " resolution=? WHERE id=?", (user, stamp, note or "resolved by hand",
                                                      alert["id"]))
            alert.update(state=to, resolved_by=user, resolved_at=stamp, resolution=note)
        enqueue(conn, routes, [Transition(key, to, alert)])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return alert


def acknowledge(conn, key: str, user: str, note: str = "", routes=()) -> dict:
    """Someone has seen it and acts: the alert stays until its condition clears."""
    return _act(conn, key, user, note, routes, "acknowledged", ("open",))


def resolve(conn, key: str, user: str, note: str = "", routes=()) -> dict:
    """Closed by hand; should the condition persist, the next event opens a new alert."""
    return _act(conn, key, user, note, routes, "resolved", ("open", "acknowledged"))
