"""`gateway run -c FILE`: the production process — devices, journal, upstream, dashboard.

SIGTERM or SIGINT stops the drivers, commits everything already read, closes ports and
exits 0. A bad config lists every problem and exits 1 before anything starts.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Callable

from gateway.commands._common import add_config, load_plant

log = logging.getLogger("gateway")


def add_arguments(p) -> None:
    add_config(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")


def run(args) -> int:
    # Libraries (asyncua, paho, aiohttp) speak at WARNING, named by their logger; our
    # own lines (device connected / lost) at INFO: the console says what the gateway does.
    from gateway.logs import console_log

    console_log(verbose=args.verbose)
    plant = load_plant(args)
    from gateway.banner import banner
    from gateway.config import ConfigError

    def ready(info: dict) -> None:
        print("\n".join(banner(plant.config, info["events"], info.get("dashboard"))),
              flush=True)

    try:
        return asyncio.run(serve(plant.config, plant.master, on_ready=ready))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1


async def serve(config: Any, master: Any, *, drivers: list | None = None,
                stop: asyncio.Event | None = None, users: Any = None,
                secure_cookies: bool | None = None,
                on_ready: Callable[[dict], None] | None = None,
                on_gateway: Callable[[Any], None] | None = None) -> int:
    """Run until stopped. `drivers`/`users` let the demo pass its simulators' drivers and
    its demo accounts; production builds them from the config. `on_gateway` sees the
    Gateway before anything runs (the benchmark records its commits through it)."""
    from gateway import gc_policy
    from gateway.journal import JournalBusy
    from gateway.metrics import Metrics
    from gateway.runtime import Gateway
    from gateway.startup import StartupError

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    metrics = Metrics()
    try:
        gw = Gateway(config, master, metrics=metrics, drivers=drivers)
    except JournalBusy as exc:
        raise StartupError(str(exc)) from None
    if on_gateway is not None:
        on_gateway(gw)
    info: dict = {"db": str(config.gateway.db), "events": gw.journal.conn.execute(
        "SELECT count(*) FROM events").fetchone()[0]}
    sink = None
    if config.upstream is not None:
        from gateway.upstream.forwarder import forward, sink_from_config

        sink = sink_from_config(config)
        await _verify_upstream(sink, gw)
    runner = None
    if config.dashboard is not None:
        try:
            runner, url = await _start_dashboard(config, gw, metrics, users, secure_cookies)
        except BaseException:
            if sink is not None:
                await sink.close()
            gw.close()
            raise
        info["dashboard"] = url
    extra = []
    if sink is not None:
        extra.append(_forward(forward, str(config.gateway.db), sink, config, stop, metrics))
    if config.alerts.route:
        extra.append(_route_alerts(config, stop))
    gc_policy.settle()  # start-up is done: its heap is out of the collector's way
    if on_ready is not None:
        on_ready(info)
    try:
        await gw.run(stop, extra=extra)
    finally:
        if runner is not None:
            await runner.cleanup()
    return 0


async def _verify_upstream(sink, gw) -> None:
    """A sink that can tell upstream is not set up for it stops the start (see sink.py)."""
    from gateway.startup import StartupError
    from gateway.upstream.sink import UpstreamSetupError

    verify = getattr(sink, "verify", None)
    if verify is None:
        return
    try:
        await verify()
    except UpstreamSetupError as exc:
        await sink.close()
        gw.close()
        raise StartupError(f"upstream: {exc}") from None


async def _route_alerts(config, stop: asyncio.Event) -> None:
    """Alert transitions to their webhooks and MQTT topics, on a connection of their own."""
    from gateway.alerts.routes import AlertRoutes, sinks_from_config
    from gateway.journal import connect

    conn = connect(str(config.gateway.db))
    try:
        await AlertRoutes(conn, sinks_from_config(config)).run(stop)
    finally:
        conn.close()


async def _forward(forward, db: str, sink, config, stop: asyncio.Event, metrics) -> None:
    try:
        await forward(db, sink, config, stop, metrics=metrics)
    finally:
        await sink.close()


def _reread_users_on_sighup(loop: asyncio.AbstractEventLoop, app) -> None:
    """`kill -HUP` re-reads the users file now (it is also re-read on every request
    after it changed) and ends the sessions of users removed or changed in it."""
    from gateway.dashboard.auth import follow_users_file
    from gateway.dashboard.keys import SESSIONS, STATE

    def reread() -> None:
        gone = follow_users_file(app[SESSIONS], app[STATE].users, force=True)
        log.info("SIGHUP: users file %s re-read, %d session(s) ended",
                 app[STATE].users.path, len(gone))

    try:
        loop.add_signal_handler(signal.SIGHUP, reread)
    except (NotImplementedError, RuntimeError):  # not the main thread (tests)
        pass


async def _start_dashboard(config, gw, metrics, users, secure_cookies):
    from aiohttp import web

    from gateway.actions import make_act
    from gateway.audit import AuditLog
    from gateway.dashboard.app import create_app
    from gateway.dashboard.state import DashboardState
    from gateway.startup import StartupError, listen_failed
    from gateway.upstream.outbox import requeue
    from gateway.users import UserError, UserStore

    d = config.dashboard
    if users is None:
        try:
            users = UserStore(d.users_file)
        except (OSError, UserError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise StartupError(
                f"the dashboard users file {d.users_file} cannot be read ({reason}); fix it "
                f"or recreate it with `gateway user add -c {config.file} NAME`") from None
    loop = asyncio.get_running_loop()

    async def on_journal_thread(fn):
        return await loop.run_in_executor(gw.executor, fn)

    def retry_batch(seq: int) -> str:
        requeue(gw.journal.conn, seq)
        return f"batch {seq} queued again"

    settings = dashboard_settings(config, gw.master, secure_cookies)
    audit = AuditLog(config.gateway.db)
    ssl_context = _ssl_context(d)
    state = DashboardState(db_path=Path(config.gateway.db), users=users, settings=settings,
                           metrics=metrics, devices=gw.devices,
                           act=make_act(gw.journal, gw.mapper, on_journal_thread, retry_batch,
                                        config.alerts.route),
                           audit=audit, master=gw.master)
    app = create_app(state)
    app.on_cleanup.append(lambda _app: asyncio.to_thread(audit.close))
    _reread_users_on_sighup(loop, app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = d.host, d.port
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise listen_failed("dashboard", host, int(port), exc,
                            "stop the other process or choose a free port ([dashboard] "
                            "listen, or `gateway demo --port N`)") from None
    port = runner.addresses[0][1]  # the port bound, when the config said 0 (any)
    shown = f"[{host}]" if ":" in host else host
    return runner, f"{'https' if ssl_context else 'http'}://{shown}:{port}/"


def dashboard_settings(config, master, secure_cookies: bool | None = None):
    """What the dashboard shows and enforces, from the config's sections and master data
    (`secure_cookies`: the demo's override of [dashboard] secure_cookies)."""
    from gateway.account_names import names_by_code
    from gateway.alerts.rules import issue_standards
    from gateway.dashboard.lines import line_rates
    from gateway.dashboard.state import DashboardSettings
    from gateway.dashboard.wip import charged_later

    d = config.dashboard
    return DashboardSettings(
        gateway_id=config.gateway.id, currency=config.gateway.currency,
        currency_decimals=config.gateway.currency_decimals, wip_account=config.accounts.wip,
        labor_account=config.accounts.applied_labor,
        overhead_account=config.accounts.applied_overhead,
        revenue_account=config.accounts.revenue, cogs_account=config.accounts.cogs,
        ap_account=config.accounts.ap, ar_account=config.accounts.ar,
        accounts=config.accounts.by_key(),
        charged_later=charged_later(master), line_rates=line_rates(master),
        issue_standards=issue_standards(master),
        item_uoms={i.sku: i.uom for i in master.items},
        categories=config.categories,
        inventory_accounts=tuple(sorted({config.accounts.inventory.raw,
                                         config.accounts.inventory.semi,
                                         config.accounts.inventory.finished})),
        work_center_locations={w.id: w.location for w in master.work_centers},
        account_names=names_by_code(config.accounts.by_key(), config.accounts.names),
        secure_cookies=d.secure_cookies if secure_cookies is None else secure_cookies,
        session_max_s=d.session_max_hours * 3600,
        allowed_origins=tuple(d.allowed_origins), trusted_proxies=tuple(d.trusted_proxies),
        server_names=(*d.server_names, d.host), metrics_public=d.metrics_public,
        metrics_token=_metrics_token(d))


def _metrics_token(d) -> str | None:
    import os

    from gateway.startup import StartupError

    if d.metrics_token_env is None:
        return None
    token = os.environ.get(d.metrics_token_env, "")
    if not token.strip():
        raise StartupError(f"[dashboard] metrics_token_env names {d.metrics_token_env}, which "
                           "is not set (or empty) in the environment")
    return token.strip()


def _ssl_context(d):
    """The https context of [dashboard] tls_cert/tls_key, or None for plain http."""
    import ssl

    from gateway.startup import StartupError
    from gateway.tls import server_context

    if d.tls_cert is None:
        return None
    try:
        return server_context(d.tls_cert, d.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise StartupError(f"[dashboard] tls_cert {d.tls_cert} / tls_key {d.tls_key} cannot "
                           f"serve https: {exc}") from None
