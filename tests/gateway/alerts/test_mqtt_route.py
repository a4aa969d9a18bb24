"""The MQTT route through a real Mosquitto: each alert transition is published QoS 1 and
retained on <mqtt_topic>/<alert key>; a broker that is down, then up, gets each
transition at least once, the idempotency key in the payload telling a resend apart."""

from __future__ import annotations

import asyncio
import json
import random

import aiomqtt
import msgspec

from gateway.alerts.routes import AlertRoutes, sinks_from_config
from gateway.config import MqttSection
from gateway.journal import connect
from tests.gateway.alerts.conftest import section
from tests.gateway.alerts.test_routes import Clock
from tests.gateway.alerts.test_rules import STOCK, good, release, scrap
from tests.support.mosquitto import mosquitto, mosquitto_tls_files  # noqa: F401 (fixtures)
from tests.support.net import wait_until

TOPIC = "plant/alerts"
KEY = "scrap_rate:WO-1:op10"


def _config(alerts, broker):
    mqtt = msgspec.convert({"url": broker.url, "username_env": "ALERT_MQTT_USER",
                            "password_env": "ALERT_MQTT_PASSWORD"}, MqttSection)
    return type("C", (), {"alerts": alerts, "mqtt": mqtt})()


class Watcher:
    """A subscriber on <topic>/#, keeping what arrived (topic, qos, retain flag, body)."""

    def __init__(self, broker):
        self.client = aiomqtt.Client(broker.host, broker.port, username=broker.username,
                                     password=broker.password)
        self.got: list[tuple[str, int, bool, dict]] = []

    async def __aenter__(self):
        await self.client.__aenter__()
        await self.client.subscribe(f"{TOPIC}/#", qos=1)
        self.task = asyncio.ensure_future(self._read())
        return self

    async def _read(self):
        async for m in self.client.messages:
            self.got.append((str(m.topic), m.qos, m.retain, json.loads(m.payload)))

    async def __aexit__(self, *exc):
        self.task.cancel()
        await self.client.__aexit__(None, None, None)


async def test_broker_down_then_up_gets_each_alert_qos1_retained_per_key(plant_for, mosquitto):
    alerts = section(route=[{"rules": ["scrap_rate"], "mqtt_topic": TOPIC}])
    environ = {"ALERT_MQTT_USER": mosquitto.username, "ALERT_MQTT_PASSWORD": mosquitto.password}
    sinks = sinks_from_config(_config(alerts, mosquitto), environ)
    assert list(sinks) == ["0:mqtt"]
    p = plant_for(alerts)
    clock = Clock()
    conn = connect(p.path)
    routes = AlertRoutes(conn, sinks, backoff_base=1.0, backoff_cap=4.0,
                         rng=random.Random(7), clock=clock)
    try:
        await asyncio.to_thread(mosquitto.stop)
        p.send(STOCK, release(), good(18), scrap(3))     # opens (3 of 21): broker is down
        assert await routes.send_due() == 0              # refused connection: backs off
        [(attempts, error, next_at)] = conn.execute(
            "SELECT attempts, last_error, next_at FROM alert_deliveries").fetchall()
        assert attempts == 1 and error.startswith(f"MQTT {mosquitto.host}:{mosquitto.port}")
        p.send(good(50, minute=5))                       # resolves: the journal is not held
        await asyncio.to_thread(mosquitto.start)
        async with Watcher(mosquitto) as live:
            clock.now = next_at
            assert await routes.send_due() == 1          # the open transition, then
            assert await routes.send_due() == 1          # the resolution, in order
            await wait_until(lambda: len(live.got) == 2, 5, "two alert messages")
            # a resend (say the PUBACK was lost in a crash) carries the same key
            conn.execute("UPDATE alert_deliveries SET state = 'pending'")
            assert await routes.send_due() == 1
            await wait_until(lambda: len(live.got) == 3, 5, "the resend")
        first = p.ts(2)
        assert [(t, q, body["idempotency_key"]) for t, q, _, body in live.got] == [
            (f"{TOPIC}/{KEY}", 1, f"{KEY}:open:{first}"),
            (f"{TOPIC}/{KEY}", 1, f"{KEY}:resolved:{first}"),
            (f"{TOPIC}/{KEY}", 1, f"{KEY}:open:{first}")]
        assert len({body["idempotency_key"] for *_, body in live.got}) == 2
        assert live.got[0][3]["message"].startswith("scrap 14.3 % on WO-1 op 10 (3 of 21)")
        # a subscriber that comes later finds the alert's last state, retained
        await routes.send_due()                          # the resolution's resend, last
        async with Watcher(mosquitto) as late:
            await wait_until(lambda: late.got, 5, "the retained state")
        [(topic, qos, retained, body)] = late.got
        assert (topic, qos, retained, body["state"]) == (f"{TOPIC}/{KEY}", 1, True, "resolved")
    finally:
        await sinks["0:mqtt"].close()
        conn.close()
