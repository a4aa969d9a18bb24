"""DurableOutbox + HttpSink against the real ERP simulator: order, ack, retry, quarantine."""

import asyncio
import json
import random
import sqlite3
import threading

import pytest

from gateway import failpoints
from gateway.upstream.batcher import Batcher
from gateway.upstream.http_sink import HttpSink
from gateway.upstream.outbox import DurableOutbox, RequeueError, read_stats
from gateway.upstream.sink import Ack, Reject, Retry

from .ledger import assert_delivered, labor, post


class Sleeps:
    """Injected sleep: records the backoff asked for, waits only a token moment."""

    def __init__(self):
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)


def queue(conn, n: int, per_batch: int = 1) -> None:
    """n batches of `per_batch` labor entries each."""
    b = Batcher(conn, "plant1", "EUR", 2, max_lines=2 * per_batch)
    for i in range(n * per_batch):
        labor(conn, 100 + i, wc=f"WC-{i % 3}")
    b.run_once(force=True)


@pytest.fixture
async def sink(erp):
    s = HttpSink(erp.url, timeout=2)
    yield s
    await s.close()


def outbox(conn, sink, **kw):
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("rng", random.Random(7))
    return DurableOutbox(conn, sink, **kw)


async def test_sends_in_seq_order_and_records_acks(conn, erp, sink):
    queue(conn, 5)
    box = outbox(conn, sink)
    await box.drain(until_empty=True)
    assert erp.applied == [f"plant1-{i}" for i in range(1, 6)]
    s = box.stats()
    assert (s.depth, s.quarantined, s.acked, s.errors, s.oldest_unacked_age_s) == (0, 0, 5, 0, None)
    assert s.last_ack_at is not None and s.send_latency_last_s > 0 and s.send_latency_avg_s > 0
    assert_delivered(conn, erp)


async def test_409_already_there_is_an_ack(conn, erp, sink):
    queue(conn, 2)
    first = json.loads(conn.execute("SELECT payload FROM batches WHERE seq = 1").fetchone()[0])
    assert await sink.send(first) == Ack("HTTP 201")          # ERP got it; we never recorded it
    assert await outbox(conn, sink).send_next() == Ack("HTTP 409")
    await outbox(conn, sink).drain(until_empty=True)
    assert erp.duplicates == 1
    assert_delivered(conn, erp)


async def test_4xx_quarantines_and_later_batches_go_on_then_a_supervisor_retries(conn, erp, sink):
    queue(conn, 4)
    erp.set_mode(reject=["plant1-2"])
    box = outbox(conn, sink)
    await box.drain(until_empty=True)
    assert erp.applied == ["plant1-1", "plant1-3", "plant1-4"]
    state, attempts, last_error = conn.execute(
        "SELECT state, attempts, last_error FROM batches WHERE seq = 2").fetchone()
    assert (state, attempts) == ("quarantined", 1)
    assert last_error.startswith("HTTP 422: ") and "plant1-2 rejected by ERP rule" in last_error
    kind, event_id, reason, raw = conn.execute(
        "SELECT kind, event_id, reason, raw FROM exceptions").fetchone()
    assert (kind, event_id) == ("dead_letter", "plant1-2")
    assert "HTTP 422" in reason
    assert json.loads(raw)["batch_id"] == "plant1-2"           # the payload, verbatim
    assert box.stats().quarantined == 1 and box.stats().errors == 1
    with pytest.raises(RequeueError, match="seq: batch 3 is acked"):
        box.retry(3)
    with pytest.raises(RequeueError, match="seq: no batch 99"):
        box.retry(99)
    erp.set_mode(reset=True)
    box.retry(2)
    assert conn.execute("SELECT status, resolution FROM exceptions").fetchone() == (
        "resolved", "batch sent again (retry)")
    await box.drain(until_empty=True)
    assert erp.applied[-1] == "plant1-2"
    assert_delivered(conn, erp)


async def test_5xx_retries_the_same_batch_with_capped_exponential_backoff(conn, erp, sink):
    queue(conn, 3)
    erp.set_mode(fail=503, fail_count=6)
    sleeps = Sleeps()
    box = outbox(conn, sink, sleep=sleeps, backoff_base=1, backoff_cap=8)
    await box.drain(until_empty=True)
    assert len(sleeps.asked) == 6
    ceilings = [1, 2, 4, 8, 8, 8]
    for asked, ceiling in zip(sleeps.asked, ceilings):
        assert ceiling / 2 <= asked <= ceiling                  # equal jitter under the cap
    assert conn.execute("SELECT attempts FROM batches WHERE seq = 1").fetchone()[0] == 7
    assert erp.applied == ["plant1-1", "plant1-2", "plant1-3"]  # nothing overtook batch 1
    assert box.stats().errors == 6
    assert_delivered(conn, erp)


async def test_refused_connection_is_retried_until_the_erp_listens_again(conn, erp, sink):
    queue(conn, 2)
    await erp.stop_listening()
    box = outbox(conn, sink)
    verdict = await box.send_next()
    assert isinstance(verdict, Retry) and "ClientConnectorError" in verdict.reason
    assert conn.execute("SELECT state, last_error FROM batches WHERE seq = 1").fetchone()[0] == "pending"
    await erp.start_listening()
    await box.drain(until_empty=True)
    assert_delivered(conn, erp)


async def test_timeout_is_retried_and_the_erp_dedupes_the_resend(conn, erp):
    queue(conn, 1)
    erp.set_mode(slow=1.0)                   # applies, then answers after 1 s
    slow_sink = HttpSink(erp.url, timeout=0.3)
    try:
        box = outbox(conn, slow_sink)
        verdict = await box.send_next()
        assert isinstance(verdict, Retry) and "timeout" in verdict.reason
        erp.set_mode(slow=0)
        assert await box.send_next() == Ack("HTTP 409")
    finally:
        await slow_sink.close()
    assert erp.duplicates == 1
    assert_delivered(conn, erp)


async def test_bearer_token_and_idempotency_key_are_sent(conn, erp):
    erp.token = "s3cret"
    queue(conn, 2)
    bad = HttpSink(erp.url, token="wrong")
    good = HttpSink(erp.url, token="s3cret")
    try:
        verdict = await bad.send(json.loads(conn.execute("SELECT payload FROM batches WHERE seq=1").fetchone()[0]))
        assert isinstance(verdict, Reject) and verdict.reason.startswith("HTTP 401: ")
        assert "HttpSink('http://" in repr(good) and "s3cret" not in repr(good)
        await outbox(conn, good).drain(until_empty=True)
    finally:
        await bad.close()
        await good.close()
    assert [r["key"] for r in erp.received] == ["plant1-1", "plant1-2"]
    assert_delivered(conn, erp)


async def test_disk_full_when_recording_the_ack_loses_nothing_and_recovers(conn, erp, sink):
    queue(conn, 3)
    failpoints.arm("outbox.commit", "disk_full", 2, 3)       # the ack of batch 2, then its retry
    sleeps = Sleeps()
    box = outbox(conn, sink, sleep=sleeps)
    await box.drain(until_empty=True)
    assert len(sleeps.asked) == 2                              # backed off twice, then recorded
    assert erp.requests == 3                                   # the held ack was not resent
    assert box.stats().errors == 2
    assert_delivered(conn, erp)


async def test_disk_full_on_ack_then_crash_resends_and_the_erp_dedupes(conn, erp, sink):
    queue(conn, 2)
    failpoints.arm("outbox.commit", "disk_full", 1, 1)
    box = outbox(conn, sink)
    with pytest.raises(Exception, match="database or disk is full"):
        await box.send_next()
    assert conn.execute("SELECT state FROM batches WHERE seq = 1").fetchone()[0] == "pending"
    # The process dies here: the in-memory ack is gone; a new outbox resends batch 1.
    await outbox(conn, sink).drain(until_empty=True)
    assert erp.duplicates == 1
    assert_delivered(conn, erp)


async def test_long_outage_queues_many_batches_and_drains_them_in_order(conn, erp, sink):
    await erp.stop_listening()
    queue(conn, 40, per_batch=3)
    stop = asyncio.Event()
    box = DurableOutbox(conn, sink, backoff_base=0.01, backoff_cap=0.05)
    task = asyncio.ensure_future(box.drain(stop, idle_poll=0.02))
    await asyncio.sleep(0.5)
    s = box.stats()
    assert s.depth == 40 and s.acked == 0 and s.errors >= 3 and s.oldest_unacked_age_s >= 0
    await erp.start_listening()
    for _ in range(200):
        if box.stats().depth == 0:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert erp.applied == [f"plant1-{i}" for i in range(1, 41)]
    assert read_stats(conn).depth == 0
    assert_delivered(conn, erp)


async def test_a_sink_that_raises_does_not_lose_the_batch(conn, erp, sink):
    queue(conn, 1)

    class Broken:
        async def send(self, batch):
            raise RuntimeError("bug")

    verdict = await outbox(conn, Broken()).send_next()
    assert verdict == Retry("sink raised RuntimeError: bug")
    await outbox(conn, sink).drain(until_empty=True)
    assert_delivered(conn, erp)


async def test_detail_batches_reach_the_erp_balanced(conn, erp, sink):
    post(conn, [("1400", 1230, 0, "WC-A", "WO-1", "FG-1", "x"), ("1330", 0, 1000), ("9990", 0, 230)])
    Batcher(conn, "plant1", "EUR", 2, summarize=False).run_once(force=True)
    await outbox(conn, sink).drain(until_empty=True)
    assert_delivered(conn, erp)


async def test_wall_clock_stepping_back_changes_nothing_but_recorded_times(conn, erp, sink):
    # Batches stamped by a clock that later stepped back an hour: created "in the future".
    future = iter(["2099-01-01T00:00:0%d.000Z" % i for i in range(10)])
    b = Batcher(conn, "plant1", "EUR", 2, max_lines=2, wall=lambda: next(future))
    for i in range(3):
        labor(conn, 100 + i)
    b.run_once(force=True)
    assert read_stats(conn).oldest_unacked_age_s == 0.0              # never negative
    walls = iter(["2026-11-22T05:00:00.000Z", "2026-11-22T04:00:00.000Z", "2026-11-22T03:00:00.000Z"])
    box = outbox(conn, sink, wall=lambda: next(walls))
    await box.drain(until_empty=True)
    assert erp.applied == ["plant1-1", "plant1-2", "plant1-3"]       # order is seq, not time
    assert [a for (a,) in conn.execute("SELECT acked_at FROM batches ORDER BY seq")] == [
        "2026-11-22T05:00:00.000Z", "2026-11-22T04:00:00.000Z", "2026-11-22T03:00:00.000Z"]
    assert_delivered(conn, erp)


@pytest.mark.parametrize("status,verdict", [
    (400, Reject), (401, Reject), (404, Reject), (422, Reject),
    (408, Retry), (429, Retry),            # "come back later" statuses are not a refusal
    (500, Retry), (502, Retry), (503, Retry),
])
async def test_http_status_classification(erp, sink, status, verdict):
    from .test_sinks import batch

    erp.set_mode(fail=status, fail_count=1)
    got = await sink.send(batch(1))
    assert type(got) is verdict and got.reason == f"HTTP {status}: " + '{"error": "simulated failure"}'
    assert await sink.send(batch(1)) == Ack("HTTP 201")


async def test_recording_an_ack_while_another_writer_holds_the_lock_keeps_the_loop_running(
        conn, db_path, erp, sink):
    # The journal's thread commits on its own connection; the ack waits for the lock
    # without blocking the event loop the readings arrive on.
    queue(conn, 2)
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, other.execute, ("COMMIT",)).start()
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.ensure_future(ticker())
    try:
        assert await outbox(conn, sink).send_next() == Ack("HTTP 201")
    finally:
        t.cancel()
        other.close()
    assert ticks >= 10                                         # the loop ran meanwhile
    assert conn.execute("SELECT state FROM batches WHERE seq = 1").fetchone()[0] == "acked"
    await outbox(conn, sink).drain(until_empty=True)
    assert erp.duplicates == 0
    assert_delivered(conn, erp)
