"""SerialScale against the scale simulator on real raw-mode pseudo-terminals."""

from __future__ import annotations

import asyncio
import termios
import time

import pytest

from drivers.base import TransportError
from drivers.serial_scale import SerialScale
from simulators.scale import ScaleSimulator

PROTOCOLS = ["mt-sics", "toledo", "sbi", "generic"]


@pytest.fixture
async def rig(tmp_path, sink):
    """make(protocol) -> (simulator, driver), both running and connected."""
    started: list[tuple[ScaleSimulator, SerialScale]] = []

    async def make(protocol: str, sim_kw: dict | None = None, **driver_kw):
        path = tmp_path / "ttyScale"
        sim = await ScaleSimulator(protocol, path, interval=0.02, **(sim_kw or {})).start()
        driver = SerialScale("scale-mix", str(path), protocol=protocol, station="mix",
                             poll_interval=0.02, backoff_first=0.05, backoff_cap=0.2,
                             **driver_kw)
        started.append((sim, driver))
        await driver.start(sink)
        await sink.wait_for(lambda: sink.count_state("connected") >= 1, what="connected")
        return sim, driver

    yield make
    for sim, driver in started:
        await driver.stop()
        await sim.stop()


async def frames_pass(sim: ScaleSimulator, n: int, timeout: float = 5.0) -> None:
    """Wait until the scale has sent `n` more frames (the driver had its chance)."""
    target = sim.frames_sent + n
    deadline = time.monotonic() + timeout
    while sim.frames_sent < target:
        assert time.monotonic() < deadline, f"scale sent {sim.frames_sent}, wanted {target}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_one_weighing_is_one_reading_however_many_stable_frames(rig, sink, protocol):
    sim, driver = await rig(protocol)
    sim.place(12.5)
    await sink.wait_for(lambda: sink.readings, what="the weighing")
    await frames_pass(sim, 15)  # many more stable frames of the same load
    assert len(sink.readings) == 1
    r = sink.readings[0]
    assert (r.device, r.kind, r.value, r.unit) == ("scale-mix", "weight", 12.5, "kg")
    assert r.attrs["station"] == "mix" and r.attrs["weighing"] == 1
    assert r.attrs["protocol"] == protocol and r.attrs["session"] == driver.session
    assert r.ts.endswith("+00:00")

    sim.remove()
    await frames_pass(sim, 8)
    sim.place(12.5)  # the same weight again, after the scale was empty: a new weighing
    await sink.wait_for(lambda: len(sink.readings) == 2, what="second weighing")
    sim.place(3.75)  # a different load without emptying in between
    await sink.wait_for(lambda: len(sink.readings) == 3, what="third weighing")
    await frames_pass(sim, 10)
    assert [(r.value, r.attrs["weighing"]) for r in sink.readings] == \
        [(12.5, 1), (12.5, 2), (3.75, 3)]
    assert sink.problems == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_unstable_overload_and_error_frames_never_emit(rig, sink, protocol):
    sim, _ = await rig(protocol)
    sim.place(8.0, settle_frames=10_000)  # it never settles
    await frames_pass(sim, 15)
    sim.overload()
    await frames_pass(sim, 10)
    sim.underload()
    await frames_pass(sim, 10)
    if protocol in ("mt-sics", "sbi"):
        for _ in range(5):
            sim.error()
        await frames_pass(sim, 10)
    assert sink.readings == []
    assert sink.problems == []  # these are the protocol speaking, not garbage
    assert sink.count_state("connected") == 1  # and no reconnects: the port stayed up
    sim.place(8.0, settle_frames=0)
    await sink.wait_for(lambda: sink.readings, what="the weighing once stable")
    assert [r.value for r in sink.readings] == [8.0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_frame_split_across_reads_is_reassembled(rig, sink, protocol):
    sim, _ = await rig(protocol)
    await frames_pass(sim, 3)
    sim.split_next(parts=5, delay=0.03)
    sim.place(2.345, settle_frames=0)  # the split frame is the stable one
    await sink.wait_for(lambda: sink.readings, what="the weighing from a split frame")
    await frames_pass(sim, 5)
    assert [r.value for r in sink.readings] == [2.345]
    assert sink.decode_errors == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_garbage_is_a_decode_error_with_its_raw_bytes_and_reading_goes_on(
        rig, sink, protocol):
    sim, _ = await rig(protocol)
    sim.garbage(b"\x15#?\xffnot a frame\r\n")
    await sink.wait_for(lambda: sink.decode_errors, what="decode error")
    error = sink.decode_errors[0]
    assert b"\x15#?\xffnot a frame" in error.raw
    assert "scale-mix" in str(error)
    sim.place(1.5)
    await sink.wait_for(lambda: sink.readings, what="a weighing after the garbage")
    assert [r.value for r in sink.readings] == [1.5]
    assert sink.transport_errors == []


@pytest.mark.parametrize("protocol", ["mt-sics", "toledo"])
async def test_unplug_and_replug_reconnects_and_goes_on(rig, sink, protocol):
    sim, driver = await rig(protocol)
    sim.place(4.0)
    await sink.wait_for(lambda: len(sink.readings) == 1, what="first weighing")
    sim.unplug()
    await sink.wait_for(lambda: sink.transport_errors, what="the unplug noticed")
    await sink.wait_for(lambda: sink.count_state("reconnecting") >= 2, what="retries")
    assert ("scale-mix", "down") in sink.states
    sim.remove(settle_frames=0)
    sim.replug()
    await sink.wait_for(lambda: sink.count_state("connected") == 2, what="reconnected")
    sim.place(6.0)
    await sink.wait_for(lambda: len(sink.readings) == 2, what="weighing after replug")
    assert [(r.value, r.attrs["weighing"]) for r in sink.readings] == [(4.0, 1), (6.0, 2)]
    assert driver.connects == 2
    # One outage, one TransportError: retries while unplugged do not flood the sink.
    assert len(sink.transport_errors) == 1
    assert sink.decode_errors == []


async def test_a_scale_absent_at_start_is_waited_for(tmp_path, sink):
    path = tmp_path / "ttyScale"
    driver = SerialScale("scale-late", str(path), protocol="mt-sics", poll_interval=0.02,
                         backoff_first=0.05, backoff_cap=0.1)
    await driver.start(sink)
    try:
        await sink.wait_for(lambda: sink.count_state("reconnecting") >= 3, what="retries")
        assert [type(e) for e in (e for _, e in sink.problems)] == [TransportError]
        assert str(path) in str(sink.problems[0][1])
        async with ScaleSimulator("mt-sics", path) as sim:
            sim.place(0.75)
            await sink.wait_for(lambda: sink.readings, what="weighing once plugged in")
            assert sink.readings[0].value == 0.75
    finally:
        await driver.stop()
    assert sink.states[-1] == ("scale-late", "down")


async def test_mt_sics_driver_polls_with_si(rig, sink):
    sim, _ = await rig("mt-sics")
    await frames_pass(sim, 5)
    assert set(sim.commands) == {b"SI"}


@pytest.mark.parametrize("kw, message", [
    ({"protocol": "modbus"}, "protocol: 'modbus' is not one of"),
    ({"poll_interval": 0}, "poll_interval: 0 must be > 0"),
    ({"bytesize": 9}, "bytesize: 9 must be"),
    ({"parity": "X"}, "parity: 'X' must be"),
    ({"stopbits": 3}, "stopbits: 3 must be"),
])
def test_bad_configuration_names_the_field_and_value(kw, message):
    with pytest.raises(ValueError, match=message):
        SerialScale("s", "/dev/null", **kw)


@pytest.mark.parametrize("protocol", ["mt-sics", "toledo"])
async def test_a_silent_scale_is_down_until_it_talks_again(rig, sink, protocol):
    sim, driver = await rig(protocol, silence=0.5)
    sim.power_off()
    await sink.wait_for(lambda: sink.transport_errors, what="silence noticed")
    assert "no data for 0.5 s" in str(sink.transport_errors[0])
    assert sink.states[-1] == ("scale-mix", "down")
    await asyncio.sleep(0.8)
    assert len(sink.transport_errors) == 1  # one outage, one report
    sim.power_on()
    sim.place(5.5)
    await sink.wait_for(lambda: sink.readings, what="weighing after power on")
    assert sink.count_state("connected") == 2
    assert driver.connects == 1  # the port was never reopened
    assert [r.value for r in sink.readings] == [5.5]


@pytest.mark.parametrize("protocol, sim_kw, load, unit, basis", [
    ("mt-sics", {"unit": "g", "decimals": 1}, 250.5, "g", "net"),  # SI answers net
    ("toledo", {"unit": "lb", "decimals": 1, "tare": 2.5}, 40.0, "lb", "net"),
    ("generic", {"unit": "kg", "tare": 0.35}, 1.2, "kg", "net"),
    ("generic", {"unit": "kg"}, 1.2, "kg", "gross"),  # no tare: gross is the net weight
])
async def test_units_and_tared_net_weights(rig, sink, protocol, sim_kw, load, unit, basis):
    sim, _ = await rig(protocol, sim_kw)
    sim.place(load)
    await sink.wait_for(lambda: sink.readings, what="the weighing")
    r = sink.readings[0]
    assert (r.value, r.unit) == (load, unit)
    assert r.attrs["basis"] == basis


async def test_line_settings_reach_the_port(rig, sink):
    sim, driver = await rig("toledo", baudrate=19200, bytesize=7, parity="E", stopbits=1)
    sim.place(2.0)
    await sink.wait_for(lambda: sink.readings, what="the weighing over 7E1")
    assert sink.readings[0].value == 2.0
    assert sim.port.termios()[5] == termios.B19200  # the driver configured the tty
    # Linux ptys force CS8 without parity, so 7E1 is checked where it is handed over.
    assert (driver.line.bytesize, driver.line.parity, driver.line.stopbits) == (7, "E", 1)


async def test_a_cable_glitch_does_not_count_the_load_on_the_scale_twice(rig, sink):
    sim, driver = await rig("mt-sics")
    sim.place(7.25)
    await sink.wait_for(lambda: sink.readings, what="the weighing")
    sim.unplug()
    await sink.wait_for(lambda: sink.transport_errors, what="the unplug noticed")
    sim.replug()  # the same load is still on the platform
    await sink.wait_for(lambda: driver.connects == 2, what="reconnected")
    await frames_pass(sim, 15)
    assert [r.value for r in sink.readings] == [7.25]
