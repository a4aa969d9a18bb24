"""`gateway run` with a real Mosquitto (passwords required): canonical events and device
counts journaled exactly once, through duplicate delivery and a kill -9 before commit."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from simulators.mqtt_devices import MqttDeviceSimulator
from tests.e2e.procs import journal_rows, reaped
from tests.gateway.plant import GATEWAY_TOML, ROOT, ev, write_plant
from tests.support.mosquitto import mosquitto, mosquitto_tls_files  # noqa: F401 (fixtures)

MQTT = """
[mqtt]
url = "{url}"
username_env = "T_MQTT_USER"
password_env = "T_MQTT_PASSWORD"
events_topic = "plant/events"

[[devices]]
id = "line2"
driver = "mqtt"
topic = "plant/line2/+/readings"
"""


def _start(cfg, broker, failpoints: str = "") -> subprocess.Popen:
    env = {**os.environ, "T_MQTT_USER": broker.username, "T_MQTT_PASSWORD": broker.password,
           "GATEWAY_FAILPOINTS": failpoints}
    return subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(cfg)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _q(db, sql):
    return journal_rows(db, sql)


async def _until(fn, want, proc, timeout=30.0):
    """Wait for fn() == want; on failure say what was there (and the raw rows)."""
    deadline = time.monotonic() + timeout
    while (got := fn()) != want:
        assert time.monotonic() < deadline, f"waited for {want!r}, have {got!r}"
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"gateway exited {proc.returncode}: {proc.stderr.read()}")
        await asyncio.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_mqtt_events_and_counts_exactly_once_across_duplicates_and_kill9(tmp_path,
                                                                              mosquitto):
    cfg = write_plant(tmp_path, GATEWAY_TOML + MQTT.format(url=mosquitto.url))
    db = str(tmp_path / "var" / "gateway.db")
    receipts = [ev(f"r{i}", "receipt", item="A", qty=1, location="L1", unit_price=2.0)
                for i in range(6)]
    async with MqttDeviceSimulator(mosquitto.url, mosquitto.username, mosquitto.password,
                                   client_id="erp") as erp:
        # First run: subscribe (a persistent session), then die before its 2nd commit.
        proc = _start(cfg, mosquitto, "journal.before_commit=kill@2")
        with reaped(proc):
            # Until the gateway has subscribed once, the broker has no session to queue
            # for: the ERP resends until it sees the release journaled (ids dedupe).
            deadline = time.monotonic() + 60
            while _q(db, "SELECT id FROM events") != [("rel",)]:
                assert time.monotonic() < deadline and proc.poll() is None, \
                    f"release never journaled: {proc.poll()} {_q(db, 'SELECT id FROM events')}"
                await erp.event(ev("rel", "wo_release", work_order="WO", item="F", qty=9,
                                   line="WC2"))
                await asyncio.sleep(0.5)
            for e in receipts[:3]:
                await erp.event(e)
            assert proc.wait(timeout=20) == -signal.SIGKILL
        assert _q(db, "SELECT id FROM events") == [("rel",)]  # nothing after the 1st commit

        # While it is down: more events, one twice, one conflicting, garbage, and counts.
        for e in receipts[3:]:
            await erp.event(e)
        await erp.event(receipts[4])
        await erp.event({**receipts[5], "qty": 99})
        await erp.raw("plant/events", b"{not json")
        count = dict(topic="plant/line2/press-1/readings", line="WC2", id="press-1:good:1",
                     ts="2026-11-20T08:00:05Z")
        await erp.reading("press-1", "good", 2, **count)
        await erp.reading("press-1", "good", 2, **count)  # the device resent it

        proc = _start(cfg, mosquitto)
        with reaped(proc):
            want = [("rel",)] + [(f"r{i}",) for i in range(6)] + [("press-1:good:1",)]
            await _until(lambda: sorted(_q(db, "SELECT id FROM events")), sorted(want), proc)
            await _until(lambda: _q(db, "SELECT kind, event_id FROM exceptions WHERE kind NOT"
                                        " IN ('negative_stock', 'short_components')"
                                        " ORDER BY kind"),
                         [("conflict", "r5"), ("decode_error", None)], proc)
            await asyncio.sleep(1.0)  # nothing more arrives late
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, proc.stderr.read()

    assert len(_q(db, "SELECT id FROM events")) == 8
    assert _q(db, "SELECT good FROM work_orders") == [(2.0,)]
    [(raw,)] = _q(db, "SELECT raw FROM exceptions WHERE kind='decode_error'")
    assert raw == "{not json"
    [(conflict,)] = _q(db, "SELECT raw FROM exceptions WHERE kind='conflict'")
    assert json.loads(conflict)["qty"] == 99
    [(reading,)] = _q(db, "SELECT reading FROM events WHERE id='press-1:good:1'")
    assert json.loads(reading)["device"] == "press-1"
