"""`gateway alerts [--state S] [--rule R] [--line L] [--format table|json|csv]`: the alerts;
`gateway alerts ack KEY --user NAME --note TEXT` acknowledges the open alert of KEY,
`gateway alerts resolve KEY --user NAME --note TEXT` closes it by hand (see docs/alerts.md).

Listing opens the journal read-only, so it is safe beside a running gateway; an action
is one short transaction on the alerts table and queues the change for the routes.
"""

from __future__ import annotations

import argparse
import json
import sys

from gateway.commands._common import Exit, add_config, load_plant, open_readonly
from gateway.formats import table, to_csv

ACTIONS = ("list", "ack", "resolve")
COLUMNS = ("key", "state", "severity", "message", "first_seen", "last_seen", "acked_by")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config(p)
    p.add_argument("action", nargs="?", choices=ACTIONS, default="list")
    p.add_argument("key", nargs="?", help="ack/resolve: the alert key, e.g. scrap_rate:WO-17:op10")
    p.add_argument("--state", choices=("open", "acknowledged", "resolved", "active"),
                   help="list: only this state (active = open or acknowledged)")
    p.add_argument("--rule", help="list: only this rule")
    p.add_argument("--line", help="list: only this line (work center)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--user", help="ack/resolve: who acts")
    p.add_argument("--note", default="", help="ack/resolve: why, what is being done")


def run(args) -> int:
    from gateway.alerts.store import AlertRefused, acknowledge, list_alerts, resolve

    plant = load_plant(args)
    if args.action == "list":
        conn = open_readonly(plant)
        rows = list_alerts(conn, state=args.state, rule=args.rule, line=args.line)
        conn.close()
        if args.format == "json":
            print(json.dumps(rows, indent=2, ensure_ascii=False))
        elif args.format == "csv":
            print(to_csv(tuple(rows[0]) if rows else COLUMNS, rows))
        else:
            print(table(COLUMNS, [[r[c] for c in COLUMNS] for r in rows]))
        return 0
    if not args.key or not args.user:
        print(f"gateway alerts {args.action}: KEY and --user NAME are required",
              file=sys.stderr)
        return 2
    from gateway.journal import connect

    open_readonly(plant).close()  # the same "no journal yet" message as listing
    conn = connect(plant.db)
    try:
        act = acknowledge if args.action == "ack" else resolve
        alert = act(conn, args.key, args.user, args.note, plant.config.alerts.route)
    except AlertRefused as exc:
        print(f"gateway alerts {args.action}: {exc}", file=sys.stderr)
        raise Exit(1) from None
    finally:
        conn.close()
    print(f"{alert['key']}: {alert['state']} by {args.user}")
    return 0
