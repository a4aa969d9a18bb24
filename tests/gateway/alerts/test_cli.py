"""`gateway alerts` on a journal written by the real `gateway ingest`."""

from __future__ import annotations

import csv
import io
import json

from gateway.config import load_config
from gateway.journal import connect
from gateway.metrics import Metrics
from tests.gateway.plant import gateway, write_events, write_plant


def _events():
    ts = "2026-11-20T08:00:00Z"
    yield {"id": "r", "type": "receipt", "ts": ts, "item": "A", "qty": 500, "location": "L1",
           "unit_price": 2.0}
    yield {"id": "rel", "type": "wo_release", "ts": ts, "work_order": "WO-17", "item": "S",
           "qty": 100, "line": "WC1"}
    yield {"id": "g", "type": "completion", "ts": ts, "work_order": "WO-17", "qty": 38,
           "location": "L1"}
    yield {"id": "s", "type": "scrap", "ts": "2026-11-20T08:05:00Z", "work_order": "WO-17",
           "qty": 4, "operation": 10}


def test_list_ack_and_refusal(tmp_path):
    cfg = write_plant(tmp_path)
    gateway("ingest", "-c", str(cfg), str(write_events(tmp_path / "e.jsonl", list(_events()))),
            check=True)
    out = gateway("alerts", "-c", str(cfg), "--state", "open", "--format", "json", check=True)
    [a] = json.loads(out.stdout)
    assert a["key"] == "scrap_rate:WO-17:op10" and a["first_seen"] == "2026-11-20T08:05:00Z"
    assert a["message"].startswith("scrap 9.5 % on WO-17 op 10 (4 of 42)")
    table = gateway("alerts", "-c", str(cfg), check=True).stdout
    assert "scrap_rate:WO-17:op10" in table and "open" in table
    gateway("alerts", "-c", str(cfg), "ack", "scrap_rate:WO-17:op10", "--user", "ann",
            "--note", "die worn, changing it", check=True)
    again = gateway("alerts", "-c", str(cfg), "ack", "scrap_rate:WO-17:op10", "--user", "bob")
    assert again.returncode == 1
    assert "is acknowledged, cannot be acknowledged" in again.stderr
    rows = list(csv.DictReader(io.StringIO(
        gateway("alerts", "-c", str(cfg), "--format", "csv", check=True).stdout)))
    assert [(r["state"], r["acked_by"], r["ack_note"]) for r in rows] == [
        ("acknowledged", "ann", "die worn, changing it")]
    assert gateway("alerts", "-c", str(cfg), "--state", "open", "--format", "json",
                   check=True).stdout.strip() == "[]"
    m = Metrics()
    m.refresh_from_db(connect(str(load_config(cfg).gateway.db), readonly=True))
    assert b'gateway_alerts_open{rule="scrap_rate",severity="warning"} 1.0' in m.render()
    assert gateway("replay", "-c", str(cfg)).returncode == 0


def test_route_config_fails_closed_outside_the_demo(tmp_path):
    from gateway.config import ConfigError
    import pytest
    from tests.gateway.plant import GATEWAY_TOML

    cfg = write_plant(tmp_path, GATEWAY_TOML + """
[[alerts.route]]
rules = ["scrap_rate", "nonsense"]
roles = ["boss"]
webhook = "http://alerts.example/hook"
mqtt_topic = "plant/alerts/#"
""")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    text = str(exc.value)
    assert "alerts.route[0].rules" in text and "nonsense" in text
    cfg.write_text(GATEWAY_TOML + """
[[alerts.route]]
roles = ["boss"]
webhook = "http://alerts.example/hook"
mqtt_topic = "plant/alerts/#"
""")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    problems = "\\n".join(exc.value.problems)
    assert "alerts.route[0].roles: unknown role 'boss'" in problems
    assert "alerts.route[0].webhook" in problems and "https" in problems
    assert "alerts.route[0].mqtt_topic: a publish topic cannot contain + or #" in problems
    assert "alerts.route[0].mqtt_topic: needs an [mqtt] section" in problems


def test_a_scrap_window_smaller_than_min_units_is_refused(tmp_path):
    from gateway.config import ConfigError
    import pytest
    from tests.gateway.plant import GATEWAY_TOML

    cfg = write_plant(tmp_path, GATEWAY_TOML + """
[alerts.scrap_rate]
min_units = 20
window_units = 10
""")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    [problem] = exc.value.problems
    assert problem.endswith("gateway.toml: alerts.scrap_rate.window_units: 10 is below"
                            " min_units 20: the window would never hold enough units to judge")
