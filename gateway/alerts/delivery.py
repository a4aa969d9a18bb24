"""The alert routes' queue: each transition a route hears of waits in `alert_deliveries`
(written in the transaction that made it) until its channel took it — at least once,
the idempotency key telling a resend from a new transition."""

from __future__ import annotations

import json
import sqlite3


def idempotency_key(transition) -> str:
    """Alert key + state, + when the episode began: a key that opens again is news."""
    return f"{transition.key}:{transition.state}:{transition.alert.get('first_seen')}"


def payload(transition) -> dict:
    a = transition.alert
    return {"idempotency_key": idempotency_key(transition), "key": transition.key,
            "state": transition.state,
            **{k: a.get(k) for k in ("rule", "subject", "line", "work_order", "item",
                                     "severity", "observed", "expected", "threshold",
                                     "message", "first_seen", "last_seen", "acked_by",
                                     "ack_note", "resolved_by", "resolution")}}


def channels(route) -> list[str]:
    return [c for c, on in (("webhook", route.webhook), ("mqtt", route.mqtt_topic)) if on]


def enqueue(conn: sqlite3.Connection, routes, transitions) -> None:
    """Queue each transition for every route whose rules include its rule."""
    rows = []
    for t in transitions:
        for n, route in enumerate(routes):
            if t.alert.get("rule") not in route.rules:
                continue
            for channel in channels(route):
                rows.append((f"{n}:{channel}", idempotency_key(t), t.key,
                             json.dumps(payload(t), sort_keys=True)))
    if rows:
        conn.executemany("INSERT OR IGNORE INTO alert_deliveries(route, idem, alert_key,"
                         " payload) VALUES (?,?,?,?)", rows)
