"""`gateway run` forwarding to a flaky ERP: killed right after a send (before the ack is
recorded), restarted into an outage while the PLC keeps producing; in the end the ERP
has applied exactly the gateway's trial balance, each batch once, seq contiguous."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from simulators.erp import ErpSimulator
from simulators.plc import PlcSimulator
from tests.e2e.procs import reaped
from tests.gateway.plant import GATEWAY_TOML, ROOT, ev, gateway, write_events, write_plant

PLANT = """
[upstream]
sink = "http"
url = "{url}"
token_env = "T_ERP_TOKEN"
batch_max_lines = 40
batch_max_seconds = 0.3
summarize = {summarize}

[[devices]]
id = "plc"
driver = "opcua"
endpoint = "{endpoint}"
security = "None"
allow_insecure = true
counters = [ {{ node = "ns=2;s=Assy.Good", line = "WC2", kind = "good" }} ]
"""


def _q(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _start(cfg, failpoints="") -> subprocess.Popen:
    env = {**os.environ, "T_ERP_TOKEN": "s3cret", "GATEWAY_FAILPOINTS": failpoints}
    return subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(cfg)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


async def _until(cond, what: str, proc=None, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if proc is not None and proc.poll() is not None and proc.returncode != -9:
            raise AssertionError(f"gateway exited {proc.returncode}: {proc.stderr.read()}")
        await asyncio.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("summarize", ["true", "false"])
async def test_erp_applies_the_trial_balance_exactly_once_through_kill_and_outage(tmp_path,
                                                                                   summarize):
    erp = await ErpSimulator(token="s3cret").start()
    plc = PlcSimulator({"Assy": "UInt32"})
    await plc.start()
    try:
        cfg = write_plant(tmp_path, GATEWAY_TOML + PLANT.format(
            url=erp.url, endpoint=plc.endpoint, summarize=summarize))
        db = str(tmp_path / "var" / "gateway.db")
        day = [ev(f"r{i}", "receipt", item=item, qty=50, location="L2", unit_price=price)
               for i, (item, price) in enumerate([("S", 9.1), ("C", 0.45), ("B", 1.1)] * 4)]
        day.append(ev("rel", "wo_release", work_order="WO", item="F", qty=500, line="WC2"))
        gateway("ingest", "-c", str(cfg), str(write_events(tmp_path / "d.jsonl", day)),
                check=True)

        # 1. Die right after the 1st batch reached the ERP, before its ack is recorded.
        proc = _start(cfg, "outbox.after_send=kill@1")
        with reaped(proc):
            await _until(lambda: proc.poll() is not None, "the kill after send", proc)
        assert len(erp.applied) == 1
        assert _q(db, "SELECT state FROM batches") == [("pending",)]

        # 2. The ERP goes down; the gateway restarts and the line produces meanwhile.
        erp.set_mode(fail=503)
        proc = _start(cfg)
        with reaped(proc):
            await _until(lambda: _q(db, "SELECT COUNT(*) FROM counters")[0][0] == 1,
                         "the PLC baseline", proc)
            for _ in range(6):
                await plc.count("Assy", good=2)
                await asyncio.sleep(0.3)
            await _until(lambda: _q(db, "SELECT good FROM work_orders") == [(12.0,)],
                         "12 completions", proc)
            await _until(lambda: _q(db, "SELECT COUNT(*) FROM journal_lines"
                                        " WHERE batch_seq IS NULL")[0][0] == 0,
                         "every line batched", proc)
            assert _q(db, "SELECT COUNT(*) FROM batches WHERE state='acked'") == [(0,)]

            # 3. The ERP is back: everything drains, in order, the resent batch deduped.
            erp.set_mode(reset=True)
            await _until(lambda: _q(db, "SELECT COUNT(*) FROM batches WHERE state != 'acked'")
                         == [(0,)], "the backlog drained", proc)
            proc.terminate()
            assert proc.wait(timeout=20) == 0, proc.stderr.read()

        tb = {a: (d, c) for a, d, c in _q(db, "SELECT account, SUM(debit), SUM(credit)"
                                              " FROM journal_lines GROUP BY account")}
        assert erp.totals_minor(2) == tb
        seqs = [s for (s,) in _q(db, "SELECT seq FROM batches ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 2
        assert len(erp.applied) == len(seqs)          # each batch applied once ...
        assert erp.duplicates >= 1                     # ... although the 1st was sent twice
        for (payload,) in _q(db, "SELECT payload FROM batches"):
            batch = json.loads(payload)
            assert batch["totals"]["debit"] == batch["totals"]["credit"]
    finally:
        await plc.stop()
        await erp.stop()
