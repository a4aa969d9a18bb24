"""The gateway process in-process: readings through mapping into the journal, acks only
after commit, back-pressure while the disk is full, and counts with no active order."""

from __future__ import annotations

import asyncio
import sqlite3

import msgspec
import pytest

from drivers.base import DecodeError, Reading
from gateway import failpoints
from gateway.config import load_config
from gateway.masterdata import load_master
from gateway.runtime import Gateway
from tests.gateway.plant import ev, write_plant


class ScriptedDevice:
    """A device that says what the test tells it to, through the real driver contract;
    each reading records when the gateway acknowledged it."""

    def __init__(self, id: str = "dev"):
        self.id = id
        self.acked: list[str] = []
        self.sink = None

    async def start(self, sink) -> None:
        self.sink = sink
        sink.connection(self.id, "connected")

    async def stop(self) -> None:
        self.sink.connection(self.id, "down")

    async def say(self, kind: str, value, **attrs) -> Reading:
        tag = f"{kind}:{attrs.get('event_id') or (value.get('id') if isinstance(value, dict) else value)}"

        async def ack() -> None:
            self.acked.append(tag)
        r = Reading(self.id, kind, value, "2026-11-20T08:00:00Z", attrs=attrs, ack=ack)
        await self.sink.reading(r)
        return r


@pytest.fixture
def plant(tmp_path):
    cfg = load_config(write_plant(tmp_path))
    cfg = msgspec.structs.replace(cfg, gateway=msgspec.structs.replace(
        cfg.gateway, db=str(tmp_path / "g.db")))
    return cfg, load_master(cfg)


async def _until(cond, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def _running(cfg, master):
    """A gateway running with one scripted device, started and connected."""
    dev = ScriptedDevice()
    gw = Gateway(cfg, master, drivers=[dev])
    stop = asyncio.Event()
    task = asyncio.create_task(gw.run(stop))
    await _until(lambda: dev.sink is not None)
    return gw, dev, stop, task


def _rows(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_counts_follow_the_active_order_and_orphans_become_exceptions(plant):
    cfg, master = plant
    gw, dev, stop, task = await _running(cfg, master)
    counter = dict(node="n1", line="WC2", counter_kind="good", epoch=0)
    await dev.say("counter", 3, delta=3, event_id="dev:n1:0:3", **counter)  # no order yet
    await dev.say("event", ev("rel", "wo_release", work_order="WO", item="F", qty=9, line="WC2"))
    await dev.say("counter", 5, delta=2, event_id="dev:n1:0:5", **counter)
    await dev.say("counter", 5, delta=2, event_id="dev:n1:0:5", **counter)  # replayed notification
    await _until(lambda: len(dev.acked) == 4)
    stop.set()
    await task
    db = cfg.gateway.db
    assert _rows(db, "SELECT kind, reason, raw IS NOT NULL FROM exceptions"
                     " WHERE kind NOT IN ('negative_stock', 'short_components')") == [
        ("unassigned_count", "3 good count(s) on WC2 with no active work order", 1)]
    assert _rows(db, "SELECT good FROM work_orders") == [(2.0,)]
    assert _rows(db, "SELECT device, node, epoch, value FROM counters") == [("dev", "n1", 0, 5)]
    journal, device = gw.devices()
    assert (journal["id"], journal["state"], device["state"]) == ("journal", "connected", "down")
    # the journal's row says what it committed and when, not "never"
    applied = _rows(db, "SELECT count(*) FROM events")[0][0]
    assert journal["readings"] == applied > 0 and journal["last_reading_ts"] is not None


async def test_a_close_in_the_same_batch_ends_the_lines_order_for_the_counts_after_it(plant):
    """Release, count, close, count in one batch: the journal's rule (release sets, close
    clears) is the one the mapper sees, so the last count has no order to go to."""
    cfg, master = plant
    gw, dev, stop, task = await _running(cfg, master)
    counter = dict(node="n1", line="WC2", counter_kind="good", epoch=0)

    acked = []

    def reading(kind, value, **attrs):
        async def ack() -> None:
            acked.append(kind)
        return Reading(dev.id, kind, value, "2026-11-20T08:00:00Z", attrs=attrs, ack=ack)
    await dev.sink.reading_batch([
        reading("event", ev("rel", "wo_release", work_order="WO", item="F", qty=9, line="WC2")),
        reading("counter", 2, delta=2, event_id="dev:n1:0:2", **counter),
        reading("event", ev("cls", "wo_close", work_order="WO")),
        reading("counter", 5, delta=3, event_id="dev:n1:0:5", **counter)])
    await _until(lambda: len(acked) == 4)
    stop.set()
    await task
    db = cfg.gateway.db
    assert _rows(db, "SELECT good, status FROM work_orders") == [(2.0, "closed")]
    assert _rows(db, "SELECT kind, reason FROM exceptions"
                 " WHERE kind NOT IN ('negative_stock', 'short_components')") == [
        ("unassigned_count", "3 good count(s) on WC2 with no active work order")]
    assert _rows(db, "SELECT * FROM active_orders") == []
    assert gw.active_orders.get("WC2") is None


async def test_a_batch_mapped_while_the_one_before_commits_sees_the_orders_of_both(plant):
    """Pipelined group commit: A commits (held 0.6 s in the journal thread) while B, a
    release, is mapped; B commits while C, a count, is mapped. C goes to B's order:
    A's commit does not wipe what the uncommitted B changed in the mapper's view."""
    cfg, master = plant
    gw, dev, stop, task = await _running(cfg, master)
    failpoints.arm("journal.before_commit", "sleep:0.6", 1, 2)  # A and B: slow commits
    try:
        await dev.say("event", ev("a", "receipt", item="A", qty=1, location="L1",
                                  unit_price=2))
        await asyncio.sleep(0.1)  # A is on the journal thread now
        await dev.say("event", ev("rel", "wo_release", work_order="WO", item="F", qty=9,
                                  line="WC2"))
        await _until(lambda: dev.acked == ["event:a"])  # A committed, B is committing
        assert gw.active_orders.get("WC2") == "WO"
        await dev.say("counter", 2, delta=2, event_id="dev:n1:0:2", node="n1", line="WC2",
                      counter_kind="good", epoch=0)
        await _until(lambda: len(dev.acked) == 3)
    finally:
        failpoints.disarm()
    stop.set()
    await task
    db = cfg.gateway.db
    assert dev.acked == ["event:a", "event:rel", "counter:dev:n1:0:2"]
    assert _rows(db, "SELECT work_order, good FROM work_orders") == [("WO", 2.0)]
    assert _rows(db, "SELECT kind FROM exceptions WHERE kind = 'unassigned_count'") == []


async def test_disk_full_holds_acks_raises_an_alarm_and_recovers(plant):
    cfg, master = plant
    gw, dev, stop, task = await _running(cfg, master)
    failpoints.arm("journal.commit", "disk_full", 1, 3)  # the next 3 commits fail
    try:
        await dev.say("event", ev("r1", "receipt", item="A", qty=1, location="L1",
                                  unit_price=2))
        await _until(lambda: any(a.startswith("disk full") for a in gw.alarms))
        assert dev.acked == []  # nothing acknowledged while it cannot be written
        await _until(lambda: dev.acked == ["event:r1"], timeout=15)
    finally:
        failpoints.disarm()
    assert gw.alarms == []
    await dev.say("problem-free", 1.0)
    await dev.sink.problem(dev.id, DecodeError("checksum", raw=b"\x02AB\r"))
    stop.set()
    await task
    db = cfg.gateway.db
    assert _rows(db, "SELECT id FROM events") == [("r1",)]
    assert _rows(db, "SELECT kind, raw FROM exceptions") == [("decode_error", "\x02AB\r")]


def test_disk_nearly_full_raises_an_alarm_shown_with_the_devices(plant):
    cfg, master = plant
    gw = Gateway(cfg, master, drivers=[], disk_alarm_free=2**62)  # more than any disk has
    gw.check_disk()
    [journal] = gw.devices()
    assert journal["state"] == "alarm" and journal["alarms"][0].startswith("disk nearly full")
    gw.disk_alarm_free = 0
    gw.check_disk()
    assert gw.devices()[0]["alarms"] == [] and gw.devices()[0]["state"] == "connected"
    gw.journal.close()


async def test_any_commit_failure_holds_inputs_with_an_alarm_then_recovers(plant):
    cfg, master = plant
    gw, dev, stop, task = await _running(cfg, master)
    failpoints.arm("journal.before_commit", "raise", 1, 2)  # not a disk error: a surprise
    try:
        await dev.say("event", ev("r1", "receipt", item="A", qty=1, location="L1",
                                  unit_price=2))
        await _until(lambda: any(a.startswith("commit failed") for a in gw.alarms))
        assert dev.acked == [] and not task.done()  # held, and the committer lives on
        await _until(lambda: dev.acked == ["event:r1"], timeout=15)
    finally:
        failpoints.disarm()
    assert gw.alarms == []
    stop.set()
    await task
    assert _rows(cfg.gateway.db, "SELECT id FROM events") == [("r1",)]


async def test_stopping_while_commits_keep_failing_returns_without_acknowledging(plant):
    cfg, master = plant
    gw, dev, stop, task = await _running(cfg, master)
    failpoints.arm("journal.before_commit", "raise")  # every commit fails from now on
    try:
        await dev.say("event", ev("r1", "receipt", item="A", qty=1, location="L1",
                                  unit_price=2))
        await _until(lambda: any(a.startswith("commit failed") for a in gw.alarms))
        stop.set()
        await asyncio.wait_for(task, 20)  # shutdown is not held hostage by the disk
    finally:
        failpoints.disarm()
    assert dev.acked == []  # the broker keeps it and redelivers to the next run
    assert _rows(cfg.gateway.db, "SELECT COUNT(*) FROM events") == [(0,)]


def _receipt_reading(dev: ScriptedDevice, k: int) -> Reading:
    tag = f"event:b{k}"

    async def ack() -> None:
        dev.acked.append(tag)
    value = ev(f"b{k}", "receipt", item="A", qty=1, location="L1", unit_price=2)
    return Reading(dev.id, "event", value, "2026-11-20T08:00:00Z", ack=ack)


async def test_a_burst_is_committed_in_order_and_acked_after_commit_with_back_pressure(plant):
    cfg, master = plant
    dev = ScriptedDevice()
    gw = Gateway(cfg, master, drivers=[dev], queue_size=10)
    stop = asyncio.Event()
    task = asyncio.create_task(gw.run(stop))
    await _until(lambda: dev.sink is not None)
    failpoints.arm("journal.before_commit", "raise", 1, 5)  # hold commits for ~3 s
    try:
        await dev.sink.reading_batch([_receipt_reading(dev, k) for k in range(8)])
        await _until(lambda: any(a.startswith("commit failed") for a in gw.alarms))
        # The committer holds those 8; the inbox takes bursts until it has 10 waiting,
        # then a driver's next burst waits (back-pressure) instead of growing it.
        await dev.sink.reading_batch([_receipt_reading(dev, k) for k in range(8, 20)])
        blocked = asyncio.create_task(
            dev.sink.reading_batch([_receipt_reading(dev, k) for k in range(20, 25)]))
        await asyncio.sleep(0.3)
        assert not blocked.done() and dev.acked == []
        await _until(lambda: len(dev.acked) == 25, timeout=20)
        await blocked
    finally:
        failpoints.disarm()
    stop.set()
    await task
    ids = [f"b{k}" for k in range(25)]
    assert dev.acked == [f"event:{i}" for i in ids]
    assert _rows(cfg.gateway.db, "SELECT id FROM events ORDER BY seq") == [(i,) for i in ids]
    assert gw.devices()[1]["readings"] == 25


async def test_the_events_counter_counts_each_applied_event_by_device_and_type(plant):
    from gateway.metrics import Metrics
    cfg, master = plant
    dev, other = ScriptedDevice(), ScriptedDevice("other")
    metrics = Metrics()
    gw = Gateway(cfg, master, metrics=metrics, drivers=[dev, other])
    stop = asyncio.Event()
    task = asyncio.create_task(gw.run(stop))
    await _until(lambda: dev.sink is not None and other.sink is not None)
    acked = []

    def reading(device, value):
        async def ack() -> None:
            acked.append(value["id"])
        return Reading(device, "event", value, "2026-11-20T08:00:00Z", ack=ack)
    rel = ev("rel", "wo_release", work_order="WO", item="F", qty=9, line="WC2")
    await dev.sink.reading_batch([
        reading("dev", rel),
        reading("dev", rel),                                        # a duplicate
        reading("other", ev("rel2", "wo_release", work_order="WO2", item="F", qty=1, line="WC1")),
        reading("dev", ev("cls", "wo_close", work_order="WO")),
        reading("dev", ev("bad", "wo_close"))])                     # rejected: no work order
    await _until(lambda: len(acked) == 5)
    stop.set()
    await task
    counted = {(s.labels["device"], s.labels["type"]): s.value
               for m in metrics.events.collect() for s in m.samples if s.name.endswith("_total")}
    assert counted == {("mqtt:? via:dev", "wo_release"): 1.0,   # the channel: no topic here
                       ("mqtt:? via:other", "wo_release"): 1.0,
                       ("mqtt:? via:dev", "wo_close"): 1.0}
    rejects = {s.labels["reason"]: s.value
               for m in metrics.rejects.collect() for s in m.samples if s.name.endswith("_total")}
    assert rejects == {"rejected": 1.0}


async def test_a_batch_of_readings_counts_each_device_once_per_reading(plant):
    from gateway.metrics import Metrics

    cfg, master = plant
    metrics = Metrics()
    dev = ScriptedDevice()
    gw = Gateway(cfg, master, drivers=[dev], metrics=metrics)
    stop = asyncio.Event()
    task = asyncio.create_task(gw.run(stop))
    await _until(lambda: dev.sink is not None)
    acked = []

    async def ack() -> None:
        acked.append(1)
    await dev.sink.reading_batch([
        Reading(name, "event", ev(f"{name}-{k}", "receipt", item="A", qty=1, location="L1",
                                  unit_price=2.0), "2026-11-20T08:00:00Z", ack=ack)
        for name, k in [("scale-1", 0), ("scale-2", 0), ("scale-1", 1), ("scale-1", 2)]])
    await _until(lambda: len(acked) == 4)
    stop.set()
    await task
    counted = {s.labels["device"]: s.value for m in metrics.readings.collect()
               for s in m.samples if s.name.endswith("_total")}
    assert counted == {"scale-1": 3.0, "scale-2": 1.0}
