"""How each line is doing this shift, and what just happened: markup shared by the
overview page and the live stream, so a refreshed page and a pushed update are the same.

- per running line, good and scrap per 15 minutes against the standard output of its
  item at that work center (routing run hours: 0.08 h a unit is 3.125 per quarter hour);
- the running orders' own good and scrap per 15 minutes (their pages' output chart);
- the latest events, newest first.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from markupsafe import Markup, escape

from costing.master import MasterData
from gateway.dashboard import charts, fmt, queries, series

__all__ = ["line_rates", "recent_rows", "line_charts", "order_output", "running_outputs",
           "BUCKET"]

BUCKET = 15  # minutes
SHIFT_BUCKETS = 32  # 8 hours on the overview
ORDER_AT_LEAST = 8  # quarter hours on an order's chart: a short order is not one wide bar


def line_rates(master: MasterData) -> dict[str, dict[str, float]]:
    """Work center -> item -> standard units per hour, from the routing's run hours (the
    steps of one item at one work center add up: a unit takes all of them there)."""
    hours: dict[str, dict[str, float]] = {}
    for r in master.routings:
        at = hours.setdefault(r.work_center, {})
        at[r.parent] = at.get(r.parent, 0.0) + r.run_hours
    return {wc: {item: 1.0 / h for item, h in items.items() if h > 0}
            for wc, items in hours.items()}


def recent_rows(rows: list[dict[str, Any]]) -> Markup:
    """The overview's "Latest events" table body."""
    if not rows:
        return Markup('<tr><td colspan="4" class="muted">No events yet.</td></tr>')
    return Markup("".join(
        f'<tr><td class="num"><a href="/trace/event/{int(e["seq"])}">{int(e["seq"])}</a></td>'
        f'<td><span class="tag">{escape(e["type"])}</span></td><td>{escape(e["source"])}</td>'
        f'<td title="{escape(e["ts"])}">{escape(fmt.short_ts(e["received_at"]))}</td></tr>'
        for e in rows))


def line_charts(conn: sqlite3.Connection, rates: dict[str, dict[str, float]]) -> dict[str, Markup]:
    """Per line with a running order: its good / scrap bars per quarter hour over the
    shift and the plan (standard rate of the running item) as a line."""
    out = {}
    now = series.latest_bucket(conn, BUCKET)
    for a in queries.active_lines(conn):
        # the whole shift on the axis, ending at the journal's latest event: a quarter hour
        # is 1/32 of the width however few of them had output
        points = series.on_axis(series.output(conn, BUCKET, line=a["line"]), BUCKET, end=now,
                                at_least=SHIFT_BUCKETS, at_most=SHIFT_BUCKETS)
        per_hour = rates.get(a["line"], {}).get(a["item"] or "")
        plan = per_hour * BUCKET / 60 if per_hour else None
        out[a["line"]] = charts.bar_chart(
            [p["bucket"][11:] for p in points],
            {"good": [p["good"] for p in points], "scrap": [p["scrap"] for p in points]},
            fmt.qty, f"good and scrap on {a['line']} per {BUCKET} minutes against plan",
            plan=plan)
    return out


def order_output(conn: sqlite3.Connection, work_order: str) -> Markup:
    """One order's good and scrap per quarter hour, from its first to its last."""
    points = series.on_axis(series.output(conn, BUCKET, work_order), BUCKET,
                            at_least=ORDER_AT_LEAST)
    return charts.bar_chart([p["bucket"][11:] for p in points],
                            {"good": [p["good"] for p in points],
                             "scrap": [p["scrap"] for p in points]},
                            fmt.qty, f"good and scrap of {work_order} per {BUCKET} minutes")


def running_outputs(conn: sqlite3.Connection) -> dict[str, Markup]:
    """order_output of each order running on a line: the ones whose pages move."""
    return {a["work_order"]: order_output(conn, a["work_order"])
            for a in queries.active_lines(conn)}
