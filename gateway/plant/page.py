"""The consolidator's own HTTP server: the plant page and /metrics, on loopback only.

The plant page shows the trial balance per gateway and in total, the lag per gateway
and its last batch, in the line dashboard's look (its stylesheet and card macro). It has
no login of its own, so `[http] host` must be a loopback address (checked when
plant.toml is read): reach it from elsewhere through an SSH tunnel or a proxy that logs
people in. /metrics serves the process's `plant_` series and the ledger's per-gateway lag.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import jinja2
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily

from gateway.dashboard.app import STATIC
from gateway.dashboard.render import make_environment
from gateway.plant.config import PlantConfig
from gateway.plant.metrics import PlantMetrics
from gateway.plant.views import lag, trial_balance

__all__ = ["LagCollector", "create_app", "plant_page"]

_CFG = web.AppKey("cfg", PlantConfig)
_METRICS = web.AppKey("metrics", PlantMetrics)
_DSN = web.AppKey("dsn", str)
_ENV = web.AppKey("env", jinja2.Environment)


def _environment(decimals: int) -> jinja2.Environment:
    """The line dashboard's environment (filters, macros), with the plant's template first."""
    env = make_environment(decimals)
    env.loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                      env.loader])
    return env


def _read(dsn: str) -> tuple[list[dict], list[dict], int]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        held = conn.execute("SELECT count(*) FROM plant_quarantine").fetchone()[0]
        return trial_balance(conn), lag(conn), held


def plant_page(env: jinja2.Environment, cfg: PlantConfig, rows: list[dict], lags: list[dict],
               quarantined: int) -> str:
    """The page's HTML from the views' rows (amounts in minor units)."""
    gateways = sorted({r["gateway"] for r in rows} | set(cfg.plant.gateways))
    per = []
    for g in gateways:
        accounts = [r for r in rows if r["gateway"] == g]
        per.append({"gateway": g, "accounts": accounts, "debit": sum(a["debit"] for a in accounts),
                    "credit": sum(a["credit"] for a in accounts)})
    return env.get_template("plant.html").render(
        plant=cfg.plant.id, currency=cfg.plant.currency, gateways=per, lag=lags,
        batches=sum(x["batches"] for x in lags), quarantined=quarantined,
        debit=sum(g["debit"] for g in per), credit=sum(g["credit"] for g in per),
        listen=f"{cfg.http.host}:{cfg.http.port}")


async def _page(request: web.Request) -> web.Response:
    app = request.app
    rows, lags, held = await asyncio.to_thread(_read, app[_DSN])
    return web.Response(text=plant_page(app[_ENV], app[_CFG], rows, lags, held),
                        content_type="text/html")


async def _metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(generate_latest, request.app[_METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class LagCollector:
    """`plant_gateway_lag_seconds{gateway}` and `plant_gateway_last_seq{gateway}`, read from
    the ledger at each scrape (so every consolidator of the plant reports the same)."""

    def __init__(self, dsn: str):
        self.dsn = dsn

    def describe(self):  # nothing to say before a scrape: no query at registration
        return []

    def collect(self):
        behind = GaugeMetricFamily("plant_gateway_lag_seconds", "Last batch applied minus the "
                                   "time its gateway made it", labels=["gateway"])
        last = GaugeMetricFamily("plant_gateway_last_seq", "Sequence number of the gateway's "
                                 "last batch applied", labels=["gateway"])
        _, lags, _ = _read(self.dsn)
        for g in lags:
            last.add_metric([g["gateway"]], g["last_seq"])
            if g["behind_s"] is not None:
                behind.add_metric([g["gateway"]], g["behind_s"])
        yield behind
        yield last


def create_app(cfg: PlantConfig, metrics: PlantMetrics) -> web.Application:
    app = web.Application()
    app[_CFG], app[_METRICS], app[_DSN] = cfg, metrics, cfg.dsn()
    app[_ENV] = _environment(cfg.plant.currency_decimals)
    metrics.registry.register(LagCollector(app[_DSN]))
    app.router.add_get("/", _page)
    app.router.add_get("/metrics", _metrics)
    app.router.add_static("/static/", STATIC)
    return app
