"""`gateway audit -c FILE [--format table|json|csv]`: the audit log, newest first.

Read-only, so it is safe next to a running gateway. The database is the config's
`[gateway].db`.
"""

from __future__ import annotations

import argparse
import json

from gateway.audit import FIELDS, read
from gateway.commands._common import add_config, emit, load_config_or_exit
from gateway.formats import table, to_csv


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config(p)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--actor", help="only this user's entries")
    p.add_argument("--since", metavar="TS", help="only entries at or after this UTC time "
                   "(ISO 8601, e.g. 2026-11-22 or 2026-11-22T06:00)")
    p.add_argument("--limit", type=int, metavar="N", help="only the newest N entries")


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from gateway.journal import connect

    db = str(load_config_or_exit(args.config).gateway.db)
    if not os.path.exists(db):
        print(f"no journal at {db}: nothing has been recorded yet", file=sys.stderr)
        return 1
    conn = connect(db, readonly=True)
    try:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE name='audit'").fetchone()
        rows = read(conn, limit=args.limit, actor=args.actor, since=args.since) if has else []
    finally:
        conn.close()
    if args.format == "json":
        emit(json.dumps(rows, ensure_ascii=False, indent=1))
    elif args.format == "csv":
        emit(to_csv(FIELDS, rows))
    else:
        emit(table(FIELDS, ([r[k] for k in FIELDS] for r in rows), right=(0,)))
    return 0
