"""`forward()` in-process, composed the way `gateway run` will: config → sink → loops."""

import asyncio
import json

import pytest

from gateway.config import load_config
from gateway.metrics import Metrics
from gateway.upstream.forwarder import ForwarderConfig, forward, sink_from_config

from .ledger import assert_delivered, journal_totals, labor
from .test_outbox_command import ACCOUNTS


def write_config(tmp_path, upstream: str):
    (tmp_path / "master").mkdir(exist_ok=True)
    path = tmp_path / "gateway.toml"
    path.write_text('[gateway]\nid = "plant1"\ndb = "gateway.db"\nmaster_data = "master"\n'
                    'currency = "EUR"\ncurrency_decimals = 2\n\n' + ACCOUNTS + "\n" + upstream)
    return load_config(path)


async def test_http_from_config_with_token_from_the_environment(tmp_path, conn, db_path, erp, monkeypatch):
    erp.token = "from-env"
    monkeypatch.setenv("TEST_UPSTREAM_TOKEN", "from-env")
    cfg = write_config(tmp_path, f'[upstream]\nsink = "http"\nurl = "{erp.url}"\n'
                                 'token_env = "TEST_UPSTREAM_TOKEN"\nbatch_max_lines = 4\n'
                                 'batch_max_seconds = 0.1\nsummarize = false\n')
    assert str(cfg.gateway.db) == str(db_path)
    for i in range(9):
        labor(conn, 500 + i)
    sink = sink_from_config(cfg)
    metrics = Metrics()
    try:
        await asyncio.wait_for(forward(str(cfg.gateway.db), sink, cfg, asyncio.Event(),
                                       exit_when_drained=True, metrics=metrics), 30)
    finally:
        await sink.close()
    assert len(erp.applied) == 5                           # 2 entries (4 lines) a batch
    assert all("entry" in line for b in erp.received for line in b["batch"]["lines"])   # detail
    assert b"gateway_upstream_send_seconds_count 5.0" in metrics.render()
    assert_delivered(conn, erp)


async def test_file_from_config_and_stop_event(tmp_path, conn, db_path):
    cfg = write_config(tmp_path, '[upstream]\nsink = "file"\npath = "out.jsonl"\nbatch_max_seconds = 0.1\n')
    fcfg = ForwarderConfig.from_config(cfg)
    assert (fcfg.gateway_id, fcfg.max_lines, fcfg.summarize, fcfg.backoff_cap) == ("plant1", 500, True, 60.0)
    stop = asyncio.Event()
    sink = sink_from_config(cfg)
    task = asyncio.ensure_future(forward(str(db_path), sink, cfg, stop))
    try:
        labor(conn, 700)
        labor(conn, 300, wc="WC-B")
        for _ in range(100):
            if conn.execute("SELECT COUNT(*) FROM batches WHERE state = 'acked'").fetchone()[0]:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await sink.close()
    written = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    applied: dict[str, list[int]] = {}
    for b in written:
        for line in b["lines"]:
            acc = applied.setdefault(line["account"], [0, 0])
            acc[0] += int(line["debit"].replace(".", ""))
            acc[1] += int(line["credit"].replace(".", ""))
    assert {a: tuple(v) for a, v in applied.items()} == journal_totals(conn)


def test_sink_from_config_picks_the_named_sink_and_names_a_missing_section(tmp_path):
    cfg = write_config(tmp_path, '[upstream]\nsink = "file"\npath = "x.jsonl"\n')
    with pytest.raises(ValueError, match="upstream: section missing"):
        sink_from_config(type("C", (), {"upstream": None})())
    assert repr(sink_from_config(cfg)).startswith("FileSink(")


async def test_disk_full_while_batching_and_acking_loses_nothing(tmp_path, conn, db_path, erp):
    from gateway import failpoints

    for i in range(10):
        labor(conn, 100 + i)
    failpoints.arm("batcher.before_commit", "disk_full", 2, 3)   # batch 2 fails twice to commit
    failpoints.arm("outbox.commit", "disk_full", 3, 4)           # and an ack write fails twice
    cfg = ForwarderConfig(gateway_id="plant1", max_lines=4, max_seconds=0.05, poll_s=0.02,
                          backoff_base=0.01, backoff_cap=0.05)
    sink = sink_from_config(write_config(tmp_path, f'[upstream]\nsink = "http"\nurl = "{erp.url}"\n'))
    try:
        await asyncio.wait_for(forward(str(db_path), sink, cfg, asyncio.Event(), exit_when_drained=True), 30)
    finally:
        await sink.close()
    assert conn.execute("SELECT COUNT(*) FROM exceptions").fetchone()[0] == 0
    assert_delivered(conn, erp)


async def test_a_fault_in_one_loop_stops_the_forwarder_instead_of_hiding(tmp_path, conn, db_path, erp):
    from gateway import failpoints

    labor(conn, 100)
    failpoints.arm("outbox.before_send", "raise")
    cfg = ForwarderConfig(gateway_id="plant1", max_seconds=0.01, poll_s=0.02)
    sink = sink_from_config(write_config(tmp_path, f'[upstream]\nsink = "http"\nurl = "{erp.url}"\n'))
    try:
        with pytest.raises(failpoints.FailpointError, match="outbox.before_send"):
            await asyncio.wait_for(forward(str(db_path), sink, cfg, asyncio.Event()), 10)
    finally:
        await sink.close()
    assert conn.execute("SELECT state FROM batches").fetchall() == [("pending",)]   # kept, sent later


async def test_cancelling_forward_midway_is_safe_and_a_restart_finishes(tmp_path, conn, db_path, erp):
    for i in range(60):
        labor(conn, 100 + i)
    cfg = ForwarderConfig(gateway_id="plant1", max_lines=2, max_seconds=0.01, poll_s=0.01)
    sink = sink_from_config(write_config(tmp_path, f'[upstream]\nsink = "http"\nurl = "{erp.url}"\n'))
    try:
        task = asyncio.ensure_future(forward(str(db_path), sink, cfg, asyncio.Event()))
        await asyncio.sleep(0.15)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(forward(str(db_path), sink, cfg, asyncio.Event(), exit_when_drained=True), 30)
    finally:
        await sink.close()
    assert_delivered(conn, erp)
