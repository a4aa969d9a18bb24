"""`gateway replay -c FILE`: rebuild journal and projections from the events alone, into a
scratch database, and report every difference from the live one (exit 1 if any)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from gateway.commands._common import add_config, load_plant, open_readonly
from gateway.journal import Journal, Submission, connect, submit_all

# What must come out identical, and the order that makes rows comparable.
COMPARED = {
    "journal_lines": "SELECT event_id, period, account, debit, credit, work_order, item,"
                     " work_center, memo FROM journal_lines ORDER BY line",
    "stock": "SELECT item, location, status, lot, round(qty, 9), value FROM stock"
             " ORDER BY item, location, status, lot",
    "item_costs": "SELECT item, method, round(qty, 9), value, round(unit_cost, 9)"
                  " FROM item_costs ORDER BY item",
    "work_orders": "SELECT work_order, item, line, planned, status, good, scrap, wip,"
                   " material_usage, material_price, labor_efficiency, overhead_efficiency"
                   " FROM work_orders ORDER BY work_order",
    "active_orders": "SELECT line, work_order FROM active_orders ORDER BY line",
}


def add_arguments(p) -> None:
    add_config(p)
    p.add_argument("--keep", metavar="PATH", help="keep the rebuilt database at PATH")


def rebuild(live_db: str, master, target: str) -> tuple[int, int]:
    """Replay every stored event, in sequence order, into a fresh journal at target."""
    src = connect(live_db, readonly=True)
    # stored events were judged when they came in: a held PO line was confirmed by then
    scratch = Journal(target, master, synchronous="NORMAL", rebuild=False, unknown_po="accept")
    rows = src.execute("SELECT payload, source, reading FROM events ORDER BY seq")
    results = submit_all(scratch, (Submission(p, source=s, reading=json.loads(r) if r else None)
                                   for p, s, r in rows), batch=5000)
    scratch.close()
    src.close()
    return len(results), sum(r.status != "applied" for r in results)


def differences(live, rebuilt) -> list[str]:
    out = []
    for name, query in COMPARED.items():
        a, b = live.execute(query).fetchall(), rebuilt.execute(query).fetchall()
        if a == b:
            continue
        sa, sb = set(a), set(b)
        only_live, only_new = [r for r in a if r not in sb], [r for r in b if r not in sa]
        out.append(f"{name}: {len(a)} live rows, {len(b)} rebuilt; {len(only_live)} only live,"
                   f" {len(only_new)} only rebuilt")
        out += [f"  live:    {r}" for r in only_live[:5]]
        out += [f"  rebuilt: {r}" for r in only_new[:5]]
        if not only_live and not only_new:
            out.append("  same rows in a different order")
    return out


def run(args) -> int:
    plant = load_plant(args)
    live = open_readonly(plant)
    with tempfile.TemporaryDirectory(prefix="gateway-replay-") as tmp:
        target = args.keep or os.path.join(tmp, "replay.db")
        if os.path.exists(target):
            os.remove(target)
        t0 = time.perf_counter()
        n, not_applied = rebuild(plant.db, plant.master, target)
        took = time.perf_counter() - t0
        diff = differences(live, connect(target, readonly=True))
    if not_applied:
        diff.insert(0, f"events: {not_applied} stored events no longer apply")
    rate = n / took if took else 0.0
    print(f"replayed {n} events in {took:.2f} s ({rate:,.0f} events/s)", file=sys.stderr)
    if diff:
        print("\n".join(["replay differs from the live journal:", *diff]))
        return 1
    print("replay identical: journal, stock, item costs, work orders")
    return 0
