"""`gateway` command line (see docs/operations.md). Each command lives in gateway/commands/<name>.py
with `add_arguments(parser)` and `run(args) -> int`; modules are imported lazily so
that `gateway check` does not pay for aiohttp or numba compilation it does not use."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "demo": ("gateway.commands.demo", "simulators + gateway + dashboard, nothing to configure"),
    "run": ("gateway.commands.run", "production run: devices, journal, upstream, dashboard"),
    "check": ("gateway.commands.check", "validate config and master data; print the roll-up"),
    "config-doc": ("gateway.commands.config_doc", "every gateway.toml key: type, default, use"),
    "ingest": ("gateway.commands.ingest", "append events from a JSON-lines file (idempotent)"),
    "journal": ("gateway.commands.reports", "journal lines"),
    "trial-balance": ("gateway.commands.reports", "debit, credit, balance per account"),
    "stock": ("gateway.commands.reports", "on hand by item, location, status, lot"),
    "wip": ("gateway.commands.reports", "work orders: counts, WIP, variances"),
    "ap": ("gateway.commands.subledgers", "open supplier invoices; GRNI not invoiced by PO"),
    "ar": ("gateway.commands.subledgers", "open receivables by sales order"),
    "margin": ("gateway.commands.subledgers", "margin per sales order, after its work orders'"
               " variances"),
    "trace": ("gateway.commands.trace", "GL line, event or batch to its reading; lot or shipment"),
    "reconcile": ("gateway.commands.reconcile", "discrepancies against an ERP snapshot"),
    "replay": ("gateway.commands.replay", "rebuild journal and projections from the events"),
    "exceptions": ("gateway.commands.exceptions", "exceptions: list, approve ID, dismiss ID"),
    "alerts": ("gateway.commands.alerts", "alerts: list, ack KEY, resolve KEY"),
    "outbox": ("gateway.commands.outbox", "upstream batches: list, retry, export"),
    "user": ("gateway.commands.user", "dashboard users"),
    "audit": ("gateway.commands.audit", "who did what on the dashboard and to its users"),
    "cert": ("gateway.commands.cert", "OPC-UA client key and certificate: cert create"),
    "bench": ("gateway.commands.bench", "benchmarks (see docs/performance.md)"),
    "consolidate": ("gateway.commands.consolidate", "plant: GL batches from JetStream into PostgreSQL"),
    "plant": ("gateway.commands.plant", "plant ledger views: trial-balance, lag"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__.split(". ")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            mod = importlib.import_module(module)
            add = getattr(mod, f"add_{name.replace('-', '_')}_arguments", None)
            (add or mod.add_arguments)(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from gateway import gc_policy

    gc_policy.tune()
    argv = sys.argv[1:] if argv is None else argv
    name = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=name if name in COMMANDS else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    mod = importlib.import_module(COMMANDS[args.command][0])
    runner = getattr(mod, f"run_{args.command.replace('-', '_')}", None) or mod.run
    from gateway.startup import StartupError

    try:
        return int(runner(args) or 0)
    except StartupError as exc:
        print(f"gateway {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
