"""gateway.toml -> driver constructors: one path for every driver, no key lost on the way."""

from __future__ import annotations

import gc
import inspect
import typing

import msgspec
import pytest

from drivers import REGISTRY, driver_class
from gateway.config import ConfigError, Device, MqttSection, load_config
from gateway.devices import GATEWAY_KEYS, MQTT_GATEWAY_KEYS, RENAMED, SHARED, build_drivers
from simulators.certs import make_tls
from tests.gateway.test_config import MINIMAL, write
from tests.support.mosquitto import Mosquitto, MosquittoMissing
from tests.support.net import RecordingSink, wait_until

LOGIN = 'username_env = "GW_TEST_MQTT_USER"\npassword_env = "GW_TEST_MQTT_PASSWORD"\n'


def _params(kind: str) -> set[str]:
    return set(inspect.signature(driver_class(kind)).parameters)


def _argument(key: str) -> str:
    if key.endswith("_env"):
        return key[:-len("_env")]
    return RENAMED[key][0] if key in RENAMED else key


def test_every_device_key_is_a_constructor_argument_or_the_gateways():
    """A key added to a [[devices]] struct that no driver takes fails here, not in a plant."""
    tags = {}
    for struct in typing.get_args(Device):
        kind = struct.__struct_config__.tag
        tags[kind] = struct
        keys = {f.name for f in msgspec.structs.fields(struct)}
        lost = {k for k in keys - GATEWAY_KEYS.get(kind, set()) if _argument(k) not in
                _params(kind)}
        assert lost == set(), f"{kind}: keys that reach no constructor argument: {lost}"
    assert set(tags) == set(REGISTRY)  # every configurable driver is registered, and back
    assert set(SHARED) <= set(REGISTRY)


def test_every_mqtt_section_key_reaches_the_device_connection():
    keys = {f.name for f in msgspec.structs.fields(MqttSection)} - MQTT_GATEWAY_KEYS
    assert {"cert_file", "key_file", "ca_file", "username_env"} <= keys
    lost = {k for k in keys if _argument(k) not in _params("mqtt")}
    assert lost == set()


def test_mqtt_client_certificate_reaches_the_device_and_events_connections(tmp_path,
                                                                         monkeypatch):
    tls = make_tls(tmp_path / "tls")
    monkeypatch.setenv("GW_TEST_MQTT_USER", "gw")
    monkeypatch.setenv("GW_TEST_MQTT_PASSWORD", "pw")
    text = (MINIMAL + '\n[mqtt]\nurl = "mqtts://127.0.0.1:8883"\n' + LOGIN
            + 'events_topic = "plant/events"\nca_file = "tls/ca.pem"\n'
              'cert_file = "tls/server.pem"\nkey_file = "tls/server.key.pem"\n'
              'receive_maximum = 7\nsession_expiry_s = 60\nprotocol = 3\n'
            + '\n[[devices]]\nid = "line-mqtt"\ndriver = "mqtt"\n'
              'topic = "plant/line2/+/readings"\n')
    config = load_config(write(tmp_path, text))
    device, events = build_drivers(config, {})
    for driver in (device, events):
        assert (driver.ca_file, driver.cert_file, driver.key_file) == (
            str(tls.ca.cert), str(tls.server.cert), str(tls.server.key))
        assert (driver.username, driver.password) == ("gw", "pw")
        assert (driver.receive_maximum, driver.session_expiry, driver.protocol) == (7, 60, 3)
    assert device.topics == ["plant/line2/+/readings"] and events.events_topic == "plant/events"
    # the broker's drop counter is watched once, by the first connection
    assert device.drop_counter_topic and events.drop_counter_topic is None


def test_every_problem_is_listed_at_once(tmp_path, monkeypatch):
    monkeypatch.delenv("GW_TEST_MQTT_USER", raising=False)
    monkeypatch.delenv("GW_TEST_MQTT_PASSWORD", raising=False)
    text = (MINIMAL + '\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n' + LOGIN
            + 'events_topic = "plant/events"\n'
            + '\n[[devices]]\nid = "line-mqtt"\ndriver = "mqtt"\ntopic = "plant/+/readings"\n')
    config = load_config(write(tmp_path, text))
    with pytest.raises(ConfigError) as info:
        build_drivers(config, {})
    device, events = f"{config.file}: devices.line-mqtt", f"{config.file}: mqtt"
    assert info.value.problems == [
        f"{device}: environment variable GW_TEST_MQTT_USER is not set",
        f"{device}: environment variable GW_TEST_MQTT_PASSWORD is not set",
        f"{events}: environment variable GW_TEST_MQTT_USER is not set",
        f"{events}: environment variable GW_TEST_MQTT_PASSWORD is not set",
    ]


def test_a_driver_refusing_its_arguments_is_a_listed_problem(tmp_path):
    """The demo's overrides replace arguments; a driver's refusal names the device."""
    text = (MINIMAL + '\n[[stations]]\nid = "mix"\nkind = "line"\nwork_center = "WC-MOLD"\n'
            '\n[[devices]]\nid = "scale"\ndriver = "serial_scale"\nport = "/dev/x"\n'
            'protocol = "generic"\nstation = "mix"\n')
    config = load_config(write(tmp_path, text))
    with pytest.raises(ConfigError) as info:
        build_drivers(config, {}, overrides={"scale": {"no_such_option": 1}})
    (problem,) = info.value.problems
    assert problem.startswith(f"{config.file}: devices.scale: ") and "no_such_option" in problem


# paho 2.2 leaves the SSL socket of a refused handshake for the garbage collector
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
async def test_a_broker_that_requires_a_client_certificate_accepts_the_configured_one(
        tmp_path, monkeypatch):
    tls = make_tls(tmp_path / "tls")
    try:
        broker = Mosquitto(tmp_path / "broker", tls=tls, require_certificate=True)
    except MosquittoMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    monkeypatch.setenv("GW_TEST_MQTT_USER", broker.username)
    monkeypatch.setenv("GW_TEST_MQTT_PASSWORD", broker.password)
    base = (MINIMAL + f'\n[mqtt]\nurl = "{broker.tls_url}"\n' + LOGIN
            + 'ca_file = "tls/ca.pem"\n')
    device = ('\n[[devices]]\nid = "line-mqtt"\ndriver = "mqtt"\n'
              'topic = "plant/line2/+/readings"\n')
    with_cert = base + 'cert_file = "tls/client.pem"\nkey_file = "tls/client.key.pem"\n'
    broker.start()
    try:
        for text, connects in ((base + device, False), (with_cert + device, True)):
            (driver,) = build_drivers(load_config(write(tmp_path, text)), {})
            sink = RecordingSink()
            await driver.start(sink)
            try:
                await wait_until(lambda: sink.state == "connected" or sink.problems,
                                 what="connected or refused")
            finally:
                await driver.stop()
                gc.collect()  # paho's leaked socket, inside this test and its filter
            assert (sink.state == "connected" or "connected" in sink.states) is connects, \
                (text, sink.states, sink.problems)
    finally:
        broker.stop()
