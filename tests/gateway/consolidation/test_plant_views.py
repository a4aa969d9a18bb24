"""`gateway plant trial-balance | lag` through the real CLI, over a real PostgreSQL."""

from __future__ import annotations

import json

import psycopg

from gateway.plant.apply import Rules, apply_message
from gateway.plant.schema import ensure_schema, register_gateways
from tests.gateway.plant import gateway
from tests.support.postgres import pg_cluster, postgres_dsn  # noqa: F401 (fixtures)

from .batches import batch, body
from .plant_toml import write_plant_toml

RULES = Rules(currency="EUR", decimals=2, gateways=frozenset({"line1", "line2"}))


def _fill(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_schema(conn)
        register_gateways(conn, ["line1", "line2"])
        apply_message(conn, body(batch("line1", 1, [123456, 1])), RULES)
        apply_message(conn, body(batch("line1", 2, [99])), RULES)
        apply_message(conn, body(batch("line2", 1, [5000])), RULES)
        apply_message(conn, body(batch("line2", 3, [7])), RULES, final=True)  # a gap


def test_trial_balance_per_gateway_and_in_total(tmp_path, postgres_dsn):
    _fill(postgres_dsn)
    toml = write_plant_toml(tmp_path)
    env = {"PLANT_TEST_DSN": postgres_dsn}
    out = gateway("plant", "trial-balance", "-c", str(toml), env=env, check=True).stdout
    assert out.splitlines() == [
        "gateway  account             debit    credit    balance",
        "-------  ---------------  --------  --------  ---------",
        "line1    1300                 0.00  1,235.56  -1,235.56",
        "line1    1400             1,235.56      0.00   1,235.56",
        "line1    (gateway total)  1,235.56  1,235.56       0.00",
        "line2    1300                 0.00     50.00     -50.00",
        "line2    1400                50.00      0.00      50.00",
        "line2    (gateway total)     50.00     50.00       0.00",
        "-------  ---------------  --------  --------  ---------",
        "total                     1,285.56  1,285.56       0.00",
    ]
    doc = json.loads(gateway("plant", "trial-balance", "-c", str(toml), "--format", "json",
                             env=env, check=True).stdout)
    assert (doc["debit"], doc["credit"]) == ("1285.56", "1285.56")
    assert [(g["gateway"], g["debit"]) for g in doc["gateways"]] == [("line1", "1235.56"),
                                                                   ("line2", "50.00")]


def test_lag_shows_each_gateway_and_what_is_held(tmp_path, postgres_dsn):
    _fill(postgres_dsn)
    toml = write_plant_toml(tmp_path, gateways=("line1", "line2", "line3"))
    env = {"PLANT_TEST_DSN": postgres_dsn}
    rows = json.loads(gateway("plant", "lag", "-c", str(toml), "--format", "json",
                              env=env, check=True).stdout)
    got = {r["gateway"]: (r["last_seq"], r["last_batch"], r["batches"], r["quarantined"]) for r in rows}
    assert got == {"line1": (2, "line1-2", 2, 0), "line2": (1, "line2-1", 1, 1)}
    table = gateway("plant", "lag", "-c", str(toml), env=env, check=True).stdout
    assert "line2" in table and "line2-1" in table


def test_an_unset_dsn_variable_is_named(tmp_path):
    toml = write_plant_toml(tmp_path, dsn_env="PLANT_DSN_NOT_SET")
    proc = gateway("plant", "lag", "-c", str(toml), env={"PLANT_DSN_NOT_SET": ""})
    assert proc.returncode == 1
    assert "environment variable PLANT_DSN_NOT_SET is not set" in proc.stderr
