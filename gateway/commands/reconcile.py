"""`gateway reconcile -c FILE --erp SNAPSHOT.csv`: what is out of sync with the ERP."""

from __future__ import annotations

import sys

from gateway.commands._common import add_config, add_format, emit, load_plant, open_readonly
from gateway.formats import dumps, jsonl, qty, table, to_csv
from gateway.money import to_people, to_str
from gateway.reconcile import ErpFileError, read_erp_csv, reconcile

FIELDS = ("sku", "category", "erp_qty", "gateway_qty", "diff_qty", "diff_value", "direction")


def add_arguments(p) -> None:
    add_config(p)
    p.add_argument("--erp", required=True, metavar="FILE.csv",
                   help="ERP stock snapshot: sku,category,qty")
    add_format(p)


def run(args) -> int:
    plant = load_plant(args)
    try:
        with open(args.erp, encoding="utf-8-sig") as fh:
            erp = read_erp_csv(fh.read(), plant.config.categories, source=args.erp)
    except (OSError, ErpFileError) as exc:
        print(exc, file=sys.stderr)
        return 1
    conn = open_readonly(plant)
    d = plant.decimals
    rows = reconcile(conn, plant.config.categories, erp, d)
    if args.format == "table":
        if not rows:
            emit("in sync: no differences")
            return 0
        emit(table(["sku", "category", "erp qty", "gateway qty", "diff qty", "diff value", "dir"],
                   [(r["sku"], r["category"], qty(r["erp_qty"]), qty(r["gateway_qty"]),
                     qty(r["diff_qty"]), to_people(r["diff_value"], d), r["direction"])
                    for r in rows],
                   totals=("total", f"{len(rows)} rows", "", "", "",
                           to_people(sum(r["diff_value"] for r in rows), d), ""),
                   right=(2, 3, 4, 5)))
        return 0
    out = [{**r, "erp_qty": qty(r["erp_qty"]), "gateway_qty": qty(r["gateway_qty"]),
            "diff_qty": qty(r["diff_qty"]), "diff_value": to_str(r["diff_value"], d)}
           for r in rows]
    emit(dumps(out) if args.format == "json" else
         jsonl(out) if args.format == "jsonl" else to_csv(FIELDS, out))
    return 0
