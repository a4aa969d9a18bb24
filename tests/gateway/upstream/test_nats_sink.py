"""What only the JetStream sink does, on a real nats-server: dedupe by Nats-Msg-Id, the
stream sequence in the Ack and in the outbox, outages, the start-up stream check."""

import asyncio
import json

import nats
import pytest
from nats.js.api import StreamConfig

from gateway.upstream.nats_sink import NatsSink, stream_subjects_for, subject_matches
from gateway.upstream.outbox import DurableOutbox
from gateway.upstream.sink import Ack, Reject, Retry, UpstreamSetupError
from tests.support.nats_server import nats_server, nats_server_auth  # noqa: F401 (fixtures)

from .ledger import labor
from .nats_stream import stream_batch_ids, stream_messages
from .test_outbox import Sleeps, queue
from .test_sinks import batch

SUBJECT = "gl.plant1.gw1"


def sink_for(server, *, stream="GL", create=True, **kw) -> NatsSink:
    kw.setdefault("user", server.user)
    kw.setdefault("password", server.password)
    return NatsSink([server.url], SUBJECT, stream, stream_subjects="gl.*.*",
                    create_stream=create, timeout=kw.pop("timeout", 2), **kw)


async def add_stream(server, **config) -> None:
    nc = await nats.connect(server.url, user=server.user, password=server.password)
    try:
        await nc.jetstream().add_stream(StreamConfig(**config))
    finally:
        await nc.close()


async def test_a_resend_of_the_same_batch_id_is_an_ack_and_one_message(nats_server_auth):
    sink = sink_for(nats_server_auth)
    try:
        assert await sink.send(batch(1)) == Ack("stream GL seq 1")
        assert await sink.send(batch(2)) == Ack("stream GL seq 2")
        assert await sink.send(batch(1)) == Ack("stream GL seq 1 duplicate")
    finally:
        await sink.close()
    messages = await stream_messages(nats_server_auth, "GL")
    assert [(m.seq, m.subject, m.headers["Nats-Msg-Id"]) for m in messages] == [
        (1, SUBJECT, "plant1-1"), (2, SUBJECT, "plant1-2")]
    assert json.loads(messages[0].data) == batch(1)


async def test_server_restart_under_a_connected_sink_is_retry_then_ack(nats_server):
    sink = sink_for(nats_server)
    try:
        assert isinstance(await sink.send(batch(1)), Ack)
        await asyncio.to_thread(nats_server.stop)
        down = await sink.send(batch(2))
        assert isinstance(down, Retry) and nats_server.url in down.reason
        await asyncio.to_thread(nats_server.start)          # same store: the stream is back
        assert await sink.send(batch(2)) == Ack("stream GL seq 2")
    finally:
        await sink.close()
    assert await stream_batch_ids(nats_server, "GL") == ["plant1-1", "plant1-2"]


async def test_missing_stream_without_create_stream_stops_the_start_naming_it(nats_server):
    sink = sink_for(nats_server, stream="PLANT_GL", create=False)
    try:
        with pytest.raises(UpstreamSetupError, match="stream 'PLANT_GL' does not exist.*"
                                                     "create_stream = true"):
            await sink.verify()
        retry = await sink.send(batch(1))                   # later: kept, not lost
        assert isinstance(retry, Retry) and "PLANT_GL" in retry.reason
        await add_stream(nats_server, name="PLANT_GL", subjects=["gl.>"])
        assert await sink.send(batch(1)) == Ack("stream PLANT_GL seq 1")
    finally:
        await sink.close()


async def test_a_stream_that_does_not_take_our_subject_stops_the_start(nats_server):
    await add_stream(nats_server, name="GL", subjects=["erp.>"])
    sink = sink_for(nats_server, create=False)
    try:
        with pytest.raises(UpstreamSetupError, match=r"'GL' does not take subject 'gl.plant1.gw1'"):
            await sink.verify()
    finally:
        await sink.close()


async def test_verify_with_the_server_down_lets_the_gateway_start(nats_server):
    nats_server.stop()
    sink = sink_for(nats_server, timeout=0.5)
    try:
        await sink.verify()                                  # logged, not raised
        assert isinstance(await sink.send(batch(1)), Retry)
    finally:
        await sink.close()


async def test_wrong_password_is_retry_never_an_exception(nats_server_auth):
    sink = sink_for(nats_server_auth, password="wrong")
    try:
        verdict = await sink.send(batch(1))
        assert isinstance(verdict, Retry) and "Authorization" in verdict.reason
    finally:
        await sink.close()


async def test_a_batch_larger_than_the_stream_takes_is_rejected_the_next_goes(nats_server):
    await add_stream(nats_server, name="GL", subjects=["gl.>"], max_msg_size=2000)
    big = batch(1)
    big["lines"] = big["lines"] * 40
    sink = sink_for(nats_server, create=False)
    try:
        verdict = await sink.send(big)
        assert isinstance(verdict, Reject) and "10054" in verdict.reason
        assert await sink.send(batch(2)) == Ack("stream GL seq 1")
    finally:
        await sink.close()


async def test_the_outbox_records_the_stream_sequence_of_each_batch(conn, nats_server):
    queue(conn, 3)
    sink = sink_for(nats_server)
    try:
        await DurableOutbox(conn, sink, sleep=Sleeps()).drain(until_empty=True)
    finally:
        await sink.close()
    rows = conn.execute("SELECT batch_id, state, ack_detail FROM batches ORDER BY seq").fetchall()
    assert rows == [("plant1-1", "acked", "stream GL seq 1"),
                    ("plant1-2", "acked", "stream GL seq 2"),
                    ("plant1-3", "acked", "stream GL seq 3")]


def test_subject_patterns():
    assert stream_subjects_for("gl.{plant}.{gateway}") == "gl.*.*"
    assert subject_matches("gl.*.*", "gl.p1.g1") and subject_matches("gl.>", "gl.p1.g1")
    assert not subject_matches("gl.*", "gl.p1.g1") and not subject_matches("gl.>", "gl")
    assert not subject_matches("erp.>", "gl.p1.g1")
