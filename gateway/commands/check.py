"""`gateway check -c FILE [--online]`: validate gateway.toml and the master data without
starting anything; exit 1 listing every problem on stderr, or exit 0 printing the
standard-cost roll-up (see docs/operations.md). `--online` then tries each configured
endpoint once (gateway/online_check.py) and exits 1 if any of them fails."""

from __future__ import annotations

import argparse
import sys

from gateway.config import Config, inspect_config
from gateway.config_rules import insecure_warnings
from gateway.masterdata import inspect_master

COLUMNS = ("sku", "kind", "method", "level", "material", "labor", "overhead", "std",
           "given", "difference")
_LEFT = {"sku", "kind", "method"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default="gateway.toml", metavar="FILE",
                   help="gateway.toml to check (default: ./gateway.toml)")
    p.add_argument("--online", action="store_true",
                   help="also connect once to each broker, PLC, serial port and upstream")


def run(args: argparse.Namespace) -> int:
    offline, config = check_offline(args)
    if not args.online or config is None:
        return offline
    return max(offline, check_endpoints(config))


def check_endpoints(config: Config) -> int:
    """Each endpoint's line on stdout; 1 if any failed (counted on stderr)."""
    import asyncio

    from gateway.config import ConfigError
    from gateway.logs import console_log
    from gateway.online_check import check_online

    console_log(demo=config.demo is not None)
    try:
        outcomes = asyncio.run(check_online(config))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(outcome.line(), flush=True)
    failed = sum(not o.ok for o in outcomes)
    if failed:
        print(f"{config.file}: {failed} of {len(outcomes)} endpoint"
              f"{'s' if len(outcomes) != 1 else ''} failed", file=sys.stderr)
    return 1 if failed else 0


def check_offline(args: argparse.Namespace) -> tuple[int, Config | None]:
    """The file and the master data; the config, when it loaded, for --online."""
    config, problems = inspect_config(args.config)
    master = None
    if config is not None:
        for warning in insecure_warnings(config):
            print(warning, file=sys.stderr)
        master, master_problems = inspect_master(config)
        problems += master_problems
    rollup = None
    if master is not None and not problems:
        from costing.plant import MasterDataError
        from costing.rollup import roll_up

        try:
            rollup = roll_up(master)
        except MasterDataError as exc:
            problems.append(f"{config.gateway.master_data}/{exc}")  # type: ignore[union-attr]
    if problems or rollup is None or config is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        n = len(problems)
        print(f"{args.config}: {n} problem{'s' if n != 1 else ''}; nothing was started",
              file=sys.stderr)
        return 1, config
    print(render_rollup(rollup.rows, config.gateway.currency_decimals + 2))
    print(summary(args.config, config, master, rollup.rows))
    return 0, config


def render_rollup(rows: list, places: int) -> str:
    """The roll-up as an aligned table; money to `places` decimals (two more than the
    currency has, so sub-cent unit costs stay visible)."""
    def cell(row, col: str) -> str:
        value = getattr(row, col)
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:,.{places}f}"
        return str(value)

    table = [list(COLUMNS)] + [[cell(r, c) for c in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]

    def fmt(line: list[str]) -> str:
        return "  ".join(v.ljust(w) if c in _LEFT else v.rjust(w)
                         for v, w, c in zip(line, widths, COLUMNS)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(table[0]), rule] + [fmt(line) for line in table[1:]])


def summary(label: str, config: Config, master, rows: list) -> str:
    """One line: what was checked, named by the file as the user gave it."""
    rolled = sum(1 for r in rows if r.level > 0)
    frozen = [r for r in rows if r.difference is not None and abs(r.difference) > 5e-7]
    parts = [
        f"{len(master.items)} items ({len(master.items) - rolled} purchased, {rolled} rolled up)",
        f"{len(master.boms)} BOM lines", f"{len(master.routings)} routing steps",
        f"{len(master.work_centers)} work centers", f"{len(master.locations)} locations",
        f"{len(master.purchase_orders)} PO lines", f"{len(config.stations)} stations",
        f"{len(config.devices)} devices",
    ]
    verb = "differs" if len(frozen) == 1 else "differ"
    note = (f"; {len(frozen)} frozen standard cost{'s' if len(frozen) != 1 else ''} "
            f"{verb} from the roll-up" if frozen else "")
    demo = " (demo config: security relaxed on purpose)" if config.demo else ""
    return f"{label}: OK{demo}: {', '.join(parts)}{note}; costs in {config.gateway.currency}"
