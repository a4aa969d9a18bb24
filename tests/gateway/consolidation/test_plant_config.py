"""plant.toml: a good file loads; a bad one is refused with every problem named at once."""

from __future__ import annotations

import pytest

from gateway.plant.config import ConfigError, load_plant_config

from .plant_toml import write_plant_toml


def test_a_good_file_loads(tmp_path):
    cfg = load_plant_config(write_plant_toml(tmp_path))
    assert cfg.plant.gateways == ["line1", "line2"]
    assert cfg.nats.durable == "plant1-consolidator"
    assert cfg.nats.gap_wait_s > cfg.nats.ack_wait_s


def test_every_problem_is_listed_at_once(tmp_path):
    path = write_plant_toml(tmp_path, servers=["http://x:4222"], gateways=("a", "a"),
                            extra_nats="password = 'hunter2'\nack_wait_s = -1\nfetch_btach = 5\n")
    with pytest.raises(ConfigError) as err:
        load_plant_config(path)
    text = "\n".join(err.value.problems)
    assert "nats.servers[0]: must match" in text and "'http://x:4222'" in text
    assert "nats.password: secrets come from environment variables" in text
    assert "hunter2" not in text
    assert "nats.ack_wait_s: must be > 0" in text
    assert "nats.fetch_btach: unknown key (value 5); did you mean 'fetch_batch'?" in text


def test_cross_key_rules(tmp_path, monkeypatch):
    monkeypatch.delenv("NATS_PW_UNSET", raising=False)
    path = write_plant_toml(tmp_path, gateways=("a", "b", "a"), extra_nats=(
        "user_env = 'USER'\npassword_env = 'NATS_PW_UNSET'\nack_wait_s = 60\ngap_wait_s = 30\n"))
    with pytest.raises(ConfigError) as err:
        load_plant_config(path)
    text = "\n".join(err.value.problems)
    assert "plant.gateways: listed more than once: a" in text
    assert "nats.password_env: environment variable NATS_PW_UNSET is not set" in text
    assert "nats.gap_wait_s: must be longer than ack_wait_s" in text


def test_the_dsn_comes_from_the_environment(tmp_path, monkeypatch):
    cfg = load_plant_config(write_plant_toml(tmp_path, dsn_env="PLANT_DSN_T"))
    monkeypatch.delenv("PLANT_DSN_T", raising=False)
    with pytest.raises(ConfigError, match="environment variable PLANT_DSN_T is not set"):
        cfg.dsn()
    monkeypatch.setenv("PLANT_DSN_T", "host=/tmp dbname=x")
    assert cfg.dsn() == "host=/tmp dbname=x"


def test_missing_sections_are_named(tmp_path):
    path = tmp_path / "plant.toml"
    path.write_text("[plant]\nid = 'p'\ncurrency = 'EUR'\ngateways = []\n")
    with pytest.raises(ConfigError) as err:
        load_plant_config(path)
    text = "\n".join(err.value.problems)
    assert "plant.gateways: must hold at least 1 item(s)" in text
    assert "nats: missing (required)" in text and "postgres: missing (required)" in text


def test_ledger_readers_do_not_need_the_nats_credentials(tmp_path, monkeypatch):
    """`gateway plant trial-balance | lag` read PostgreSQL only: a controller's shell
    without the consolidator's NATS password still gets the reports."""
    monkeypatch.delenv("NATS_PW_UNSET", raising=False)
    monkeypatch.delenv("NATS_USER_UNSET", raising=False)
    path = write_plant_toml(tmp_path, servers=["tls://127.0.0.1:4222"], extra_nats=(
        "user_env = 'NATS_USER_UNSET'\npassword_env = 'NATS_PW_UNSET'\nca_file = 'no-such-ca.pem'\n"))
    with pytest.raises(ConfigError) as err:
        load_plant_config(path)
    text = "\n".join(err.value.problems)
    assert "environment variable NATS_PW_UNSET is not set" in text
    assert "nats.ca_file: file not found: no-such-ca.pem" in text
    cfg = load_plant_config(path, reach_nats=False)
    assert cfg.nats.user_env == "NATS_USER_UNSET"
