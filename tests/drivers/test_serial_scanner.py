"""SerialScanner against the scanner simulator on real raw-mode pseudo-terminals."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import termios

import pytest

from drivers.base import DriverError, TransportError
from drivers.backoff import Backoff
from drivers.serial_port import LineFramer, SerialPort
from drivers.serial_scanner import SerialScanner
from simulators.pty import VirtualSerialPort
from simulators.scanner import GS, ScannerSimulator

GTIN = "09506000134352"


@pytest.fixture
async def rig(tmp_path, sink):
    """make(**driver_kw) -> (simulator, driver), both running and connected."""
    started: list[tuple[ScannerSimulator, SerialScanner]] = []

    async def make(terminator: bytes = b"\r\n", sim_separator: str = GS, **driver_kw):
        path = tmp_path / "ttyScanner"
        sim = ScannerSimulator(path, terminator=terminator, separator=sim_separator)
        driver = SerialScanner("scanner-dock", str(path), station="dock",
                               backoff_first=0.05, backoff_cap=0.2, **driver_kw)
        started.append((sim, driver))
        await driver.start(sink)
        await sink.wait_for(lambda: sink.count_state("connected") >= 1, what="connected")
        return sim, driver

    yield make
    for sim, driver in started:
        await driver.stop()
        sim.close()


async def test_gs1_128_with_gs_becomes_a_scan_reading(rig, sink):
    sim, _ = await rig()
    text = sim.scan_gs1(gtin="0950600013435", lot="L-88", serial="S1",
                        expiry=dt.date(2027, 6, 30), count=5)
    await sink.wait_for(lambda: sink.readings, what="scan")
    r = sink.readings[0]
    assert (r.device, r.kind, r.value) == ("scanner-dock", "scan", text)
    assert GS in r.value  # the raw text, FNC1 and all
    a = r.attrs
    assert (a["station"], a["symbology"], a["gtin"], a["lot"], a["serial"], a["expiry"],
            a["count"], a["work_order"]) == \
        ("dock", "]C1", GTIN, "L-88", "S1", "2027-06-30", 5, None)


async def test_a_configured_separator_replaces_gs(rig, sink):
    sim, _ = await rig(sim_separator="~", separator="~")
    sim.scan_gs1(symbology="]d2", gtin=GTIN, lot="A1", serial="B2", net_kg=2.5)
    await sink.wait_for(lambda: sink.readings, what="scan")
    a = sink.readings[0].attrs
    assert (a["symbology"], a["gtin"], a["lot"], a["serial"], a["net_kg"]) == \
        ("]d2", GTIN, "A1", "B2", 2.5)
    assert sink.problems == []


async def test_bad_check_digit_is_a_decode_error_with_the_raw_line(rig, sink):
    sim, _ = await rig()
    text = sim.scan_gs1(gtin="0950600013435", bad_check_digit=True, lot="X")
    sim.scan_work_order("WO-17")
    await sink.wait_for(lambda: sink.readings, what="the scan after the bad one")
    [error] = sink.decode_errors
    assert error.raw == text.encode()
    assert "check digit" in str(error) and "scanner-dock" in str(error)
    assert [r.attrs["work_order"] for r in sink.readings] == ["WO-17"]


async def test_work_order_and_plain_codes_with_cr_only(rig, sink):
    sim, _ = await rig(terminator=b"\r")
    sim.scan("WO:WO-0042")
    sim.scan("LOC-A-01")
    sim.scan_gs1(symbology="]Q3", sscc="37610425002123456", gtin=GTIN, count=24,
                 contained=True)
    await sink.wait_for(lambda: len(sink.readings) == 3, what="three scans")
    wo, plain, pallet = (r.attrs for r in sink.readings)
    assert wo == {"station": "dock", "symbology": None, "work_order": "WO-0042"}
    assert plain == {"station": "dock", "symbology": None, "code": "LOC-A-01"}
    assert (pallet["sscc"], pallet["gtin"], pallet["count"]) == \
        ("376104250021234569", GTIN, 24)


async def test_a_code_split_across_reads_is_reassembled(rig, sink):
    sim, _ = await rig()
    text = "]C1" + f"01{GTIN}10SPLIT-LOT{GS}21SERIAL-9"
    await sim.scan_split(text, parts=6, delay=0.03)
    await sink.wait_for(lambda: sink.readings, what="the reassembled scan")
    assert [r.value for r in sink.readings] == [text]
    assert sink.readings[0].attrs["serial"] == "SERIAL-9"
    assert sink.problems == []


async def test_garbage_is_a_decode_error_and_scanning_goes_on(rig, sink):
    sim, _ = await rig()
    sim.garbage(b"\x00\x07\xfe\xff#\r\n")
    sim.scan("WO:9")
    await sink.wait_for(lambda: sink.readings and sink.decode_errors, what="error + scan")
    assert sink.decode_errors[0].raw == b"\x00\x07\xfe\xff#"
    assert sink.readings[0].attrs["work_order"] == "9"


async def test_many_codes_in_one_read_each_become_a_reading(rig, sink):
    sim, _ = await rig()
    codes = [f"WO:{i}" for i in range(50)]
    sim.port.write(b"".join(c.encode() + b"\r\n" for c in codes))
    await sink.wait_for(lambda: len(sink.readings) == 50, what="50 scans")
    assert [r.value for r in sink.readings] == codes
    await asyncio.sleep(0.05)
    assert len(sink.readings) == 50


def test_empty_separator_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="separator: ''"):
        SerialScanner("s", "/dev/null", separator="")


async def test_the_port_reader_survives_a_failing_frame_handler(tmp_path, sink):
    """Whatever goes wrong in handling a frame, the reader reports it and reads on."""
    path = tmp_path / "ttyAny"
    frames: list[bytes] = []

    async def on_frame(frame):
        frames.append(frame)
        if frame == b"boom":
            raise KeyError("handler bug")

    port = SerialPort(str(path), 9600, LineFramer(), on_frame=on_frame,
                      on_state=lambda state: sink.connection("any", state),
                      on_problem=lambda e: sink.problem("any", e),
                      backoff=Backoff(0.05, 0.1))
    with ScannerSimulator(path) as sim:
        task = asyncio.create_task(port.run())
        try:
            await sink.wait_for(lambda: sink.count_state("connected") == 1, what="open")
            sim.scan("boom")
            await sink.wait_for(lambda: sink.problems, what="the failure reported")
            await sink.wait_for(lambda: sink.count_state("connected") == 2, what="reopened")
            sim.scan("after")
            await sink.wait_for(lambda: b"after" in frames, what="reading goes on")
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    [(_, error)] = sink.problems
    assert type(error) is DriverError and not isinstance(error, TransportError)
    assert "handler bug" in str(error)


def test_virtual_port_keeps_its_path_across_replug_and_is_raw(tmp_path):
    path = tmp_path / "ttyX"
    with VirtualSerialPort(path) as port:
        first = port.device
        assert os.path.realpath(path) == first
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        try:
            lflag = termios.tcgetattr(fd)[3]
            assert not lflag & (termios.ECHO | termios.ICANON)  # tty.setraw took
            port.write(b"\r\x00\xff")
            assert os.read(fd, 16) == b"\r\x00\xff"  # 8-bit clean, no CR translation
            os.write(fd, b"SI\r\n")
            assert port.read() == b"SI\r\n"
        finally:
            os.close(fd)
        port.unplug()
        assert not path.exists() and not path.is_symlink()
        assert port.write(b"lost") == 0 and port.dropped == 4
        port.replug()
        assert os.path.realpath(path) == port.device and port.plugs == 2


async def test_stop_while_the_port_is_missing_and_start_twice(tmp_path, sink):
    driver = SerialScanner("scanner-x", str(tmp_path / "nowhere"), backoff_first=0.02,
                           backoff_cap=0.05)
    await driver.start(sink)
    with pytest.raises(RuntimeError, match="already started"):
        await driver.start(sink)
    await sink.wait_for(lambda: sink.count_state("reconnecting") >= 2, what="retries")
    await driver.stop()  # cancels the backoff sleep; nothing escapes
    await driver.stop()
    assert sink.states[-1] == ("scanner-x", "down")
    assert driver.connects == 0 and len(sink.transport_errors) == 1
    n = len(sink.states)
    await asyncio.sleep(0.15)
    assert len(sink.states) == n  # really stopped: no more retries
