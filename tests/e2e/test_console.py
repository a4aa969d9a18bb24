"""What `gateway run` tells the person who started it, when nothing it talks to is there:
a start banner, then one line per device saying why it cannot connect — and no library
noise, however many retries happen."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import selectors
import signal
import subprocess
import sys
import time

from gateway.users import UserStore
from simulators.plc import PlcSimulator
from simulators.ports import free_port
from tests.e2e.procs import reaped
from tests.gateway.plant import GATEWAY_TOML, ROOT, write_plant

DOWN = """
[[stations]]
id = "mix"
kind = "line"
work_center = "WC1"

[mqtt]
url = "mqtt://127.0.0.1:{mqtt}"
username_env = "TEST_MQTT_USER"
password_env = "TEST_MQTT_PASS"

[[devices]]
id = "plc"
driver = "opcua"
endpoint = "opc.tcp://127.0.0.1:{plc}"
security = "None"
allow_insecure = true
counters = [{{ node = "ns=2;s=Assy.Good", line = "WC2", kind = "good" }}]

[[devices]]
id = "scale"
driver = "serial_scale"
port = "/dev/ttyUSB9"
protocol = "mt-sics"
station = "mix"

[[devices]]
id = "press"
driver = "mqtt"
topic = "plant/press/#"

[upstream]
sink = "file"
path = "var/upstream.jsonl"

[dashboard]
listen = "127.0.0.1:{web}"
users_file = "users.toml"
"""


def down_plant(tmp_path):
    """A plant whose serial port does not exist and whose PLC and broker refuse."""
    plc, mqtt, web = free_port(), free_port(), free_port()
    cfg = write_plant(tmp_path, GATEWAY_TOML + DOWN.format(plc=plc, mqtt=mqtt, web=web))
    UserStore(tmp_path / "users.toml").add("maria", "supervisor", "a-long-password")
    return cfg, plc, mqtt, web


def start(cfg) -> subprocess.Popen:
    env = {**os.environ, "TEST_MQTT_USER": "u", "TEST_MQTT_PASS": "p"}
    return subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(cfg)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def read_until(proc: subprocess.Popen, done, seconds: float) -> list[str]:
    """Console lines until `done(lines)` holds or `seconds` passed."""
    lines: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    while not done(lines) and time.monotonic() < deadline:
        if sel.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
    return lines


def test_run_with_everything_down_says_what_and_why_within_10_s(tmp_path):
    cfg, plc, mqtt, web = down_plant(tmp_path)
    with reaped(start(cfg)) as proc:
        def told(lines):
            return sum("cannot connect" in line for line in lines) >= 3
        lines = read_until(proc, told, 10.0)
        assert told(lines), "\n".join(lines)
        # a few more seconds of retries (backoff 0.5, 1, 2 s...) say nothing new
        lines += read_until(proc, lambda _: False, 4.0)
        proc.send_signal(signal.SIGTERM)
        lines += proc.stdout.read().splitlines()
        assert proc.wait(timeout=30) == 0
    console = "\n".join(lines)
    banner = lines[:7]
    assert banner[0].startswith("gateway ") and f"config {cfg.resolve()}" in banner[0], console
    assert banner[1:] == [
        f"journal {tmp_path / 'var' / 'gateway.db'}: 0 events",
        f"device plc: opcua opc.tcp://127.0.0.1:{plc} (None)",
        "device scale: serial_scale /dev/ttyUSB9 at 9600 baud",
        f"device press: mqtt mqtt://127.0.0.1:{mqtt} topic plant/press/#",
        f"upstream: file {tmp_path / 'var' / 'upstream.jsonl'}",
        f"dashboard: http://127.0.0.1:{web}/"], console
    device_lines = [line for line in lines if "device " in line and "cannot connect" in line]
    assert len(device_lines) == 3, console  # one per device, not one per retry
    by_device = {d: next(x for x in device_lines if f"device {d}:" in x)
                 for d in ("plc", "scale", "press")}
    assert "/dev/ttyUSB9" in by_device["scale"] and "No such file" in by_device["scale"]
    assert "ConnectionRefusedError" in by_device["plc"]
    assert "connection refused: no broker listens on that port" in by_device["press"]
    assert "close_secure_channel" not in console and "Traceback" not in console, console


def test_retries_of_a_device_that_stays_down_are_one_exception_per_device(tmp_path):
    """Backoff 0.5, 1, 2, 4 s: ~5 tries of each network device in 9 s. Each driver reports
    its outage once; every device ends with one open episode counting its tries."""
    cfg, *_ = down_plant(tmp_path)
    with reaped(start(cfg)) as proc:
        read_until(proc, lambda _: False, 9.0)
        proc.send_signal(signal.SIGTERM)
        console = proc.stdout.read()
        assert proc.wait(timeout=30) == 0, console
    with sqlite3.connect(tmp_path / "var" / "gateway.db") as conn:
        rows = conn.execute("SELECT source, status, occurrences, created_at <= last_seen"
                            " FROM exceptions WHERE kind='device_error' ORDER BY source"
                            ).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("plc", "open", 1), ("press", "open", 1), ("scale", "open", 1)], rows
    tries = {r[0]: r[2] for r in rows}
    assert tries["plc"] >= 4 and tries["press"] >= 4 and tries["scale"] >= 2, tries


def test_a_device_that_comes_back_says_so_and_closes_its_fault(tmp_path):
    cfg, plc_port, *_ = down_plant(tmp_path)
    with reaped(start(cfg)) as proc:
        lines = read_until(proc, lambda ls: any("device plc: cannot connect" in x for x in ls),
                           10.0)

        async def plc_up() -> list[str]:
            plc = PlcSimulator({"Assy": "UInt16"}, port=plc_port)
            await plc.start()
            try:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(None, read_until, proc, lambda ls: any(
                    "device plc: connected" in x for x in ls), 20.0)
            finally:
                proc.send_signal(signal.SIGTERM)
                await loop.run_in_executor(None, proc.wait, 30)
                await plc.stop()

        lines += asyncio.run(plc_up())
        assert any("device plc: connected" in x for x in lines), "\n".join(lines)
        assert not any("device plc: lost" in x for x in lines)  # SIGTERM is no outage
        assert proc.returncode == 0
    with sqlite3.connect(tmp_path / "var" / "gateway.db") as conn:
        rows = dict(conn.execute("SELECT source, status || ' ' || coalesce(resolution, '')"
                                 " FROM exceptions WHERE kind='device_error'"))
    assert rows["plc"] == "resolved device reconnected", rows
    assert rows["scale"] == "open ", rows
