"""`gateway exceptions [--kind K] [--status S] [--format table|json|csv]`: the exceptions;
`gateway exceptions approve ID --user NAME [--po PO | --work-order WO]` books one the way
the dashboard's button does, `gateway exceptions dismiss ID --user NAME --reason TEXT`
closes one without a booking (see docs/operations.md).

Approve does what the kind allows, through the dashboard's own actions (gateway.actions):
an invoice line held for its price is approved (posted as if matched), a receipt with no
PO line is received on `--po`, an unassigned count is booked to `--work-order`. An invoice
line held for its quantity is never approved: it posts by itself once receipts cover it.

`--user` is who acts. When the config names a dashboard users file the name must be a
user there whose role may take the action (an invoice price: a controller; the rest: a
supervisor or a controller), as on the dashboard; without one the name is taken as given.
Every action, done or refused, goes to the audit log (address `cli`). Acting needs the
journal to itself: stop a running gateway first (listing is read-only and safe beside it).
"""

from __future__ import annotations

import argparse
import sys

from gateway.commands._common import Exit, add_config, emit, load_plant, open_journal, \
    open_readonly
from gateway.formats import dumps, table, to_csv

ACTIONS = ("list", "approve", "dismiss")
FIELDS = ("id", "created_at", "kind", "status", "source", "event_id", "field", "reason",
          "resolution", "resolved_by", "resolved_at")
STATUSES = ("open", "resolved", "dismissed", "all")
# what `approve` does per kind: (act-seam action, the option it needs, or None)
APPROVE = {"invoice_mismatch": ("approve_invoice", None), "no_po": ("confirm_po", "po"),
           "unassigned_count": ("assign_count", "work_order")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config(p)
    p.add_argument("action", nargs="?", choices=ACTIONS, default="list")
    p.add_argument("id", nargs="?", type=int, help="approve/dismiss: the exception's number")
    p.add_argument("--kind", help="list: only this kind, e.g. invoice_mismatch")
    p.add_argument("--status", choices=STATUSES, default="open", help="list: default open")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--user", help="approve/dismiss: who acts")
    p.add_argument("--reason", help="dismiss: why no booking is needed")
    p.add_argument("--po", help="approve a no_po receipt: the PO it was received on")
    p.add_argument("--work-order", help="approve an unassigned count: the work order it is for")


def run(args) -> int:
    plant = load_plant(args)
    if args.action == "list":
        return _list(plant, args)
    if args.id is None or not args.user:
        print(f"gateway exceptions {args.action}: ID and --user NAME are required",
              file=sys.stderr)
        return 2
    open_readonly(plant).close()  # the same "no journal yet" message as listing
    return _act(plant, args)


def _list(plant, args) -> int:
    conn = open_readonly(plant)
    where, params = [], []
    if args.status != "all":
        where.append("status = ?")
        params.append(args.status)
    if args.kind:
        where.append("kind = ?")
        params.append(args.kind)
    sql = f"SELECT {', '.join(FIELDS)}, raw FROM exceptions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = [dict(zip((*FIELDS, "raw"), r)) for r in conn.execute(sql + " ORDER BY id", params)]
    conn.close()
    if args.format == "json":
        emit(dumps(rows))
    elif args.format == "csv":
        emit(to_csv((*FIELDS, "raw"), rows))
    else:
        emit(table(("id", "kind", "status", "event", "reason"),
                   [(r["id"], r["kind"], r["status"], r["event_id"] or "",
                     r["reason"] if r["status"] == "open"
                     else f"{r['reason']} [{r['resolution']} by {r['resolved_by']}]")
                    for r in rows], right=(0,)))
        emit(f"{len(rows)} exception{'s' * (len(rows) != 1)}")
    return 0


def _act(plant, args) -> int:
    from gateway import actions
    from gateway.audit import AuditEntry, record
    from gateway.dashboard.state import ActionRefused
    from gateway.mapping import Mapper

    journal = open_journal(plant, lazy=True)
    target = f"exception {args.id}"
    action = "dismiss" if args.action == "dismiss" else "approve"
    try:
        action, call = _action(journal, plant, args, actions, Mapper)
        why = _who_may(plant, args.user, action)
        if why is not None:
            raise ActionRefused(why)
        result = call()
    except ActionRefused as exc:
        record(journal.conn, AuditEntry(args.user, "cli", action, target,
                                        f"refused: {exc}; {_detail(args)}"))
        journal.close()
        print(f"gateway exceptions {args.action}: {exc}", file=sys.stderr)
        raise Exit(1) from None
    record(journal.conn, AuditEntry(args.user, "cli", action, target,
                                    f"{result}; {_detail(args)}"))
    journal.close()
    emit(result)
    return 0


def _action(journal, plant, args, actions, Mapper):
    """(act-seam action name, a call doing it) for `args`, or ActionRefused."""
    from gateway.dashboard.state import ActionRefused

    row = journal.conn.execute("SELECT kind, field, reason, status FROM exceptions"
                               " WHERE id=?", (args.id,)).fetchone()
    if row is None:
        raise ActionRefused(f"exception {args.id} does not exist")
    kind, field, reason, status = row
    if status != "open":
        raise ActionRefused(f"exception {args.id} is already {status}")
    reason = reason.removeprefix(f"{field}: ")
    if args.action == "dismiss":
        if not (args.reason or "").strip():
            raise ActionRefused("dismiss needs --reason TEXT: why no booking is needed")
        return "dismiss", lambda: actions.dismiss(journal, args.id, args.reason, args.user)
    if kind not in APPROVE:
        raise ActionRefused(f"exception {args.id} is a {kind}: there is nothing to approve;"
                            " dismiss it with a reason")
    name, needs = APPROVE[kind]
    if kind == "invoice_mismatch" and field != "unit_price":
        raise ActionRefused(f"exception {args.id} is a {field} mismatch ({reason}): only a"
                            " price mismatch can be approved; it posts by itself once"
                            " receipts cover it, or dismiss it with a reason")
    value = getattr(args, needs) if needs else None
    if needs and not value:
        raise ActionRefused(f"exception {args.id} is a {kind}: approve needs"
                            f" --{needs.replace('_', '-')}")
    if name == "approve_invoice":
        return name, lambda: actions.approve_invoice(journal, args.id, args.user)
    if name == "confirm_po":
        return name, lambda: actions.confirm_po(journal, args.id, value, args.user)
    mapper = Mapper(plant.config, plant.master, lambda line: None)
    return name, lambda: actions.assign_count(journal, mapper, args.id, value, args.user)


def _who_may(plant, user: str, action: str) -> str | None:
    """Why `user` may not take `action`, by the dashboard's users file; None if they may
    (or when the config names no users file)."""
    from gateway.users import UserError, UserStore, refusal

    dashboard = plant.config.dashboard
    path = dashboard.users_file if dashboard is not None else None
    if not path:
        return None
    try:
        known = UserStore(path).get(user)
    except (OSError, UserError) as exc:
        return f"the users file {path} cannot be read ({exc})"
    if known is None:
        return f"--user: {user!r} is not a user in {path}"
    return refusal(user, known.role, action)


def _detail(args) -> str:
    kw = {"reason": args.reason, "po": args.po, "work_order": args.work_order}
    return ", ".join(f"{k}={v}" for k, v in kw.items() if v) or "via the command line"
