"""`gateway run` against the asyncua PLC simulator: counts exactly once across a kill -9
of the gateway (the PLC counting on while it is down), a PLC reset and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from simulators.plc import PlcSimulator
from tests.e2e.procs import journal_rows, reaped
from tests.gateway.plant import GATEWAY_TOML, ROOT, ev, gateway, write_events, write_plant

DEVICES = """
[[devices]]
id = "plc"
driver = "opcua"
endpoint = "{endpoint}"
security = "None"
allow_insecure = true
counters = [
  {{ node = "ns=2;s=Assy.Good",  line = "WC2", kind = "good" }},
  {{ node = "ns=2;s=Assy.Scrap", line = "WC2", kind = "scrap", operation = 10 }},
]
"""


def _start(cfg) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(cfg)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _good_scrap(db) -> tuple[float, float]:
    rows = journal_rows(db, "SELECT good, scrap FROM work_orders WHERE work_order='WO-F'")
    return (rows[0][0], rows[0][1]) if rows else (0.0, 0.0)


async def _stored(db, want: set, proc: subprocess.Popen, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        rows = set(journal_rows(db, "SELECT node, epoch, value FROM counters"))
        if rows == want:
            return
        assert time.monotonic() < deadline, f"counter positions {rows}, want {want}"
        assert proc.poll() is None, f"gateway exited: {proc.stderr.read()}"
        await asyncio.sleep(0.1)


async def _until(db, want: tuple[float, float], proc: subprocess.Popen, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _good_scrap(db) == want:
            return
        assert proc.poll() is None, f"gateway exited: {proc.stderr.read()}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected (good, scrap) = {want}, have {_good_scrap(db)}")


@pytest.mark.slow
async def test_counts_exactly_once_across_kill9_and_plc_reset(tmp_path):
    plc = PlcSimulator({"Assy": "UInt16"})
    await plc.start()
    try:
        await plc.count("Assy", good=7)  # counted before the gateway ever saw the PLC
        cfg = write_plant(tmp_path, GATEWAY_TOML + DEVICES.format(endpoint=plc.endpoint))
        db = str(tmp_path / "var" / "gateway.db")
        release = write_events(tmp_path / "release.jsonl", [
            ev("rel", "wo_release", work_order="WO-F", item="F", qty=100, line="WC2")])
        gateway("ingest", "-c", str(cfg), str(release), check=True)

        proc = _start(cfg)
        with reaped(proc):
            # The first sight of a counter is a baseline, stored before any count.
            await _stored(db, {("ns=2;s=Assy.Good", 0, 7), ("ns=2;s=Assy.Scrap", 0, 0)}, proc)
            await plc.count("Assy", good=5, scrap=1)
            await _until(db, (5, 1), proc)
            await plc.count("Assy", good=3)
            await _until(db, (8, 1), proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

        # The line keeps producing while the gateway is down.
        await plc.count("Assy", good=4, scrap=2)
        proc = _start(cfg)
        with reaped(proc):
            await _until(db, (12, 3), proc)     # caught up once, on reconnect
            await plc.reset("Assy")                   # PLC reset: counters back to 0
            await plc.count("Assy", good=2)
            await _until(db, (14, 3), proc)
            await asyncio.sleep(1.0)
            assert _good_scrap(db) == (14, 3)    # nothing counted twice, late
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, proc.stderr.read()
    finally:
        await plc.stop()

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, type, json_extract(payload, '$.qty') FROM events"
                            " WHERE type IN ('completion', 'scrap') ORDER BY seq").fetchall()
        reading = conn.execute("SELECT reading FROM events WHERE type='completion' LIMIT 1"
                               ).fetchone()[0]
    assert sum(q for _, t, q in rows if t == "completion") == 14
    assert sum(q for _, t, q in rows if t == "scrap") == 3
    assert len({i for i, _, _ in rows}) == len(rows)
    # Every count traces back to the PLC reading that caused it.
    assert json.loads(reading)["device"] == "plc"
