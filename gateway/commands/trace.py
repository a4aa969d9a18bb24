"""`gateway trace [KIND] KEY`: from a GL line, an event or a batch to the event and raw
reading that caused it; from a lot or a shipment to where the goods came from and went.

KIND is one of line, event, batch, lot, shipment; without it KEY is looked up as a batch
id, an event id, then a journal line number. `--format json` prints the same chain as
one JSON object (money as decimal strings).
"""

from __future__ import annotations

import json
import sys

from gateway.commands._common import add_config, add_format, emit, load_plant, open_readonly
from gateway.formats import dumps, qty, table
from gateway.money import to_people, to_str

KINDS = ("line", "event", "batch", "lot", "shipment")


def add_arguments(p) -> None:
    add_config(p)
    add_format(p, ("table", "json"))
    p.add_argument("what", nargs="+", metavar="[KIND] KEY",
                   help=f"KIND: {', '.join(KINDS)} (optional); KEY: what to trace")


def run(args) -> int:
    from gateway import lot_trace, trace

    if len(args.what) > 2 or (len(args.what) == 2 and args.what[0] not in KINDS):
        print(f"gateway trace: KIND: {args.what[0]!r} is not one of {', '.join(KINDS)}",
              file=sys.stderr)
        return 2
    kind, key = (args.what if len(args.what) == 2 else (None, args.what[0]))
    plant = load_plant(args)
    conn = open_readonly(plant)
    d = plant.decimals
    try:
        if kind in ("lot", "shipment"):
            places = {w.id: w.location for w in plant.master.work_centers}
            chain = (lot_trace.lot(conn, key, places) if kind == "lot"
                     else lot_trace.shipment(conn, key, places))
            kind_found = kind
        else:
            kind_found, chain = trace.find(conn, key, kind)
    except (trace.TraceNotFound, lot_trace.LotNotFound) as exc:
        print(f"gateway trace: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        emit(dumps({"kind": kind_found, **_money_as_text(chain, d)}))
    elif kind_found in ("lot", "shipment"):
        emit(_lot_table(chain))
    else:
        emit(_chain_table(kind_found, chain, d))
    return 0


def _money_as_text(obj, d: int):
    """debit/credit as decimal strings, everything else as it is."""
    if isinstance(obj, dict):
        return {k: (to_str(v, d) if k in ("debit", "credit") and isinstance(v, int)
                    else _money_as_text(v, d)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_money_as_text(v, d) for v in obj]
    return obj


def _lines_table(lines: list[dict], d: int, mark: int | None = None) -> str:
    return table(["", "line", "account", "debit", "credit", "work order", "item", "memo",
                  "batch"],
                 [("→" if ln["line"] == mark else "", ln["line"], ln["account"],
                   to_people(ln["debit"], d) if ln["debit"] else "",
                   to_people(ln["credit"], d) if ln["credit"] else "",
                   ln["work_order"] or "", ln["item"] or "", ln["memo"],
                   ln["batch_id"] or "(not batched yet)") for ln in lines],
                 right=(1, 3, 4))


def _reading_text(reading) -> str:
    if reading is None:
        return "none (not from a device reading)"
    return reading if isinstance(reading, str) else json.dumps(reading, ensure_ascii=False)


def _chain_table(kind: str, chain: dict, d: int) -> str:
    out: list[str] = []
    if kind == "batch":
        b = chain["batch"]
        out += [f"batch {b['batch_id']} ({b['state']}, period {b['period']}, "
                f"{to_people(b['debit'], d)} each side, created {b['created_at']})", ""]
        out += [table(["seq", "event", "type", "source", "reading"],
                      [(e["seq"], e["id"], e["type"], e["source"], _reading_text(e["reading"]))
                       for e in chain["events"]], right=(0,)), ""]
        out.append(_lines_table(chain["lines"], d))
        return "\n".join(out)
    ev = chain["event"]
    if kind == "line":
        ln = chain["line"]
        out += [f"journal line {ln['line']}: {ln['account']} "
                f"{'debit ' + to_people(ln['debit'], d) if ln['debit'] else 'credit ' + to_people(ln['credit'], d)}"
                f" ({ln['memo']}), entry {ln['entry']}", ""]
    out += [f"event #{ev['seq']} {ev['id']} ({ev['type']})",
            f"  ts {ev['ts']}, received {ev['received_at']}",
            f"  source {ev['source']}"
            + (f" (payload claims {ev['claimed_source']})" if ev["claimed_source"] else ""),
            f"  payload {json.dumps(chain['payload'], ensure_ascii=False, sort_keys=True)}",
            f"  reading {_reading_text(chain['reading'])}", ""]
    if chain["lines"]:
        out.append(_lines_table(chain["lines"], d, chain.get("line", {}).get("line")))
    else:
        out.append("no journal lines (this event posts nothing)")
    for x in chain["exceptions"]:
        out.append(f"exception #{x['id']} {x['kind']} ({x['status']}): {x['reason']}")
    return "\n".join(out)


def _lot_table(chain: dict) -> str:
    out = [chain["title"], ""]
    out.append(table(["depth", "step", "event", "type", "item", "qty", "where", "note"],
                     [(n["depth"], "  " * n["depth"] + n["label"], n["event_id"] or "",
                       n["type"], n["item"] or "", qty(n["qty"]) if n["qty"] is not None else "",
                       n["where"] or "", n["note"] or "") for n in chain["nodes"]],
                     right=(0, 5)))
    return "\n".join(out)
