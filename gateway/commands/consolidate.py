"""`gateway consolidate -c plant.toml`: GL batches from JetStream into the plant ledger (see docs/plant.md)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from gateway.commands._common import load_config_or_exit

__all__ = ["add_arguments", "load", "run"]


def add_arguments(p) -> None:
    p.add_argument("-c", "--config", required=True, metavar="FILE", help="plant.toml")


def load(path: str, *, reach_nats: bool = True):
    """plant.toml, or print every problem and exit 1."""
    from functools import partial

    from gateway.plant.config import load_plant_config

    return load_config_or_exit(path, partial(load_plant_config, reach_nats=reach_nats))


def run(args) -> int:
    from gateway.plant.config import ConfigError
    from gateway.plant.consolidator import consolidate
    from gateway.plant.metrics import PlantMetrics

    cfg = load(args.config)
    try:
        cfg.dsn()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        metrics = PlantMetrics()
        runner = None
        if cfg.http is not None:
            from aiohttp import web

            from gateway.plant.page import create_app

            runner = web.AppRunner(create_app(cfg, metrics), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, cfg.http.host, cfg.http.port).start()
            logging.getLogger("gateway.plant").info(
                "plant page and /metrics on http://%s:%d/ (loopback only)", cfg.http.host, cfg.http.port)
        try:
            await consolidate(cfg, stop, metrics=metrics)
        finally:
            if runner is not None:
                await runner.cleanup()

    asyncio.run(main())
    return 0
