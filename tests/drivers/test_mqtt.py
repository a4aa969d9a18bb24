"""MQTT devices driver against a real Mosquitto (private port, passwords, TLS)."""

from __future__ import annotations

import gc
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import AuthError, DecodeError
from drivers.mqtt import KINDS, MqttDevices, decode_device_payload, decode_event_payload
from simulators.mqtt_devices import MqttDeviceSimulator
from simulators import mosquitto as mosquitto_support
from tests.support.mosquitto import Mosquitto, mosquitto, mosquitto_tls_files  # noqa: F401 (fixtures)
from tests.support.net import RecordingSink, wait_until

TOPICS = ["plant/devices/+/readings"]


def driver_for(broker, **kw) -> MqttDevices:
    args = dict(
        id="mqtt1", url=broker.url, topics=TOPICS, events_topic="plant/events",
        username=broker.username, password=broker.password, client_id="gw-test",
        backoff_initial=0.1, backoff_max=0.5,
    )
    return MqttDevices(**(args | kw))


def devices(broker, tls: bool = False) -> MqttDeviceSimulator:
    if tls:
        return MqttDeviceSimulator(broker.tls_url, broker.username, broker.password, ca_file=broker.ca_file)
    return MqttDeviceSimulator(broker.url, broker.username, broker.password)


async def running(driver: MqttDevices) -> RecordingSink:
    sink = RecordingSink()
    await driver.start(sink)
    await wait_until(lambda: sink.state == "connected", what="driver connected")
    return sink


async def test_readings_and_events_are_delivered_with_an_ack(mosquitto):
    driver = driver_for(mosquitto)
    sink = await running(driver)
    try:
        async with devices(mosquitto) as sim:
            await sim.count("press-1", "good", 5, line="WC-ASSY", id="press-1:77")
            await sim.reading("oven-1", "measure", 181.5, unit="degC")
            await sim.reading("oven-1", "humidity", 40)
            await sim.event({"id": "erp:rcpt:1", "type": "receipt", "item": "BOLT", "qty": 10})
            await wait_until(lambda: len(sink.readings) == 4, what="4 readings")
    finally:
        await driver.stop()
    good, temp, humidity, event = sink.readings
    assert (good.device, good.kind, good.value) == ("press-1", "good", 5)
    assert good.attrs["line"] == "WC-ASSY" and good.attrs["event_id"] == "press-1:77"
    assert good.attrs["topic"] == "plant/devices/press-1/readings" and good.attrs["via"] == "mqtt1"
    assert (temp.kind, temp.value, temp.unit) == ("measure", 181.5, "degC")
    assert (humidity.kind, humidity.attrs["kind"]) == ("measure", "humidity")
    assert event.kind == "event" and event.value == {"id": "erp:rcpt:1", "type": "receipt", "item": "BOLT", "qty": 10}
    assert event.attrs["event_id"] == "erp:rcpt:1"
    assert all(callable(r.ack) for r in sink.readings)
    assert sink.problems == []


async def test_unacked_message_is_redelivered_after_reconnect_and_acked_one_is_not(mosquitto):
    first = driver_for(mosquitto)
    sink = await running(first)
    async with devices(mosquitto) as sim:
        await sim.count("press-1", "good", 3, id="m-1")
        await wait_until(lambda: sink.readings, what="first delivery")
        # The gateway died before committing: no ack was ever sent.
        await first.stop()

        second = driver_for(mosquitto)
        sink2 = await running(second)
        await wait_until(lambda: sink2.readings, what="redelivery")
        await sink.readings[0].ack()  # late ack for a closed connection: a harmless no-op
        assert [r.attrs["event_id"] for r in sink2.readings] == ["m-1"]
        await sink2.readings[0].ack()  # committed this time
        await sim.count("press-1", "good", 1, id="m-2")
        await wait_until(lambda: len(sink2.readings) == 2, what="second message")
        await sink2.readings[1].ack()
        await second.stop()

        third = driver_for(mosquitto)
        sink3 = await running(third)
        await sim.count("press-1", "good", 2, id="m-3")
        await wait_until(lambda: sink3.readings, what="marker message")
        await third.stop()
    # Anything still unacked would have been resent before the new message.
    assert [r.attrs["event_id"] for r in sink3.readings] == ["m-3"]


async def test_malformed_payload_is_a_decode_error_with_raw_bytes_and_is_acked(mosquitto):
    driver = driver_for(mosquitto)
    sink = await running(driver)
    async with devices(mosquitto) as sim:
        await sim.raw("plant/devices/press-1/readings", b"{not json")
        await sim.raw("plant/devices/press-1/readings", json.dumps({"device": "press-1", "kind": "good", "value": "five"}).encode())
        await wait_until(lambda: len(sink.problems) == 2, what="two decode errors")
        await driver.stop()
        again = driver_for(mosquitto)
        sink2 = await running(again)
        await sim.count("press-1", "good", 1, id="after")
        await wait_until(lambda: sink2.readings, what="next message")
        await again.stop()
    bad_json, bad_value = sink.problems
    assert isinstance(bad_json, DecodeError) and bad_json.raw == b"{not json"
    assert "payload is not JSON" in str(bad_json)
    assert "value: must be a finite number for kind 'good', got 'five'" in str(bad_value)
    assert sink2.problems == [] and [r.attrs["event_id"] for r in sink2.readings] == ["after"]


class StoringSink(RecordingSink):
    """A sink that acks a reported problem itself, once it has stored it."""

    acks_problems = True


async def test_a_sink_that_acks_problems_gets_the_garbage_again_until_it_stored_it(mosquitto):
    first = driver_for(mosquitto)
    sink = StoringSink()
    await first.start(sink)
    await wait_until(lambda: sink.state == "connected", what="driver connected")
    async with devices(mosquitto) as sim:
        await sim.raw("plant/devices/press-1/readings", b"\x00garbage")
        await wait_until(lambda: sink.problems, what="decode error")
        await first.stop()  # crashed before storing it: no ack
        second = driver_for(mosquitto)
        sink2 = StoringSink()
        await second.start(sink2)
        await wait_until(lambda: sink2.problems, what="the same garbage again")
        await sink2.problems[0].ack()  # stored now
        await sink2.problems[0].ack()  # a second call is a no-op
        await second.stop()
        third = driver_for(mosquitto)
        sink3 = await running(third)
        await sim.count("press-1", "good", 1, id="next")
        await wait_until(lambda: sink3.readings, what="next message")
        await third.stop()
    assert sink2.problems[0].raw == b"\x00garbage"
    assert sink3.problems == [] and [r.attrs["event_id"] for r in sink3.readings] == ["next"]


async def test_anonymous_and_wrong_password_are_refused(mosquitto):
    for kw in ({"username": None, "password": None}, {"password": "wrong"}):
        driver = driver_for(mosquitto, **kw)
        sink = RecordingSink()
        await driver.start(sink)
        try:
            await wait_until(lambda: sink.problems, what="a refusal")
        finally:
            await driver.stop()
        assert isinstance(sink.problems[0], AuthError), sink.problems[0]
        assert "refused the credentials" in str(sink.problems[0])
        assert "connected" not in sink.states


async def test_tls_listener_with_ca_file(mosquitto):
    driver = driver_for(mosquitto, url=mosquitto.tls_url, ca_file=mosquitto.ca_file)
    sink = await running(driver)
    try:
        async with devices(mosquitto, tls=True) as sim:
            await sim.count("press-1", "scrap", 2)
            await wait_until(lambda: sink.readings, what="reading over TLS")
    finally:
        await driver.stop()
    assert (sink.readings[0].kind, sink.readings[0].value) == ("scrap", 2)


# paho 2.2 leaves the SSL socket of a failed handshake for the garbage collector
# (client.py _ssl_wrap_socket); the broker refusal is what this test is about.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
async def test_tls_broker_not_signed_by_a_trusted_ca_is_refused(mosquitto):
    driver = driver_for(mosquitto, url=mosquitto.tls_url)  # system CAs only
    sink = RecordingSink()
    await driver.start(sink)
    try:
        await wait_until(lambda: sink.problems, what="a TLS refusal")
    finally:
        await driver.stop()
        gc.collect()  # collect paho's leaked socket inside this test, under its filter
    assert isinstance(sink.problems[0], AuthError) and "TLS certificate verify failed" in str(sink.problems[0])


async def test_broker_restart_reconnects_and_keeps_the_session(mosquitto):
    driver = driver_for(mosquitto)
    sink = await running(driver)
    try:
        async with devices(mosquitto) as sim:
            await sim.count("press-1", "good", 1, id="before")
            await wait_until(lambda: sink.readings, what="message before the outage")
        await sink.readings[0].ack()
        mosquitto.restart(downtime=0.3)
        await wait_until(lambda: driver.connects == 2 and sink.state == "connected", what="reconnect")
        async with devices(mosquitto) as sim:
            await sim.count("press-1", "good", 1, id="after")
            await wait_until(lambda: len(sink.readings) == 2, what="message after the outage")
    finally:
        await driver.stop()
    assert [r.attrs["event_id"] for r in sink.readings] == ["before", "after"]
    assert "reconnecting" in sink.states
    assert sink.problems and all(type(p).__name__ == "TransportError" for p in sink.problems)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "payload must be a JSON object, got list"),
        ({"kind": "good", "value": 1}, "device: required non-empty string, got None"),
        ({"device": "d", "value": 1}, "kind: required non-empty string, got None"),
        ({"device": "d", "kind": "good"}, "value: required"),
        ({"device": "d", "kind": "scrap", "value": 0}, "value: units made must be > 0, got 0"),
        ({"device": "d", "kind": "measure", "value": 1, "ts": 5}, "ts: must be an RFC 3339 string, got 5"),
        ({"device": "d", "kind": "good", "value": 1, "id": 7}, "id: must be a non-empty string, got 7"),
    ],
)
def test_bad_device_payloads_name_field_and_value(body, message):
    raw = json.dumps(body).encode()
    with pytest.raises(DecodeError) as err:
        decode_device_payload(raw, "t", "mqtt1")
    assert message in str(err.value) and err.value.raw == raw


def test_deeply_nested_payload_is_a_decode_error_not_a_crash():
    payload = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(DecodeError, match="payload nests too deeply") as err:
        decode_device_payload(payload, "t", "mqtt1")
    assert err.value.raw == payload


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
DEVICE_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "device": JSON | st.text(max_size=8), "kind": JSON | st.sampled_from(KINDS + ("rpm",)),
        "value": JSON, "ts": JSON, "unit": JSON, "id": JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=64) | JSON.map(lambda v: json.dumps(v).encode())
       | DEVICE_LIKE.map(lambda v: json.dumps(v).encode()))
def test_any_payload_is_a_reading_or_a_decode_error_keeping_the_bytes(payload):
    for decode in (decode_device_payload, decode_event_payload):
        try:
            reading = decode(payload, "t", "mqtt1")
        except DecodeError as error:
            assert error.raw == payload
        else:
            assert reading.kind in KINDS + ("event",) and isinstance(reading.ts, str)
            if reading.kind != "event":
                assert isinstance(reading.attrs["event_id"], str)


def test_bad_configuration_names_the_field():
    with pytest.raises(ValueError, match="url: must be mqtt://host"):
        MqttDevices("m", "http://x", TOPICS)
    with pytest.raises(ValueError, match="ca_file: given but url 'mqtt://x' is not mqtts://"):
        MqttDevices("m", "mqtt://x", TOPICS, ca_file="/ca.pem")
    with pytest.raises(ValueError, match="topics: at least one"):
        MqttDevices("m", "mqtt://x")
    # A `[[devices]] topic = "…"` entry passes one filter; the default client id is fixed.
    single = MqttDevices("line2", "mqtts://broker", "plant/line2/+/readings")
    assert (single.topics, single.port, single.client_id) == (["plant/line2/+/readings"], 8883, "gateway-line2")


async def test_fixed_rate_publisher_paces_a_bounded_stream(mosquitto):
    driver = driver_for(mosquitto)
    # Acking as a committing gateway does: without acks the broker stops after its
    # in-flight window (Mosquitto: 20 unacked messages per client).
    sink = RecordingSink(auto_ack=True)
    await driver.start(sink)
    try:
        await wait_until(lambda: sink.state == "connected", what="driver connected")
        async with devices(mosquitto) as sim:
            result = await sim.run_at_rate(200, 40)
            await wait_until(lambda: len(sink.readings) == 40, what="40 paced readings")
    finally:
        await driver.stop()
    assert result.sent == 40 and result.seconds >= 39 / 200  # paced, not bursted
    assert [r.attrs["seq"] for r in sink.readings] == list(range(40))
    assert all(r.kind == "measure" and isinstance(r.attrs["sent"], float) for r in sink.readings)


async def test_broker_acl_limits_what_a_device_may_publish(tmp_path, mosquitto_tls_files):
    acl = (
        "user gateway\ntopic read plant/#\n\n"
        "user press-1\ntopic write plant/devices/press-1/#\n"
    )
    broker = Mosquitto(tmp_path / "acl", acl=acl, users={"press-1": "pw1"})
    broker.start()
    driver = driver_for(broker)
    try:
        sink = await running(driver)
        async with MqttDeviceSimulator(broker.url, "press-1", "pw1") as press:
            await press.count("press-2", "good", 9, id="spoofed")  # not its topic: dropped
            await press.count("press-1", "good", 1, id="own")
            await wait_until(lambda: sink.readings, what="the allowed reading")
    finally:
        await driver.stop()
        broker.stop()
    # Same publisher, same session, QoS 1: had the spoofed message passed, it came first.
    assert [r.attrs["event_id"] for r in sink.readings] == ["own"]


def test_missing_broker_program_is_named_with_the_setup_script(tmp_path, monkeypatch):
    monkeypatch.setattr(mosquitto_support, "MOSQUITTO", str(tmp_path / "no-mosquitto"))
    with pytest.raises(mosquitto_support.MosquittoMissing) as err:
        Mosquitto(tmp_path / "broker")
    assert f"{tmp_path / 'no-mosquitto'} not found" in str(err.value) and "./setup.sh" in str(err.value)


class BatchSink(RecordingSink):
    """A sink that takes a driver's burst in one call, as the gateway does."""

    def __init__(self):
        super().__init__()
        self.bursts: list[int] = []

    async def reading_batch(self, readings):
        self.bursts.append(len(readings))
        self.readings.extend(readings)


async def test_a_burst_is_delivered_in_order_and_acked_in_one_write(mosquitto):
    # its own session: other tests leave unacked messages in theirs
    first = driver_for(mosquitto, client_id="gw-burst")
    sink = BatchSink()
    await first.start(sink)
    await wait_until(lambda: sink.state == "connected", what="driver connected")
    async with devices(mosquitto) as sim:
        for k in range(15):  # within the broker's messages in flight
            await sim.count("press-1", "good", 1, id=f"b-{k}")
        await wait_until(lambda: len(sink.readings) == 15, what="15 readings")
        assert sum(sink.bursts) == 15 and all(n > 0 for n in sink.bursts)
        assert [r.attrs["event_id"] for r in sink.readings] == [f"b-{k}" for k in range(15)]
        await first.ack_all([r.ack for r in sink.readings[:10]])  # the first 10 committed
        await first.ack_all([r.ack for r in sink.readings[:10]])  # again: nothing to send
        await first.stop()

        second = driver_for(mosquitto, client_id="gw-burst")
        sink2 = await running(second)
        await wait_until(lambda: len(sink2.readings) == 5, what="the 5 unacked again")
        await sink.readings[10].ack()  # a dead connection's ack: a no-op
        await second.ack_all([r.ack for r in sink2.readings])
        await sim.count("press-1", "good", 1, id="marker")
        await wait_until(lambda: len(sink2.readings) == 6, what="marker")
        await sink2.readings[-1].ack()
        await second.stop()
    assert [r.attrs["event_id"] for r in sink2.readings] == [f"b-{k}" for k in range(10, 15)] + ["marker"]


class AckingSink(BatchSink):
    """Commits (acks) each burst as soon as it arrives."""

    def __init__(self, driver):
        super().__init__()
        self.driver = driver

    async def reading_batch(self, readings):
        await super().reading_batch(readings)
        await self.driver.ack_all([r.ack for r in readings])


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_messages_of_every_size_arrive_whole_and_in_order_when_queued(
        mosquitto, tls):
    # Remaining lengths of 1, 2 and 3 bytes, and a payload larger than one buffered read,
    # queued at the broker while the gateway is away: on reconnect they arrive
    # back to back, many packets a read, split anywhere; each must come out whole.
    url = dict(url=mosquitto.tls_url, ca_file=mosquitto.ca_file) if tls else {}
    cid = f"gw-sizes-{'tls' if tls else 'plain'}"
    first = driver_for(mosquitto, client_id=cid, **url)
    await running(first)  # creates the session and its subscription
    await first.stop()
    sizes = [0, 90, 200, 20_000, 300_000] * 6
    async with devices(mosquitto) as sim:
        for k, size in enumerate(sizes):
            await sim.event({"id": f"s-{k}", "pad": "x" * size})
    driver = driver_for(mosquitto, client_id=cid, **url)
    sink = AckingSink(driver)
    await driver.start(sink)
    await wait_until(lambda: len(sink.readings) >= len(sizes), timeout=30,
                     what="every queued message")
    await driver.stop()
    got = [(r.value["id"], len(r.value["pad"])) for r in sink.readings]
    assert got == [(f"s-{k}", size) for k, size in enumerate(sizes)]


async def test_a_publish_with_mqtt5_properties_arrives_as_one_without(mosquitto):
    """The driver reads a plain QoS 0/1 PUBLISH itself and leaves any other to paho: the
    same reading either way, a UTF-8 topic included."""
    import aiomqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    driver = driver_for(mosquitto)
    sink = await running(driver)
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("line", "WC-ASSY")
    props.ContentType = "application/json"
    topic = "plant/devices/presse-ü/readings"
    body = json.dumps({"device": "presse-ü", "kind": "good", "value": 2}).encode()
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, username=mosquitto.username,
                                  password=mosquitto.password,
                                  protocol=aiomqtt.ProtocolVersion.V5) as pub:
            await pub.publish(topic, body, qos=1)
            await pub.publish(topic, body, qos=1, properties=props)
            await pub.publish(topic, body, qos=0)
            await wait_until(lambda: len(sink.readings) == 3, what="3 readings")
    finally:
        await driver.stop()
    plain, with_props, qos0 = sink.readings
    for r in sink.readings:
        assert (r.device, r.kind, r.value, r.attrs["topic"]) == ("presse-ü", "good", 2, topic)
    assert plain.attrs["packet"][1] != 0 and with_props.attrs["packet"][1] != 0
    assert plain.attrs["packet"][2] == with_props.attrs["packet"][2]  # the same payload
    assert plain.attrs["dup"] is False and with_props.attrs["dup"] is False
    assert "packet" not in qos0.attrs and qos0.ack.mid == 0
    assert sink.problems == []
