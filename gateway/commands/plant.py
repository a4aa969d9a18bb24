"""`gateway plant trial-balance | lag -c plant.toml`: the consolidated plant ledger, read-only."""

from __future__ import annotations

import sys

from gateway.commands._common import Exit, emit
from gateway.formats import dumps, table
from gateway.money import to_people, to_str

__all__ = ["add_arguments", "run"]


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="plant_command", metavar="VIEW", required=True)
    for name, help_text in (("trial-balance", "debit, credit, balance per gateway and account"),
                            ("lag", "per gateway: last batch applied, how far behind, quarantined")):
        v = sub.add_parser(name, help=help_text, description=help_text)
        v.add_argument("-c", "--config", required=True, metavar="FILE", help="plant.toml")
        v.add_argument("--format", choices=("table", "json"), default="table")


def _connect(cfg):
    import psycopg

    from gateway.plant.config import ConfigError

    try:
        return psycopg.connect(cfg.dsn(), autocommit=True, connect_timeout=10)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL ({cfg.postgres.dsn_env}): {str(exc).strip()}", file=sys.stderr)
    raise Exit(1)


def run(args) -> int:
    from gateway.commands.consolidate import load

    cfg = load(args.config, reach_nats=False)  # reads PostgreSQL only
    with _connect(cfg) as conn:
        from gateway.plant.schema import ensure_schema

        ensure_schema(conn)  # a plant not consolidated yet reads as empty, not as an error
        if args.plant_command == "trial-balance":
            _trial_balance(conn, cfg, args.format)
        else:
            _lag(conn, args.format)
    return 0


def _trial_balance(conn, cfg, fmt: str) -> None:
    from gateway.plant.views import trial_balance

    d = cfg.plant.currency_decimals
    rows = trial_balance(conn)
    gateways = sorted({r["gateway"] for r in rows} | set(cfg.plant.gateways))
    by_gw = {g: [r for r in rows if r["gateway"] == g] for g in gateways}
    td = sum(r["debit"] for r in rows)
    tc = sum(r["credit"] for r in rows)
    if fmt == "json":
        emit(dumps({"currency": cfg.plant.currency, "gateways": [
            {"gateway": g, "accounts": [{"account": r["account"], "debit": to_str(r["debit"], d),
                                         "credit": to_str(r["credit"], d),
                                         "balance": to_str(r["balance"], d)} for r in rs],
             "debit": to_str(sum(r["debit"] for r in rs), d),
             "credit": to_str(sum(r["credit"] for r in rs), d)} for g, rs in by_gw.items()],
            "debit": to_str(td, d), "credit": to_str(tc, d)}))
        return
    body = []
    for g, rs in by_gw.items():
        body += [(g, r["account"], to_people(r["debit"], d), to_people(r["credit"], d),
                  to_people(r["balance"], d)) for r in rs]
        gd, gc = sum(r["debit"] for r in rs), sum(r["credit"] for r in rs)
        body.append((g, "(gateway total)", to_people(gd, d), to_people(gc, d), to_people(gd - gc, d)))
    emit(table(["gateway", "account", "debit", "credit", "balance"], body,
               totals=("total", "", to_people(td, d), to_people(tc, d), to_people(td - tc, d)),
               right=(2, 3, 4)))


def _lag(conn, fmt: str) -> None:
    from gateway.plant.views import lag

    rows = lag(conn)
    if fmt == "json":
        emit(dumps([{**r, "last_created_at": _iso(r["last_created_at"]),
                     "last_applied_at": _iso(r["last_applied_at"])} for r in rows]))
        return
    emit(table(["gateway", "last seq", "last batch", "created", "applied", "behind s", "idle s",
                "batches", "lines", "quarantined"],
               [(r["gateway"], r["last_seq"], r["last_batch"] or "never", _iso(r["last_created_at"]),
                 _iso(r["last_applied_at"]), _secs(r["behind_s"]), _secs(r["idle_s"]),
                 r["batches"], r["lines"], r["quarantined"]) for r in rows],
               right=(1, 5, 6, 7, 8, 9)))


def _iso(t) -> str | None:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z") if t else None


def _secs(s: float | None) -> str:
    return "" if s is None else f"{s:.1f}"
