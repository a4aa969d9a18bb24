"""`gateway ap | ar | margin`: open supplier invoices, open AR by sales order, and margin
per sales order, for people and machines, read from the journal (gateway.subledgers).

Money is a decimal string with the currency's decimals in json and csv; a percent is a
number with one decimal, or null when the order has no revenue.
"""

from __future__ import annotations

from gateway import subledgers
from gateway.commands._common import add_config, add_format, emit, load_plant, open_readonly
from gateway.formats import dumps, qty, table, to_csv
from gateway.money import to_people, to_str

FORMATS = ("table", "json", "csv")


def _args(p):
    add_config(p)
    add_format(p, FORMATS)


def add_ap_arguments(p):
    _args(p)
    p.add_argument("--all", action="store_true", help="settled invoices too")


def add_ar_arguments(p):
    _args(p)
    p.add_argument("--all", action="store_true", help="settled orders too")


def add_margin_arguments(p):
    _args(p)
    p.add_argument("--order", metavar="SO", help="only this sales order")


def _open(args):
    plant = load_plant(args)
    return plant, open_readonly(plant), plant.config.accounts.by_key()


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.1f} %"


def _money(rows: list[dict], keys, d: int) -> list[dict]:
    return [{k: (to_str(v, d) if k in keys else v) for k, v in r.items()} for r in rows]


def _total(rows, key) -> int:
    return sum(r[key] for r in rows)


AP_MONEY = ("billed", "paid", "open", "held")
AP_FIELDS = ("invoice", "supplier", "billed", "paid", "open", "held", "held_lines")


def run_ap(args) -> int:
    plant, conn, codes = _open(args)
    d = plant.decimals
    rows = [r for r in subledgers.payables(conn, codes, d)
            if args.all or r["open"] or r["held_lines"]]
    grni = subledgers.grni_by_po(conn, codes)
    if args.format == "table":
        emit(table(["invoice", "supplier", "billed", "paid", "open", "held"],
                   [(r["invoice"], r["supplier"] or "", to_people(r["billed"], d),
                     to_people(r["paid"], d), to_people(r["open"], d),
                     f"{to_people(r['held'], d)} ({r['held_lines']})" if r["held_lines"]
                     else "") for r in rows],
                   totals=("total", f"{len(rows)} invoice{'s' * (len(rows) != 1)}",
                           *(to_people(_total(rows, k), d) for k in AP_MONEY)),
                   right=(2, 3, 4, 5)))
        emit("\nGRNI not invoiced yet")
        emit(table(["po", "item", "grni"],
                   [(g["po"] or "(no PO)", g["item"], to_people(g["grni"], d)) for g in grni],
                   totals=("total", "", to_people(_total(grni, "grni"), d)), right=(2,)))
        return 0
    out = _money(rows, AP_MONEY, d)
    if args.format == "json":
        emit(dumps({"invoices": out, "grni": _money(grni, ("grni",), d),
                    **{k: to_str(_total(rows, k), d) for k in AP_MONEY}}))
    else:
        emit(to_csv(AP_FIELDS, out))
    return 0


AR_MONEY = ("billed", "paid", "open")


def run_ar(args) -> int:
    plant, conn, codes = _open(args)
    d = plant.decimals
    rows = [r for r in subledgers.receivables(conn, codes) if args.all or r["open"]]
    if args.format == "table":
        emit(table(["order", "shipped", "paid", "open"],
                   [(r["order"] or "(no order)", *(to_people(r[k], d) for k in AR_MONEY))
                    for r in rows],
                   totals=("total", *(to_people(_total(rows, k), d) for k in AR_MONEY)),
                   right=(1, 2, 3)))
        return 0
    out = _money(rows, AR_MONEY, d)
    if args.format == "json":
        emit(dumps({"orders": out, **{k: to_str(_total(rows, k), d) for k in AR_MONEY}}))
    else:
        emit(to_csv(("order", *AR_MONEY), out))
    return 0


MARGIN_MONEY = ("revenue", "cogs", "margin", "scrap", "actual_margin")
MARGIN_FIELDS = ("order", "shipped_qty", "revenue", "cogs", "margin", "margin_pct",
                 "work_orders", *(r.removesuffix("_variance") for r in subledgers.VARIANCE_ROLES),
                 "scrap", "actual_margin", "actual_margin_pct")


def run_margin(args) -> int:
    plant, conn, codes = _open(args)
    d = plant.decimals
    rows = [r for r in subledgers.margins(conn, codes)
            if args.order is None or r["order"] == args.order]
    if args.format == "table":
        tot = {k: _total(rows, k) for k in MARGIN_MONEY}
        tot["variances"] = sum(sum(r["variances"].values()) for r in rows)
        emit(table(["order", "shipped", "revenue", "cost of sales", "margin", "%",
                    "work orders", "variances", "scrap", "actual margin", "%"],
                   [(r["order"] or "(no order)", qty(r["shipped_qty"]),
                     to_people(r["revenue"], d), to_people(r["cogs"], d),
                     to_people(r["margin"], d), _pct(r["margin_pct"]),
                     ",".join(r["work_orders"]), to_people(sum(r["variances"].values()), d),
                     to_people(r["scrap"], d), to_people(r["actual_margin"], d),
                     _pct(r["actual_margin_pct"])) for r in rows],
                   totals=("total", "", to_people(tot["revenue"], d), to_people(tot["cogs"], d),
                           to_people(tot["margin"], d),
                           _pct(subledgers.percent(tot["margin"], tot["revenue"])), "",
                           to_people(tot["variances"], d), to_people(tot["scrap"], d),
                           to_people(tot["actual_margin"], d),
                           _pct(subledgers.percent(tot["actual_margin"], tot["revenue"]))),
                   right=(1, 2, 3, 4, 5, 7, 8, 9, 10)))
        return 0
    out = [{**r, "shipped_qty": qty(r["shipped_qty"]),
            **{k: to_str(r[k], d) for k in MARGIN_MONEY},
            "variances": {k: to_str(v, d) for k, v in r["variances"].items()}} for r in rows]
    if args.format == "json":
        emit(dumps(out))
    else:
        emit(to_csv(MARGIN_FIELDS, [{**{k: v for k, v in r.items() if k != "variances"},
                                     **r["variances"],
                                     "work_orders": " ".join(r["work_orders"])} for r in out]))
    return 0
