"""`gateway run` forwarding to NATS JetStream: a missing stream stops the start; killed
right after a publish (before the ack is recorded) and restarted, the stream holds each
batch once and sums to the gateway's trial balance; the outbox knows each stream seq."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from tests.e2e.procs import reaped
from tests.gateway.plant import GATEWAY_TOML, ROOT, ev, gateway, write_events, write_plant
from tests.gateway.upstream.nats_stream import stream_messages
from tests.support.nats_server import nats_server_auth  # noqa: F401 (fixture)

UPSTREAM = """
[upstream]
sink = "nats"
url = "{url}"
stream = "{stream}"
plant = "p1"
create_stream = {create}
user_env = "T_NATS_USER"
password_env = "T_NATS_PASSWORD"
batch_max_lines = 6
batch_max_seconds = 0.2
"""


def _q(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _env(server, failpoints=""):
    return {**os.environ, "T_NATS_USER": server.user, "T_NATS_PASSWORD": server.password,
            "GATEWAY_FAILPOINTS": failpoints}


def _start(cfg, server, failpoints="") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(cfg)], cwd=ROOT,
                            env=_env(server, failpoints), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


async def _until(cond, what: str, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if proc.poll() is not None and proc.returncode != -9:
            raise AssertionError(f"gateway exited {proc.returncode}: {proc.stderr.read()}")
        await asyncio.sleep(0.1)


def _plant(tmp_path, server, *, stream="PLANT_GL", create="true"):
    cfg = write_plant(tmp_path, GATEWAY_TOML + UPSTREAM.format(
        url=server.url, stream=stream, create=create))
    day = [ev(f"r{i}", "receipt", item=item, qty=50, location="L2", unit_price=price)
           for i, (item, price) in enumerate([("S", 9.1), ("C", 0.45), ("B", 1.1)] * 4)]
    gateway("ingest", "-c", str(cfg), str(write_events(tmp_path / "d.jsonl", day)), check=True)
    return cfg, str(tmp_path / "var" / "gateway.db")


def test_a_missing_stream_stops_gateway_run_naming_it(tmp_path, nats_server_auth):
    cfg, _ = _plant(tmp_path, nats_server_auth, stream="NO_SUCH", create="false")
    out = subprocess.run([sys.executable, "-m", "gateway", "run", "-c", str(cfg)], cwd=ROOT,
                         env=_env(nats_server_auth), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "JetStream stream 'NO_SUCH' does not exist" in out.stderr, out.stderr


@pytest.mark.timeout(120)
async def test_kill_after_publish_then_restart_stores_each_batch_once(tmp_path, nats_server_auth):
    cfg, db = _plant(tmp_path, nats_server_auth)
    proc = _start(cfg, nats_server_auth, "outbox.after_send=kill@1")
    with reaped(proc):
        await _until(lambda: proc.poll() is not None, "the kill after the first publish", proc)
    assert len(await stream_messages(nats_server_auth, "PLANT_GL")) == 1
    assert _q(db, "SELECT state FROM batches WHERE seq = 1") == [("pending",)]

    proc = _start(cfg, nats_server_auth)
    with reaped(proc):
        await _until(lambda: _q(db, "SELECT COUNT(*) FROM journal_lines WHERE batch_seq IS NULL")
                     == [(0,)] and _q(db, "SELECT COUNT(*) FROM batches WHERE state != 'acked'")
                     == [(0,)], "every line batched and acked", proc)
        proc.terminate()
        assert proc.wait(timeout=20) == 0, proc.stderr.read()

    messages = await stream_messages(nats_server_auth, "PLANT_GL")
    rows = _q(db, "SELECT batch_id, ack_detail FROM batches ORDER BY seq")
    assert len(rows) >= 2
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [b for b, _ in rows]  # once each
    assert {m.subject for m in messages} == {"gl.p1.test-plant"}
    assert rows[0][1] == "stream PLANT_GL seq 1 duplicate"     # the resend after the kill
    assert [d for _, d in rows[1:]] == [f"stream PLANT_GL seq {m.seq}" for m in messages[1:]]
    debit = credit = 0
    for m in messages:
        batch = json.loads(m.data)
        for line in batch["lines"]:
            debit += int(Decimal(line["debit"]) * 100)    # 2 currency decimals
            credit += int(Decimal(line["credit"]) * 100)
    assert (debit, credit) == _q(db, "SELECT SUM(debit), SUM(credit) FROM journal_lines")[0]
