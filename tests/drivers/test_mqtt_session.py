"""MQTT 5 session keys: identical id-less readings stay distinct, redeliveries map back,
and a device's `seq` gaps and restarts are reported."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3

from drivers.base import Reading
from drivers.mqtt import MQTT_311_LIMITS, Sequences
from gateway import schema
from gateway.mqtt_keys import PacketKeys
from simulators.mqtt_devices import MqttDeviceSimulator
from tests.drivers.test_mqtt import driver_for, running
from tests.support.mosquitto import mosquitto, mosquitto_tls_files  # noqa: F401 (fixtures)
from tests.support.net import wait_until


def test_sequence_gap_restart_and_redelivery():
    s = Sequences()
    assert s.check("d", 5, False) is None          # first seen: nothing to judge
    assert s.check("d", 6, False) is None
    gap = s.check("d", 9, False)
    assert gap is not None and "expected 7, saw 9" in gap and "2 readings missing" in gap
    assert s.check("d", 8, True) is None            # an earlier number again: redelivery
    restart = s.check("d", 1, False)
    assert restart is not None and "restarted" in restart and "expected 10" in restart
    assert s.check("d", 2, False) is None


def _reading(eid: str, ts: str, mid: int, dg: str, dup: bool) -> Reading:
    return Reading(device="p", kind="good", value=1, ts=ts,
                   attrs={"event_id": eid, "packet": ("gw", mid, dg), "dup": dup})


def test_a_redelivered_packet_takes_the_id_and_ts_it_was_committed_with(tmp_path):
    conn = sqlite3.connect(tmp_path / "j.db")
    schema.create(conn)
    keys = PacketKeys(conn)
    first = _reading("p:m1.0", "2026-12-06T10:00:00Z", 7, "abc", False)
    keys.note([PacketKeys.row(first)])
    again = keys.resolve(_reading("p:m2.0", "2026-12-06T10:05:00Z", 7, "abc", True))
    assert (again.attrs["event_id"], again.ts) == ("p:m1.0", "2026-12-06T10:00:00Z")
    # a new message on a reused packet id, or another payload, is a reading of its own
    new = _reading("p:m2.1", "2026-12-06T10:05:00Z", 7, "abc", False)
    assert keys.resolve(new) is new
    other = _reading("p:m2.2", "2026-12-06T10:05:00Z", 7, "xyz", True)
    assert keys.resolve(other) is other
    assert dataclasses.replace(again) == again


async def test_identical_id_less_readings_are_two_readings(mosquitto):
    driver = driver_for(mosquitto)
    sink = await running(driver)
    try:
        async with MqttDeviceSimulator(mosquitto.url, mosquitto.username,
                                       mosquitto.password) as sim:
            for _ in range(2):
                await sim.raw("plant/devices/press-1/readings",
                              b'{"device":"press-1","kind":"good","value":1}')
            await wait_until(lambda: len(sink.readings) == 2, what="2 readings")
    finally:
        await driver.stop()
    a, b = sink.readings
    assert a.attrs["event_id"] != b.attrs["event_id"]
    assert a.attrs["packet"][2] == b.attrs["packet"][2]  # same payload digest
    assert a.attrs["dup"] is False


class _V311Front:
    """A TCP front for a real broker that speaks only MQTT 3.1.1, as older brokers do: a
    CONNECT at protocol level 5 gets CONNACK 0x01 (unacceptable protocol version) and
    the connection closed; anything else is piped to the broker both ways."""

    def __init__(self, broker):
        self.broker = broker
        self.refused = 0

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.url = f"mqtt://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def _client(self, reader, writer):
        first = await reader.read(65536)
        # fixed header (1 byte + 1..4 byte length), then "\x00\x04MQTT" and the level
        i = 1
        while first[i] & 0x80:
            i += 1
        level = first[i + 1 + 6]
        if level == 5:
            self.refused += 1
            writer.write(b"\x20\x02\x00\x01")
            await writer.drain()
            writer.close()
            return
        up_r, up_w = await asyncio.open_connection(self.broker.host, self.broker.port)
        up_w.write(first)

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))


async def test_a_broker_without_mqtt5_gets_311_and_a_warning_naming_its_limits(mosquitto,
                                                                             caplog):
    async with _V311Front(mosquitto) as front:
        driver = driver_for(mosquitto, url=front.url)
        with caplog.at_level(logging.WARNING, logger="drivers.mqtt"):
            sink = await running(driver)
        try:
            assert front.refused == 1 and driver.protocol == 3
            async with MqttDeviceSimulator(mosquitto.url, mosquitto.username,
                                           mosquitto.password) as sim:
                await sim.count("press-1", "good", 3, line="WC-ASSY", id="press-1:1")
                await wait_until(lambda: len(sink.readings) == 1, what="the reading via 3.1.1")
        finally:
            await driver.stop()
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert MQTT_311_LIMITS in warning and driver.notice == MQTT_311_LIMITS
    assert "max_inflight_messages" in warning and "max_queued_messages" in warning
