"""MQTT 5 session keys: identical id-less readings stay distinct, redeliveries map back,
and a device's `seq` gaps and restarts are reported."""

from __future__ import annotations

import dataclasses
import sqlite3

from drivers.base import Reading
from drivers.mqtt import Sequences
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
    keys.committed([PacketKeys.row(first)])
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
