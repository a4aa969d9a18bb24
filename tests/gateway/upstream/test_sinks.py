"""One contract suite run against every upstream sink, plus what only the file sink does
(what only the NATS sink does is in test_nats_sink.py)."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.upstream.file_sink import FileSink
from gateway.upstream.http_sink import HttpSink
from gateway.upstream.mqtt_sink import MqttSink
from gateway.upstream.nats_sink import NatsSink
from gateway.upstream.sink import Ack, Retry
from tests.support.mosquitto import Mosquitto
from tests.support.nats_server import NatsServer
from tests.support.net import wait_until

from .mqtt_erp import MqttErp
from .nats_stream import stream_batch_ids

ROOT = Path(__file__).resolve().parents[3]


def batch(seq: int, cents: int = 1230) -> dict:
    amount = f"{cents // 100}.{cents % 100:02d}"
    return {"batch_id": f"plant1-{seq}", "seq": seq, "period": "2026-11", "currency": "EUR",
            "lines": [{"account": "1400", "work_center": "WC-A", "debit": amount, "credit": "0.00"},
                      {"account": "5100", "work_center": "WC-A", "debit": "0.00", "credit": amount}],
            "totals": {"debit": amount, "credit": amount}, "entries": [seq],
            "created_at": "2026-11-22T04:00:00.000Z"}


def file_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["batch_id"] for line in path.read_text().splitlines()]


class HttpCase:
    def __init__(self, erp):
        self.erp = erp

    def sink(self):
        return HttpSink(self.erp.url, timeout=2)

    async def received(self, n: int) -> list[str]:
        return list(self.erp.applied)

    async def break_upstream(self):
        await self.erp.stop_listening()

    async def mend_upstream(self):
        await self.erp.start_listening()


class FileCase:
    def __init__(self, tmp_path: Path):
        self.dir = tmp_path / "out"
        self.dir.mkdir()
        self.path = self.dir / "batches.jsonl"

    def sink(self):
        return FileSink(self.path)

    async def received(self, n: int) -> list[str]:
        return file_ids(self.path)

    async def break_upstream(self):
        self.dir.rename(self.dir.with_name("gone"))   # the folder vanished (unmounted share)

    async def mend_upstream(self):
        self.dir.with_name("gone").rename(self.dir)


class MqttCase:
    topic = "gateway/plant1/gl/batches"

    def __init__(self, broker: Mosquitto):
        self.broker = broker
        self.bridge = MqttErp(broker, self.topic)

    def sink(self):
        b = self.broker
        return MqttSink(b.host, b.port, self.topic, username=b.username, password=b.password, timeout=3)

    async def received(self, n: int) -> list[str]:
        await wait_until(lambda: len(self.bridge.erp.applied) >= n, 10, f"{n} batches over MQTT")
        return list(self.bridge.erp.applied)

    async def break_upstream(self):
        await asyncio.to_thread(self.broker.stop)

    async def mend_upstream(self):
        await asyncio.to_thread(self.broker.start)


class NatsCase:
    def __init__(self, server: NatsServer):
        self.server = server

    def sink(self):
        return NatsSink([self.server.url], "gl.plant1.gw1", "GL", stream_subjects="gl.*.*",
                        create_stream=True, user=self.server.user,
                        password=self.server.password, timeout=2)

    async def received(self, n: int) -> list[str]:
        return await stream_batch_ids(self.server, "GL")

    async def break_upstream(self):
        await asyncio.to_thread(self.server.stop)

    async def mend_upstream(self):
        await asyncio.to_thread(self.server.start)


@pytest.fixture(params=["http", "file", "mqtt", "nats"])
async def case(request, tmp_path, erp):
    if request.param == "http":
        yield HttpCase(erp)
    elif request.param == "file":
        yield FileCase(tmp_path)
    elif request.param == "nats":
        server = NatsServer(tmp_path / "nats", auth=True).start()
        try:
            yield NatsCase(server)
        finally:
            server.stop()
    else:
        broker = Mosquitto(tmp_path / "mosquitto")
        broker.start()
        c = MqttCase(broker)
        await c.bridge.start()
        try:
            yield c
        finally:
            await c.bridge.stop()
            broker.stop()


async def test_contract_ack_then_a_resend_is_acked_and_kept_once(case):
    sink = case.sink()
    try:
        assert isinstance(await sink.send(batch(1)), Ack)
        assert isinstance(await sink.send(batch(2)), Ack)
        assert isinstance(await sink.send(batch(1)), Ack)       # a resend after a crash
    finally:
        await sink.close()
    again = case.sink()                                          # a restarted process
    try:
        assert isinstance(await again.send(batch(2)), Ack)
    finally:
        await again.close()
        await again.close()                                      # close is idempotent
    assert await case.received(2) == ["plant1-1", "plant1-2"]


async def test_contract_unreachable_upstream_is_retry_never_an_exception(case):
    await case.break_upstream()                                  # down when the gateway starts
    sink = case.sink()
    try:
        verdict = await sink.send(batch(1))
        assert isinstance(verdict, Retry) and verdict.reason
        await case.mend_upstream()
        assert isinstance(await sink.send(batch(1)), Ack)
        assert isinstance(await sink.send(batch(2)), Ack)
    finally:
        await sink.close()
    assert await case.received(2) == ["plant1-1", "plant1-2"]


async def test_file_sink_writes_whole_lines_before_acking(tmp_path):
    path = tmp_path / "b.jsonl"
    sink = FileSink(path)
    try:
        for seq in (1, 2, 3):
            assert await sink.send(batch(seq)) == Ack("written")
            # another reader sees the complete line the moment the ack is returned
            assert path.read_bytes().endswith(b"\n") and file_ids(path)[-1] == f"plant1-{seq}"
        assert await sink.send(batch(2)) == Ack("already in file")
    finally:
        await sink.close()
    assert json.loads(path.read_text().splitlines()[1]) == batch(2)


async def test_file_sink_cuts_a_torn_last_line_and_writes_the_batch_whole(tmp_path):
    path = tmp_path / "b.jsonl"
    good = json.dumps(batch(1)) + "\n"
    path.write_text(good + json.dumps(batch(2))[:40])          # died mid-write of batch 2
    sink = FileSink(path)
    try:
        assert await sink.send(batch(1)) == Ack("already in file")
        assert await sink.send(batch(2)) == Ack("written")
    finally:
        await sink.close()
    assert file_ids(path) == ["plant1-1", "plant1-2"]


def test_file_sink_full_disk_is_retry_and_leaves_no_partial_line(tmp_path):
    # A real write failure: the file-size limit makes write() fail with EFBIG, like ENOSPC.
    path = tmp_path / "b.jsonl"
    script = f"""
import asyncio, json, resource, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from gateway.upstream.file_sink import FileSink
from tests.gateway.upstream.test_sinks import batch
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
async def main():
    sink = FileSink({str(path)!r})
    first = await sink.send(batch(1))
    size = len(open({str(path)!r}, 'rb').read())
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, size + 100))
    big = batch(2)
    big['lines'] = big['lines'] * 20
    second = await sink.send(big)
    print(json.dumps([type(first).__name__, type(second).__name__, getattr(second, 'reason', '')]))
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    first, second, reason = json.loads(out.stdout)
    assert (first, second) == ("Ack", "Retry")
    assert "File too large" in reason and str(path) in reason
    assert file_ids(path) == ["plant1-1"]                      # the partial line was cut off
    assert path.read_bytes().endswith(b"\n")
