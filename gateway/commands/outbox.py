"""`gateway outbox list | retry SEQ | export`: the upstream backlog, for supervisors.

    list    every batch (seq, batch_id, period, state, attempts, lines, debit, credit,
            last_error) and the backlog summary: depth, oldest unacked age, last ack
    retry   put a quarantined batch back to pending; it is sent next in seq order
    export  the exact JSON payloads sent upstream, one a line (optionally by --state)

The database path comes from the config's `[gateway].db`. `list` and `export` open it
read-only, so they are safe next to a running gateway.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys

from gateway.commands._common import load_config_or_exit
from gateway.formats import table
from gateway.money import to_people, to_str

STATES = ("pending", "acked", "quarantined")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="batches and the backlog summary")
    ls.add_argument("--state", choices=STATES, action="append", help="only these states (repeatable)")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    rt = sub.add_parser("retry", help="send a quarantined batch again")
    rt.add_argument("seq", type=int, help="the batch's seq (first column of `list`)")
    ex = sub.add_parser("export", help="batch payloads as JSON lines")
    ex.add_argument("--state", choices=STATES, action="append", help="only these states (repeatable)")
    for q in (ls, rt, ex):
        q.add_argument("-c", "--config", required=True, metavar="FILE", help="gateway.toml of the plant")


def _open(db: str, readonly: bool) -> sqlite3.Connection | None:
    if not os.path.exists(db):
        print(f"no journal at {db}: nothing has been batched yet", file=sys.stderr)
        return None
    if readonly:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    else:
        from gateway.upstream.forwarder import connect
        conn = connect(db)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _rows(conn: sqlite3.Connection, states: list[str] | None):
    sql = ("SELECT seq, batch_id, period, state, attempts, payload, debit, credit, last_error, "
           "created_at, acked_at FROM batches")
    params: tuple = ()
    if states:
        sql += f" WHERE state IN ({','.join('?' * len(states))})"
        params = tuple(states)
    return conn.execute(sql + " ORDER BY seq", params).fetchall()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def run(args: argparse.Namespace) -> int:
    cfg = load_config_or_exit(args.config)
    conn = _open(str(cfg.gateway.db), readonly=args.action != "retry")
    if conn is None:
        return 1
    try:
        return {"list": _list, "retry": _retry, "export": _export}[args.action](conn, args, cfg)
    finally:
        conn.close()


def _list(conn: sqlite3.Connection, args, cfg) -> int:
    from gateway.upstream.outbox import read_stats

    d = int(cfg.gateway.currency_decimals)
    rows = _rows(conn, args.state)
    stats = read_stats(conn)
    if args.format == "json":
        print(json.dumps({
            "batches": [{"seq": r[0], "batch_id": r[1], "period": r[2], "state": r[3], "attempts": r[4],
                         "lines": len(json.loads(r[5])["lines"]), "debit": to_str(r[6], d),
                         "credit": to_str(r[7], d), "last_error": r[8], "created_at": r[9],
                         "acked_at": r[10]} for r in rows],
            "depth": stats.depth, "oldest_unacked_age_s": stats.oldest_unacked_age_s,
            "last_ack_at": stats.last_ack_at, "quarantined": stats.quarantined}))
        return 0
    print(table(
        ["seq", "batch_id", "period", "state", "attempts", "lines", "debit", "credit", "last_error"],
        [(r[0], r[1], r[2], r[3], r[4], len(json.loads(r[5])["lines"]), to_people(r[6], d),
          to_people(r[7], d), (r[8] or "")[:60]) for r in rows],
        totals=("total", f"{len(rows)} batches", "", "", "", "",
                to_people(sum(r[6] for r in rows), d), to_people(sum(r[7] for r in rows), d), ""),
        right=(0, 4, 5, 6, 7)))
    print(f"\nbacklog: {stats.depth} pending, oldest unacked {_age(stats.oldest_unacked_age_s)}, "
          f"{stats.quarantined} quarantined, last ack {stats.last_ack_at or 'never'}")
    return 0


def _retry(conn: sqlite3.Connection, args, cfg) -> int:
    from gateway.upstream.outbox import RequeueError, requeue

    try:
        requeue(conn, args.seq, by=f"cli:{getpass.getuser()}")
    except RequeueError as exc:
        print(f"gateway outbox retry: {exc}", file=sys.stderr)
        return 1
    batch_id = conn.execute("SELECT batch_id FROM batches WHERE seq = ?", (args.seq,)).fetchone()[0]
    print(f"batch {batch_id} (seq {args.seq}) is pending again; it is sent next in seq order")
    return 0


def _export(conn: sqlite3.Connection, args, cfg) -> int:
    for r in _rows(conn, args.state):
        sys.stdout.write(r[5] + "\n")
    return 0
