"""`gateway journal | trial-balance | stock | wip`: the books, for people and machines.

Machine formats keep the documented field names; money is a decimal string with the
currency's decimals, quantities are JSON numbers. Tables are aligned, with totals.
"""

from __future__ import annotations

from gateway import reports
from gateway.commands._common import add_config, add_format, emit, load_plant, open_readonly
from gateway.formats import FORMATS, dumps, jsonl, qty, table, to_csv
from gateway.money import to_people, to_str


def _args(p, formats):
    add_config(p)
    add_format(p, formats)


def add_journal_arguments(p):
    _args(p, FORMATS)


def add_trial_balance_arguments(p):
    _args(p, FORMATS)


def add_stock_arguments(p):
    _args(p, FORMATS)


def add_wip_arguments(p):
    _args(p, FORMATS)


def _open(args):
    plant = load_plant(args)
    return plant, open_readonly(plant)


JOURNAL_FIELDS = ("entry", "event", "ts", "account", "debit", "credit", "work_order", "item",
                  "memo")


def run_journal(args) -> int:
    plant, conn = _open(args)
    d = plant.decimals
    rows = reports.journal_rows(conn)
    if args.format == "table":
        td = sum(r["debit"] for r in rows)
        tc = sum(r["credit"] for r in rows)
        emit(table(
            ["entry", "event", "ts", "account", "debit", "credit", "work order", "item", "memo"],
            [(r["entry"], r["event"], r["ts"], r["account"],
              to_people(r["debit"], d) if r["debit"] else "",
              to_people(r["credit"], d) if r["credit"] else "",
              r["work_order"], r["item"], r["memo"]) for r in rows],
            totals=("total", f"{len(rows)} lines", "", "", to_people(td, d), to_people(tc, d),
                    "", "", ""),
            right=(0, 4, 5)))
        return 0
    out = [{**r, "debit": to_str(r["debit"], d), "credit": to_str(r["credit"], d)} for r in rows]
    _emit_machine(args.format, JOURNAL_FIELDS, out)
    return 0


TRIAL_BALANCE_FIELDS = ("account", "debit", "credit", "balance")


def run_trial_balance(args) -> int:
    plant, conn = _open(args)
    d = plant.decimals
    rows = reports.trial_balance(conn)
    td = sum(r["debit"] for r in rows)
    tc = sum(r["credit"] for r in rows)
    accounts = [{k: (to_str(v, d) if k != "account" else v) for k, v in r.items()}
                for r in rows]
    if args.format == "json":  # the totals beside the accounts
        emit(dumps({"accounts": accounts, "debit": to_str(td, d), "credit": to_str(tc, d)}))
        return 0
    if args.format != "table":
        _emit_machine(args.format, TRIAL_BALANCE_FIELDS, accounts)
        return 0
    emit(table(["account", "debit", "credit", "balance"],
               [(r["account"], to_people(r["debit"], d), to_people(r["credit"], d),
                 to_people(r["balance"], d)) for r in rows],
               totals=("total", to_people(td, d), to_people(tc, d), to_people(td - tc, d)),
               right=(1, 2, 3)))
    return 0


STOCK_FIELDS = ("item", "location", "status", "lot", "qty", "value")


def run_stock(args) -> int:
    plant, conn = _open(args)
    d = plant.decimals
    rows = reports.stock_rows(conn)
    if args.format == "table":
        emit(table(["item", "location", "status", "lot", "qty", "value"],
                   [(r["item"], r["location"], r["status"], r["lot"] or "", qty(r["qty"]),
                     to_people(r["value"], d)) for r in rows],
                   totals=("total", f"{len(rows)} rows", "", "", "",
                           to_people(sum(r["value"] for r in rows), d)),
                   right=(4, 5)))
        return 0
    out = [{**r, "qty": qty(r["qty"]), "value": to_str(r["value"], d)} for r in rows]
    _emit_machine(args.format, STOCK_FIELDS, out)
    return 0


def run_wip(args) -> int:
    plant, conn = _open(args)
    d = plant.decimals
    rows = reports.wip_rows(conn)
    if args.format == "table":
        var_tot = {k: sum(r["variances"][k] for r in rows) for k in reports.VARIANCES}
        emit(table(["work order", "item", "status", "good", "scrap", "wip", "mat usage",
                    "mat price", "labor eff", "overhead eff"],
                   [(r["work_order"], r["item"], r["status"], qty(r["good"]), qty(r["scrap"]),
                     to_people(r["wip"], d),
                     *(to_people(r["variances"][k], d) for k in reports.VARIANCES))
                    for r in rows],
                   totals=("total", "", "", qty(sum(r["good"] for r in rows)),
                           qty(sum(r["scrap"] for r in rows)),
                           to_people(sum(r["wip"] for r in rows), d),
                           *(to_people(var_tot[k], d) for k in reports.VARIANCES)),
                   right=(3, 4, 5, 6, 7, 8, 9)))
        return 0
    out = [{"work_order": r["work_order"], "item": r["item"], "status": r["status"],
            "good": qty(r["good"]), "scrap": qty(r["scrap"]), "wip": to_str(r["wip"], d),
            "variances": {k: to_str(v, d) for k, v in r["variances"].items()}} for r in rows]
    if args.format == "csv":
        flat = [{**{k: v for k, v in r.items() if k != "variances"}, **r["variances"]}
                for r in out]
        emit(to_csv(("work_order", "item", "status", "good", "scrap", "wip",
                     *reports.VARIANCES), flat))
        return 0
    _emit_machine(args.format, (), out)
    return 0


def _emit_machine(fmt: str, fields, rows: list[dict]) -> None:
    if fmt == "json":
        emit(dumps(rows))
    elif fmt == "jsonl":
        emit(jsonl(rows))
    else:
        emit(to_csv(fields, rows))
