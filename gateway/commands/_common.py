"""What every data command shares: the -c/--format options and opening the plant."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from gateway.formats import FORMATS


@dataclass
class Plant:
    config: object
    master: object
    db: str
    decimals: int
    currency: str


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, metavar="FILE",
                   help="gateway.toml of the plant")


def add_format(p: argparse.ArgumentParser, choices=FORMATS) -> None:
    p.add_argument("--format", choices=choices, default="table")


class Exit(SystemExit):
    pass


def load_config_or_exit(path: str, load=None):
    """The config at `path` (gateway.toml; `load` reads another kind, say plant.toml),
    or print every problem it has and exit 1."""
    from gateway.config import ConfigError, load_config

    try:
        return (load or load_config)(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise Exit(1) from None


def load_plant(args: argparse.Namespace) -> Plant:
    """Config + master data, or print every problem and exit 1."""
    from gateway.config import ConfigError
    from gateway.masterdata import load_master, missing_files
    from gateway.startup import StartupError

    cfg = load_config_or_exit(args.config)
    try:
        missing = missing_files(cfg.gateway.master_data)
        if missing:
            names = ", ".join(p.name for p in missing)
            raise StartupError(
                f"master data not found: {names} in {missing[0].parent}; export "
                f"{'them' if len(missing) > 1 else 'it'} from the ERP there (or fix "
                f"[gateway] master_data), then run `gateway check -c {args.config}`")
        master = load_master(cfg)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise Exit(1) from None
    g = cfg.gateway
    return Plant(cfg, master, str(g.db), int(g.currency_decimals), g.currency)


def open_readonly(plant: Plant):
    from gateway.journal import connect

    if not os.path.exists(plant.db):
        print(f"no journal at {plant.db}: nothing has been ingested yet", file=sys.stderr)
        raise Exit(1)
    return connect(plant.db, readonly=True)


def open_journal(plant: Plant, lazy: bool = False):
    from gateway.alerts import AlertBook
    from gateway.journal import Journal, JournalBusy
    from gateway.schema import SchemaError

    try:
        return Journal(plant.db, plant.master,
                       synchronous=getattr(plant.config.gateway, "synchronous", "FULL"),
                       lazy=lazy, limits=plant.config.limits,
                       unknown_po=plant.config.costing.unknown_po,
                       release_check=plant.config.costing.release_check,
                       alerts=AlertBook(plant.config.alerts, plant.master),
                       snapshot=plant.config.gateway.snapshots,
                       snapshot_every=plant.config.gateway.snapshot_every)
    except (JournalBusy, SchemaError) as exc:
        print(exc, file=sys.stderr)
        raise Exit(1) from None


def emit(text: str) -> None:
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
