"""Figures over time for the charts, read from the journal: output and scrap per time
bucket, an order's cost build-up, and WIP / inventory value through the day.

Buckets are by the events' own timestamps, in UTC (SQLite's strftime normalises any
offset). Money stays in minor units; quantities are floats as the journal keeps them.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

__all__ = ["output", "on_axis", "latest_bucket", "cost_build_up", "balances",
           "side_by_side", "consumption", "BUCKET_MINUTES"]

BUCKET_MINUTES = (15, 60)
MAX_POINTS = 96  # a day in 15-minute buckets; older buckets fall off the left
BUCKET_FORMAT = "%Y-%m-%d %H:%M"  # as _bucket writes them


def _bucket(minutes: int) -> str:
    if minutes not in BUCKET_MINUTES:
        raise ValueError(f"minutes: {minutes} is not one of {BUCKET_MINUTES}")
    if minutes == 60:
        return "strftime('%Y-%m-%d %H:00', ts)"
    return ("strftime('%Y-%m-%d %H:', ts) || "
            "printf('%02d', (CAST(strftime('%M', ts) AS INTEGER) / 15) * 15)")


def output(conn: sqlite3.Connection, minutes: int = 60, work_order: str | None = None,
           line: str | None = None, operation: int | None = None) -> list[dict[str, Any]]:
    """Per bucket: good (completions) and scrap quantities and scrap % of the two, for
    the plant, one work order or the orders of one line, oldest first; `operation`:
    the scrap of that routing step only (the units made are all the good and scrap)."""
    where = "type IN ('completion', 'scrap')"
    at_op = ("" if operation is None
             else f" AND json_extract(payload, '$.operation') = {int(operation)}")
    params: tuple = ()
    if work_order is not None:
        where += " AND json_extract(payload, '$.work_order') = ?"
        params = (work_order,)
    elif line is not None:
        where += (" AND json_extract(payload, '$.work_order') IN"
                  " (SELECT work_order FROM work_orders WHERE line = ?)")
        params = (line,)
    rows = conn.execute(
        f"""SELECT {_bucket(minutes)} AS b,
                   sum(CASE WHEN type = 'completion' THEN json_extract(payload, '$.qty') END),
                   sum(CASE WHEN type = 'scrap' THEN json_extract(payload, '$.qty') END),
                   sum(CASE WHEN type = 'scrap'{at_op} THEN json_extract(payload, '$.qty') END)
            FROM events WHERE {where} AND b IS NOT NULL
            GROUP BY b ORDER BY b DESC LIMIT {MAX_POINTS}""", params).fetchall()
    out = []
    for bucket, good, scrap, scrap_at in reversed(rows):
        good, scrap, scrap_at = good or 0.0, scrap or 0.0, scrap_at or 0.0
        made = good + scrap
        out.append({"bucket": bucket, "good": good, "scrap": scrap_at,
                    "scrap_pct": 100.0 * scrap_at / made if made else 0.0})
    return out


def latest_bucket(conn: sqlite3.Connection, minutes: int) -> str | None:
    """The bucket of the newest event in the journal: where the stream's "now" is."""
    row = conn.execute(f"SELECT {_bucket(minutes)} AS b FROM events WHERE b IS NOT NULL"
                       " ORDER BY seq DESC LIMIT 1").fetchone()
    return row[0] if row else None


def on_axis(points: list[dict[str, Any]], minutes: int, end: str | None = None,
            at_least: int = 1, at_most: int = MAX_POINTS) -> list[dict[str, Any]]:
    """`points` of `output` on a time axis with every bucket in it, so a chart's columns
    are equal stretches of time: from the first point's bucket to `end` (or the last
    point's, whichever is later), widened to the left to `at_least` buckets and cut from
    the left to `at_most`. A bucket without a point reads zero. No points: none."""
    if not points:
        return []
    step = timedelta(minutes=minutes)
    at = {p["bucket"]: p for p in points}
    first, last = (datetime.strptime(points[i]["bucket"], BUCKET_FORMAT) for i in (0, -1))
    if end is not None:
        last = max(last, datetime.strptime(end, BUCKET_FORMAT))
    n = min(max(at_least, int((last - first) / step) + 1), at_most)
    out = []
    for i in range(n - 1, -1, -1):
        b = (last - i * step).strftime(BUCKET_FORMAT)
        out.append(at.get(b, {"bucket": b, "good": 0.0, "scrap": 0.0, "scrap_pct": 0.0}))
    return out


def cost_build_up(conn: sqlite3.Connection, work_order: str, wip_account: str,
                  std_unit_cost: float | None, decimals: int) -> list[dict[str, Any]]:
    """After each event of the order that moved money or output: what it has been
    charged so far (debits to WIP) and the standard cost of its good output so far."""
    rows = conn.execute(
        """SELECT e.event_seq, v.ts, v.type,
                  coalesce(sum(CASE WHEN l.account = ? THEN l.debit END), 0),
                  CASE WHEN v.type = 'completion' THEN json_extract(v.payload, '$.qty') END
           FROM journal_lines l JOIN entries e ON e.entry = l.entry
           JOIN events v ON v.seq = e.event_seq
           WHERE l.work_order = ? AND v.type != 'wo_close'
           GROUP BY e.event_seq ORDER BY e.event_seq""", (wip_account, work_order)).fetchall()
    charged, good, out = 0, 0.0, []
    for seq, ts, typ, debit, qty in rows:
        charged += debit
        good += qty or 0.0
        std = round(good * std_unit_cost * 10**decimals) if std_unit_cost is not None else None
        out.append({"seq": seq, "ts": ts, "type": typ, "charged": charged, "standard": std})
    return _thin(out)


def consumption(conn: sqlite3.Connection, work_order: str, component: str,
                per_unit: float, planned: float) -> list[dict[str, Any]]:
    """After each count or issue of `component` on the order: issued so far against its
    standard so far, per_unit x max(good + scrap, planned) (the consumption rule's)."""
    rows = conn.execute(
        """SELECT ts, type, json_extract(payload, '$.qty') FROM events
           WHERE json_extract(payload, '$.work_order') = ?
             AND (type IN ('completion', 'scrap')
                  OR (type = 'issue' AND json_extract(payload, '$.item') = ?))
           ORDER BY seq""", (work_order, component)).fetchall()
    issued = units = 0.0
    out = []
    for ts, typ, qty in rows:
        if typ == "issue":
            issued += qty or 0.0
        else:
            units += qty or 0.0
        out.append({"ts": ts, "issued": issued, "standard": per_unit * max(units, planned)})
    return _thin(out)


def balances(conn: sqlite3.Connection, accounts: tuple[str, ...],
             minutes: int = 60) -> list[dict[str, Any]]:
    """The running balance (debit − credit) of `accounts` together at the end of each
    bucket with postings, oldest first."""
    if not accounts:
        return []
    marks = ",".join("?" * len(accounts))
    rows = conn.execute(
        f"""SELECT {_bucket(minutes)} AS b, sum(l.debit - l.credit)
            FROM journal_lines l JOIN entries e ON e.entry = l.entry
            WHERE l.account IN ({marks}) GROUP BY b ORDER BY b""", accounts).fetchall()
    total, out = 0, []
    for bucket, change in rows:
        total += change
        out.append({"bucket": bucket, "value": total})
    return out[-MAX_POINTS:]


def side_by_side(conn: sqlite3.Connection, groups: dict[str, tuple[str, ...]],
                 minutes: int = 15) -> tuple[list[str], dict[str, list[int]]]:
    """The balances of several account groups on one time axis: every bucket any of them
    posted in, each group's balance carried forward where it did not move."""
    each = {name: {p["bucket"]: p["value"] for p in balances(conn, accts, minutes)}
            for name, accts in groups.items()}
    buckets = sorted({b for points in each.values() for b in points})[-MAX_POINTS:]
    out: dict[str, list[int]] = {}
    for name, points in each.items():
        before = [v for b, v in sorted(points.items()) if buckets and b < buckets[0]]
        last, vals = (before[-1] if before else 0), []
        for b in buckets:
            last = points.get(b, last)
            vals.append(last)
        out[name] = vals
    return buckets, out


def _thin(points: list[dict], keep: int = MAX_POINTS * 2) -> list[dict]:
    """At most `keep` points, evenly spaced, the last one always kept."""
    if len(points) <= keep:
        return points
    step = len(points) / keep
    picked = [points[int(i * step)] for i in range(keep - 1)]
    return picked + [points[-1]]
