"""One contract suite run against every driver, each against its real counterpart: the
OPC-UA driver against the PLC simulator, the serial scale and scanner on real
pseudo-terminals with their simulators, the MQTT driver against a real Mosquitto.

What every driver promises its sink (drivers/base.py): start and stop are harmless
twice over; a sink that fails does not stop it, and the reading it refused is delivered
later, never dropped; the connection's states are reported ("connected", "down",
"reconnecting"); an outage is one problem, however many retries it takes.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from drivers.base import DriverError, Reading, TransportError
from drivers.mqtt import MqttDevices
from drivers.opcua import OpcUaCounters
from drivers.serial_scale import SerialScale
from drivers.serial_scanner import SerialScanner
from simulators.mqtt_devices import MqttDeviceSimulator
from simulators.plc import PlcSimulator
from simulators.scale import ScaleSimulator
from simulators.scanner import ScannerSimulator
from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until

FAST = 0.05, 0.2  # backoff first and cap, seconds


class ContractSink:
    """A sink that keeps every call; it can refuse the first readings and fail problem()."""

    def __init__(self, refuse_readings: int = 0, fail_problems: bool = False):
        self.refuse_readings, self.fail_problems = refuse_readings, fail_problems
        self.readings: list[Reading] = []
        self.refused: list[Reading] = []
        self.problems: list[DriverError] = []
        self.states: list[str] = []

    async def reading(self, reading: Reading) -> None:
        if len(self.refused) < self.refuse_readings:
            self.refused.append(reading)
            raise RuntimeError("journal unavailable")  # the commit path is down a while
        self.readings.append(reading)
        if reading.ack is not None:
            await reading.ack()  # as after its commit

    async def problem(self, device: str, error: DriverError) -> None:
        self.problems.append(error)
        if self.fail_problems:
            raise RuntimeError("exceptions table locked")

    def connection(self, device: str, state: str) -> None:
        self.states.append(state)

    def count(self, state: str) -> int:
        return self.states.count(state)


class OpcUaCase:
    holds = False  # a refused count is read again from the PLC after reconnecting

    async def setup(self, tmp_path):
        self.plc = PlcSimulator({"Line": "UInt32"})
        await self.plc.start()

    async def teardown(self):
        await self.plc.stop()

    def driver(self):
        return OpcUaCounters("plc1", self.plc.endpoint,
                             [{"node": "ns=2;s=Line.Good", "line": "WC-A", "kind": "good"}],
                             security="None", allow_insecure=True,
                             backoff_initial=FAST[0], backoff_max=FAST[1])

    async def produce(self, n: int):
        await self.plc.count("Line", good=1)

    def made(self, sink) -> list:
        return [r.attrs["event_id"] for r in sink.readings if r.attrs["delta"]]

    async def break_(self):
        await self.plc.stop()

    async def mend(self):
        await self.plc.start()


class ScaleCase:
    holds = True  # a scale cannot weigh again for us

    async def setup(self, tmp_path):
        self.path = tmp_path / "ttyScale"
        self.sim = await ScaleSimulator("generic", self.path, interval=0.02).start()

    async def teardown(self):
        await self.sim.stop()

    def driver(self):
        return SerialScale("scale-mix", str(self.path), protocol="generic", station="mix",
                           poll_interval=0.02, backoff_first=FAST[0], backoff_cap=FAST[1])

    async def frames(self, n: int):
        target = self.sim.frames_sent + n
        await wait_until(lambda: self.sim.frames_sent >= target, 5, f"{n} frames")

    async def produce(self, n: int):
        self.sim.place(float(n))  # one weighing: placed, stable, taken off
        await self.frames(6)
        self.sim.remove()
        await self.frames(6)

    def made(self, sink) -> list:
        return [r.value for r in sink.readings]

    async def break_(self):
        self.sim.unplug()

    async def mend(self):
        self.sim.replug()


class ScannerCase:
    holds = True  # a scan is not made twice

    async def setup(self, tmp_path):
        self.path = tmp_path / "ttyScanner"
        self.sim = ScannerSimulator(self.path)

    async def teardown(self):
        self.sim.close()

    def driver(self):
        return SerialScanner("scanner-dock", str(self.path), station="dock",
                             backoff_first=FAST[0], backoff_cap=FAST[1])

    async def produce(self, n: int):
        self.sim.scan(f"WO:{n}")

    def made(self, sink) -> list:
        return [r.attrs["work_order"] for r in sink.readings]

    async def break_(self):
        self.sim.unplug()

    async def mend(self):
        self.sim.replug()


class MqttCase:
    holds = False  # a refused message is not acked: the broker sends it again

    async def setup(self, tmp_path):
        self.broker = Mosquitto(tmp_path / "mosquitto")
        self.broker.start()

    async def teardown(self):
        await asyncio.to_thread(self.broker.stop)

    def driver(self):
        b = self.broker
        return MqttDevices(id="mqtt1", url=b.url, topics=["plant/devices/+/readings"],
                           username=b.username, password=b.password, client_id="gw-contract",
                           backoff_initial=FAST[0], backoff_max=FAST[1])

    async def produce(self, n: int):
        b = self.broker
        async with MqttDeviceSimulator(b.url, b.username, b.password) as sim:
            await sim.count("press-1", "good", 1, id=f"unit-{n}")

    def made(self, sink) -> list:
        return list(dict.fromkeys(r.attrs["event_id"] for r in sink.readings))

    async def break_(self):
        await asyncio.to_thread(self.broker.stop)

    async def mend(self):
        await asyncio.to_thread(self.broker.start)


CASES = {"opcua": OpcUaCase, "serial_scale": ScaleCase, "serial_scanner": ScannerCase,
         "mqtt": MqttCase}


@pytest.fixture(params=list(CASES))
async def case(request, tmp_path):
    c = CASES[request.param]()
    await c.setup(tmp_path)
    try:
        yield c
    finally:
        await c.teardown()


async def connected(driver, sink, times: int = 1):
    await driver.start(sink)
    await wait_until(lambda: sink.count("connected") >= times, what=f"connected x{times}")


async def made(case, sink, n: int, what: str):
    await wait_until(lambda: len(case.made(sink)) >= n, what=what)
    return case.made(sink)


async def test_contract_start_and_stop_are_harmless_twice_over(case):
    driver, sink = case.driver(), ContractSink()
    await driver.stop()                                    # before any start: nothing to do
    await connected(driver, sink)
    await driver.stop()
    await driver.stop()
    assert sink.states[-1] == "down"
    quiet = len(sink.states)
    await asyncio.sleep(3 * FAST[1])
    assert len(sink.states) == quiet                       # really stopped: no more retries
    await connected(driver, sink, times=2)                 # and it starts again
    try:
        await case.produce(1)
        assert len(await made(case, sink, 1, "a reading after the restart")) == 1
    finally:
        await driver.stop()
    assert sink.states[-1] == "down" and sink.problems == []


async def test_contract_a_failing_sink_does_not_stop_the_driver_nor_lose_the_reading(case):
    driver, sink = case.driver(), ContractSink(refuse_readings=3, fail_problems=True)
    await connected(driver, sink)
    try:
        await case.produce(1)
        first = await made(case, sink, 1, "the refused reading, delivered later")
        await case.produce(2)
        both = await made(case, sink, 2, "the next reading")
    finally:
        await driver.stop()
    assert len(sink.refused) == 3 and len(first) == 1 and both[0] == first[0]
    assert len(both) == 2 and len(set(both)) == 2          # none lost, none twice, in order
    if case.holds:                                         # the same reading, offered again
        assert all(r is sink.readings[0] for r in sink.refused)


async def test_contract_an_outage_is_one_problem_and_its_states_are_reported(case):
    driver, sink = case.driver(), ContractSink()
    await connected(driver, sink)
    try:
        await case.produce(1)
        await made(case, sink, 1, "a reading before the outage")
        before = len(sink.states)
        await case.break_()
        await wait_until(lambda: sink.states[before:].count("reconnecting") >= 4,
                         what="retries while the device is gone")
        await asyncio.sleep(2 * FAST[1])                   # a few more failed retries
        assert sink.states[before] == "down" and "connected" not in sink.states[before:]
        assert [type(p) for p in sink.problems] == [TransportError], sink.problems
        await case.mend()
        await wait_until(lambda: sink.count("connected") >= 2, what="connected again")
        await case.produce(2)
        assert len(await made(case, sink, 2, "a reading after the outage")) == 2
    finally:
        await driver.stop()
    assert [type(p) for p in sink.problems] == [TransportError]
    assert sink.states[-1] == "down"
