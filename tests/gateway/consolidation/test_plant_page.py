"""The consolidator's plant page and /metrics over a real PostgreSQL; loopback only."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.plant.apply import Rules, apply_message
from gateway.plant.config import ConfigError, load_plant_config
from gateway.plant.metrics import PlantMetrics
from gateway.plant.page import create_app
from gateway.plant.schema import ensure_schema, register_gateways
from tests.support.postgres import pg_cluster, postgres_dsn  # noqa: F401 (fixtures)

from .batches import batch, body
from .plant_toml import write_plant_toml

RULES = Rules(currency="EUR", decimals=2, gateways=frozenset({"line1", "line2"}))


def _toml(tmp_path, host: str = "127.0.0.1"):
    path = write_plant_toml(tmp_path)
    path.write_text(path.read_text() + f'\n[http]\nhost = "{host}"\nport = 9300\n')
    return path


async def _get(cfg, metrics, path: str) -> tuple[int, str]:
    async with TestClient(TestServer(create_app(cfg, metrics))) as client:
        resp = await client.get(path)
        return resp.status, await resp.text()


def test_the_page_shows_trial_balance_lag_and_last_batch(tmp_path, postgres_dsn, monkeypatch):
    monkeypatch.setenv("PLANT_TEST_DSN", postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        ensure_schema(conn)
        register_gateways(conn, ["line1", "line2"])
        apply_message(conn, body(batch("line1", 1, [123456, 1])), RULES)
        apply_message(conn, body(batch("line2", 3, [7])), RULES, final=True)  # a gap: held
    status, html = asyncio.run(_get(load_plant_config(_toml(tmp_path)), PlantMetrics(), "/"))
    assert status == 200
    assert "1,234.57" in html                       # line1's total, in the plant currency
    assert "line1-1" in html                        # its last batch
    assert 'data-state="ok">balanced' in html       # debit = credit over the plant
    assert 'data-state="hold">1</span>' in html     # line2 has a batch in quarantine
    assert "/static/app.css" in html                # the line dashboard's look


def test_metrics_report_what_was_applied_and_the_lag_per_gateway(tmp_path, postgres_dsn, monkeypatch):
    monkeypatch.setenv("PLANT_TEST_DSN", postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        ensure_schema(conn)
        register_gateways(conn, ["line1", "line2"])
        apply_message(conn, body(batch("line1", 1, [500])), RULES)
    metrics = PlantMetrics()
    metrics.batches.labels("line1").inc()
    metrics.quarantined.labels("unbalanced").inc()
    status, text = asyncio.run(_get(load_plant_config(_toml(tmp_path)), metrics, "/metrics"))
    assert status == 200
    assert 'plant_batches_applied_total{gateway="line1"} 1.0' in text
    assert 'plant_quarantined_total{kind="unbalanced"} 1.0' in text
    assert 'plant_gateway_last_seq{gateway="line1"} 1.0' in text
    assert 'plant_gateway_last_seq{gateway="line2"} 0.0' in text
    assert 'plant_gateway_lag_seconds{gateway="line1"}' in text


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "plant.example"])
def test_the_page_is_refused_off_loopback(tmp_path, host):
    with pytest.raises(ConfigError) as exc:
        load_plant_config(_toml(tmp_path, host))
    assert any("http.host" in p and host in p for p in exc.value.problems), exc.value.problems
