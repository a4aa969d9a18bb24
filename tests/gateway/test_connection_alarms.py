"""A broker connection that cannot work is an alarm at once, naming its cause: a CA that
does not sign the broker, plain mqtt:// against the TLS port, mqtts:// against the plain
one, a wrong password. The real test Mosquitto, the real MQTT driver, the gateway runtime
and the dashboard: the log, `/metrics`, the overview page and the exceptions table each
say it within seconds, and the retries (with back-off) stay one fault episode."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import sqlite3

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from drivers.mqtt import MQTT_311_LIMITS, MqttDevices
from gateway.config import load_config
from gateway.dashboard import DashboardSettings, DashboardState, create_app
from gateway.masterdata import load_master
from gateway.metrics import Metrics
from gateway.runtime import Gateway
from gateway.users import UserStore
from simulators.certs import make_tls
from tests.drivers.test_mqtt_session import _V311Front
from tests.gateway.plant import write_plant
from tests.support.mosquitto import mosquitto, mosquitto_tls_files  # noqa: F401 (fixtures)

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "a-long-password-9"

# case: (driver settings from the broker and a foreign CA, cause label, words logged, level)
CASES = {
    "wrong_ca": (lambda b, ca: dict(url=b.tls_url, ca_file=ca),
                 "tls_untrusted", "TLS certificate verify failed", logging.ERROR),
    "plain_mqtt_on_the_tls_port": (lambda b, ca: dict(url=f"mqtt://{b.host}:{b.tls_port}"),
                                   "no_mqtt_answer", "no MQTT answer", logging.WARNING),
    "mqtts_on_the_plain_port": (lambda b, ca: dict(url=f"mqtts://{b.host}:{b.port}",
                                                   ca_file=b.ca_file),
                                "not_tls", "not a TLS port", logging.WARNING),
    "wrong_password": (lambda b, ca: dict(url=b.url, password="not-the-password"),
                       "not_authorised", "not authorised", logging.ERROR),
}


@pytest.fixture(scope="module")
def foreign_ca(tmp_path_factory) -> str:
    """A CA of its own that never signed the test broker's certificate."""
    return str(make_tls(tmp_path_factory.mktemp("foreign-ca")).ca.cert)


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("users") / "users.toml"
    UserStore(path).add("maria", "supervisor", PASSWORD)
    return path


async def _until(cond, timeout: float, what: str):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (got := cond()):
        assert loop.time() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)
    return got


@pytest.mark.parametrize("case", CASES)
async def test_a_connection_that_cannot_work_is_an_alarm_at_once_naming_its_cause(
        case, tmp_path, mosquitto, foreign_ca, users_file, caplog):
    settings, cause, words, level = CASES[case]
    cfg = load_config(write_plant(tmp_path))
    cfg = msgspec.structs.replace(cfg, gateway=msgspec.structs.replace(
        cfg.gateway, db=str(tmp_path / "g.db")))
    kw = {"username": mosquitto.username, "password": mosquitto.password,
          **settings(mosquitto, foreign_ca)}
    driver = MqttDevices("line2", topics="plant/line2/+/readings", backoff_initial=0.05,
                         backoff_max=0.4, **kw)
    driver.timeout = 3.0
    metrics = Metrics()
    gw = Gateway(cfg, load_master(cfg), metrics=metrics, drivers=[driver])
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="gateway")
    started = asyncio.get_running_loop().time()
    task = asyncio.create_task(gw.run(stop))
    client = await _dashboard(tmp_path, users_file, gw, metrics)
    try:
        # The log: once, at once, at the level the cause deserves.
        told = await _until(lambda: [r for r in caplog.records if words in r.getMessage()],
                            4.0, f"a log line saying {words!r}")
        assert told[0].levelno == level and told[0].name == "gateway", told[0]
        assert "device line2: cannot connect" in told[0].getMessage()
        assert asyncio.get_running_loop().time() - started < 4.0

        # /metrics: the fault gauge names the cause; the counter shows the retries.
        resp = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        text = await resp.text()
        assert f'gateway_device_fault{{cause="{cause}",device="line2"}} 1.0' in text, text
        assert 'gateway_device_connected{device="line2"} 0.0' in text

        # The dashboard: the device row carries the cause, escaped as text.
        overview = html.unescape(await (await client.get("/")).text())
        assert words in overview and "line2" in overview

        # Retries with back-off go on, and stay one open fault episode with one reason.
        def faults() -> float:
            return metrics.registry.get_sample_value(
                "gateway_device_faults_total", {"device": "line2", "cause": cause}) or 0.0
        await _until(lambda: faults() >= 3, 8.0, "three retries")
        await _until(lambda: _rows(tmp_path / "g.db"), 4.0, "the episode's exceptions row")
        await _until(lambda: _rows(tmp_path / "g.db")[0][2] >= 3, 4.0, "three occurrences")
        rows = _rows(tmp_path / "g.db")
        assert len(rows) == 1 and rows[0][0] == "open" and words in rows[0][1], rows
        assert len([r for r in caplog.records if words in r.getMessage()]) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.close()


async def _dashboard(tmp_path, users_file, gw, metrics):
    """The dashboard app over this gateway, started, with maria logged in."""
    state = DashboardState(db_path=tmp_path / "g.db", users=UserStore(users_file),
                           settings=DashboardSettings(gateway_id="t", secure_cookies=False,
                                                      metrics_token="scrape-me"),
                           metrics=metrics, devices=gw.devices)
    client = TestClient(TestServer(create_app(state), host="127.0.0.1"))
    await client.start_server()
    page = await client.get("/login")
    token = CSRF_RE.search(await page.text()).group(1)
    origin = str(client.make_url("/")).rstrip("/")
    resp = await client.post("/login", data={"csrf": token, "name": "maria", "next": "/",
                                             "password": PASSWORD},
                             headers={"Origin": origin}, allow_redirects=False)
    assert resp.status in (302, 303), await resp.text()
    return client


async def test_a_broker_that_refuses_mqtt5_shows_on_the_device_row_with_its_limits(
        tmp_path, mosquitto, users_file):
    """Connected over 3.1.1 because the broker refused 5: the device row says, in the
    log's words, which broker settings now bound what the broker holds for the gateway."""
    cfg = load_config(write_plant(tmp_path))
    cfg = msgspec.structs.replace(cfg, gateway=msgspec.structs.replace(
        cfg.gateway, db=str(tmp_path / "g.db")))
    async with _V311Front(mosquitto) as front:
        driver = MqttDevices("line2", url=front.url, topics="plant/line2/+/readings",
                             username=mosquitto.username, password=mosquitto.password)
        metrics = Metrics()
        gw = Gateway(cfg, load_master(cfg), metrics=metrics, drivers=[driver])
        stop = asyncio.Event()
        task = asyncio.create_task(gw.run(stop))
        client = await _dashboard(tmp_path, users_file, gw, metrics)
        try:
            await _until(lambda: gw.status.get("line2") and
                         gw.status["line2"].state == "connected", 8.0, "connected")
            assert front.refused == 1
            row = next(d for d in gw.devices() if d["id"] == "line2")
            assert row["state"] == "connected" and row["notice"] == MQTT_311_LIMITS
            overview = html.unescape(await (await client.get("/")).text())
            assert MQTT_311_LIMITS in overview
            assert "max_inflight_messages" in overview and "max_queued_messages" in overview
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await client.close()


def _rows(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT status, reason, occurrences FROM exceptions WHERE kind='device_error'"
                            " AND source='line2'").fetchall()
