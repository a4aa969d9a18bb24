"""The outbox over MQTT against a real Mosquitto: broker outage mid-stream and a kill -9
between PUBLISH and recording the PUBACK; the ERP behind the broker applies each batch once."""

import asyncio
import os
import signal
import sys

import pytest

from gateway.upstream.batcher import Batcher
from gateway.upstream.mqtt_sink import MqttSink
from gateway.upstream.outbox import DurableOutbox
from tests.support.mosquitto import Mosquitto, mosquitto_tls_files  # noqa: F401 (fixture)
from tests.support.net import wait_until

from .ledger import assert_delivered, labor
from .mqtt_erp import MqttErp
from .test_crash import ROOT

TOPIC = "gateway/plant1/gl/batches"


@pytest.fixture
async def broker(tmp_path):
    b = Mosquitto(tmp_path / "mosquitto")
    b.start()
    yield b
    b.stop()


@pytest.fixture
async def mqtt_erp(broker):
    bridge = await MqttErp(broker, TOPIC).start()
    yield bridge
    await bridge.stop()


async def test_broker_outage_mid_stream_then_everything_arrives_once_in_order(conn, broker, mqtt_erp):
    for i in range(12):
        labor(conn, 100 + i, wc=f"WC-{i % 2}")
    Batcher(conn, "plant1", "EUR", 2, max_lines=4).run_once(force=True)        # 6 batches
    sink = MqttSink(broker.host, broker.port, TOPIC, username=broker.username,
                    password=broker.password, timeout=2)
    box = DurableOutbox(conn, sink, backoff_base=0.05, backoff_cap=0.2)
    try:
        assert (await box.send_next()).detail == "PUBACK"
        await asyncio.to_thread(broker.stop)
        stop = asyncio.Event()
        task = asyncio.ensure_future(box.drain(stop, idle_poll=0.05))
        await wait_until(lambda: box.stats().errors >= 2, 10, "retries while the broker is down")
        assert box.stats().depth == 5
        await asyncio.to_thread(broker.start)
        await wait_until(lambda: box.stats().depth == 0, 20, "the backlog to drain")
        stop.set()
        await task
    finally:
        await sink.close()
    await wait_until(lambda: len(mqtt_erp.erp.applied) == 6, 10, "6 batches at the ERP")
    assert mqtt_erp.erp.applied == [f"plant1-{i}" for i in range(1, 7)]
    assert_delivered(conn, mqtt_erp.erp)


async def test_kill_after_publish_then_restart_republishes_and_the_consumer_dedupes(conn, db_path, broker, mqtt_erp):
    for i in range(8):
        labor(conn, 1000 + i)
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_FAILPOINTS"}
    env.update(TEST_MQTT_USER=broker.username, TEST_MQTT_PASSWORD=broker.password)
    argv = [sys.executable, "-m", "gateway.upstream.forwarder", "--db", str(db_path), "--sink", "mqtt",
            "--url", broker.url, "--topic", TOPIC, "--gateway-id", "plant1", "--max-lines", "4",
            "--poll", "0.05", "--mqtt-user-env", "TEST_MQTT_USER", "--mqtt-password-env",
            "TEST_MQTT_PASSWORD", "--exit-when-drained"]
    for failpoints, code in (("outbox.after_send=kill@2", -signal.SIGKILL), ("", 0)):
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=ROOT, env={**env, "GATEWAY_FAILPOINTS": failpoints}, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == code, err.decode()[-2000:]
    await wait_until(lambda: len(mqtt_erp.erp.applied) == 4 and mqtt_erp.erp.duplicates == 1, 10,
                     "4 batches, batch 2 delivered twice")
    assert mqtt_erp.erp.applied == ["plant1-1", "plant1-2", "plant1-3", "plant1-4"]
    assert_delivered(conn, mqtt_erp.erp)


async def test_mqtts_sink_from_config_verifies_the_broker_with_the_configured_ca(
        tmp_path, conn, db_path, mosquitto_tls_files, monkeypatch):
    from gateway.upstream.forwarder import ForwarderConfig, forward, sink_from_config

    from .test_forwarder import write_config

    broker = Mosquitto(tmp_path / "tls-broker", tls=mosquitto_tls_files)
    broker.start()
    bridge = await MqttErp(broker, TOPIC).start()
    sink = None
    try:
        monkeypatch.setenv("TEST_MQTT_USER", broker.username)
        monkeypatch.setenv("TEST_MQTT_PASSWORD", broker.password)
        cfg = write_config(tmp_path, f'[mqtt]\nurl = "{broker.tls_url}"\nusername_env = "TEST_MQTT_USER"\n'
                                     f'password_env = "TEST_MQTT_PASSWORD"\nca_file = "{broker.ca_file}"\n\n'
                                     f'[upstream]\nsink = "mqtt"\ntopic = "{TOPIC}"\n')
        for i in range(3):
            labor(conn, 40 + i)
        sink = sink_from_config(cfg)
        assert repr(sink) == f"MqttSink(127.0.0.1:{broker.tls_port}, topic='{TOPIC}')"
        fcfg = ForwarderConfig.from_config(cfg)
        await asyncio.wait_for(forward(str(db_path), sink, fcfg, asyncio.Event(), exit_when_drained=True), 30)
        await wait_until(lambda: len(bridge.erp.applied) == 1, 10, "the batch at the ERP")
        assert_delivered(conn, bridge.erp)
    finally:
        if sink is not None:
            await sink.close()
        await bridge.stop()
        broker.stop()
