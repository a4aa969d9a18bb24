"""`gateway check --online` against real endpoints: a Mosquitto broker (plain, TLS, a
3.1.1-only front), the OPC-UA PLC simulator, a scanner on a pty and a missing port; each
target gets OK or the cause in a sentence, and any failure makes the exit status 1."""

from __future__ import annotations

import asyncio
import gc
import os
import pathlib
import sys

import pytest

from gateway.config import load_config
from gateway.online_check import check_online
from simulators.plc import PlcSimulator
from simulators.scanner import ScannerSimulator
from tests.drivers.test_mqtt_session import _V311Front
from tests.gateway.test_config import MINIMAL, write
from tests.support.mosquitto import mosquitto, mosquitto_tls_files  # noqa: F401 (fixtures)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def plant(folder: pathlib.Path, *, mqtt_url: str, plc: str, port: str,
          ca_file: str | None = None) -> pathlib.Path:
    ca = f'ca_file = "{ca_file}"\n' if ca_file else ""
    return write(folder, MINIMAL + f"""
[mqtt]
url = "{mqtt_url}"
username_env = "CHECK_MQTT_USER"
password_env = "CHECK_MQTT_PASSWORD"
allow_insecure = true
{ca}
[[devices]]
id = "plc"
driver = "opcua"
endpoint = "{plc}"
security = "None"
allow_insecure = true
counters = [{{ node = "ns=2;s=Assy.Good", line = "WC-ASSY", kind = "good" }}]

[[devices]]
id = "scanner-dock"
driver = "serial_scanner"
port = "{port}"
station = "dock-in"

[[devices]]
id = "line-mqtt"
driver = "mqtt"
topic = "plant/line2/+/readings"

[[stations]]
id = "dock-in"
kind = "receiving"
location = "RM"

[upstream]
sink = "file"
path = "{folder}/batches.jsonl"
""")


def lines(outcomes) -> dict[str, str]:
    return {o.target.split(" (")[0]: o.line() for o in outcomes}


async def test_every_endpoint_up_is_ok_and_the_broker_speaks_mqtt5(tmp_path, mosquitto,
                                                                  monkeypatch):
    monkeypatch.setenv("CHECK_MQTT_USER", mosquitto.username)
    monkeypatch.setenv("CHECK_MQTT_PASSWORD", mosquitto.password)
    async with PlcSimulator() as plc:
        with ScannerSimulator(tmp_path / "ttyDock") as dock:
            config = load_config(plant(tmp_path, mqtt_url=mosquitto.url, plc=plc.endpoint,
                                       port=str(dock.path)))
            outcomes = await check_online(config)
    got = lines(outcomes)
    assert all(o.ok for o in outcomes), got
    assert list(got) == ["device plc", "device scanner-dock",
                         f"mqtt broker {mosquitto.url}",
                         f"upstream file {tmp_path}/batches.jsonl"]
    assert got[f"mqtt broker {mosquitto.url}"].endswith("OK: MQTT 5: up to 65535 messages "
                                                       "in flight to the gateway, the rest "
                                                       "queued by the broker")
    # the probe took no session of the gateway's: nothing of client gateway-... left
    assert "plant1-line1-line-mqtt-check" in mosquitto.log()


async def test_each_failure_is_one_sentence_naming_its_cause(tmp_path, mosquitto,
                                                             monkeypatch):
    monkeypatch.setenv("CHECK_MQTT_USER", mosquitto.username)
    monkeypatch.setenv("CHECK_MQTT_PASSWORD", "wrong")
    plc = PlcSimulator()  # not started: its port refuses
    config = load_config(plant(tmp_path, mqtt_url=mosquitto.url, plc=plc.endpoint,
                               port="/dev/ttyNOPE9"))
    got = lines(await check_online(config))
    assert "FAILED: connection refused: nothing listens on that port" in got["device plc"]
    assert "FAILED: no such port: nothing at that path" in got["device scanner-dock"]
    assert "FAILED: not authorised: the login was refused" in \
        got[f"mqtt broker {mosquitto.url}"]


async def test_tls_to_a_plain_port_says_not_a_tls_port(tmp_path, mosquitto, monkeypatch):
    monkeypatch.setenv("CHECK_MQTT_USER", mosquitto.username)
    monkeypatch.setenv("CHECK_MQTT_PASSWORD", mosquitto.password)
    plain_as_tls = mosquitto.url.replace("mqtt://", "mqtts://")
    config = load_config(plant(tmp_path, mqtt_url=plain_as_tls, plc="opc.tcp://x:1",
                               port="/dev/null", ca_file=mosquitto.ca_file))
    got = lines(await check_online(config))
    assert "FAILED: not a TLS port" in got[f"mqtt broker {plain_as_tls}"]


# paho leaves the socket of a failed TLS handshake for the garbage collector to close
# (client.py _ssl_wrap_socket), which warns: ResourceWarning, not a leak of ours
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_broker_certificate_from_an_unknown_ca_says_verify_failed(tmp_path, mosquitto,
                                                                          monkeypatch):
    monkeypatch.setenv("CHECK_MQTT_USER", mosquitto.username)
    monkeypatch.setenv("CHECK_MQTT_PASSWORD", mosquitto.password)
    # the TLS listener, verified against the system CAs instead of the broker's own
    config = load_config(plant(tmp_path, mqtt_url=mosquitto.tls_url, plc="opc.tcp://x:1",
                               port="/dev/null"))
    got = lines(await check_online(config))
    gc.collect()  # paho's socket, closed here (under the filter above), not in a later test
    assert "FAILED: certificate verify failed" in got[f"mqtt broker {mosquitto.tls_url}"]


async def test_a_broker_without_mqtt5_is_reported_with_the_limits_that_then_bind(
        tmp_path, mosquitto, monkeypatch):
    monkeypatch.setenv("CHECK_MQTT_USER", mosquitto.username)
    monkeypatch.setenv("CHECK_MQTT_PASSWORD", mosquitto.password)
    async with _V311Front(mosquitto) as front:
        config = load_config(plant(tmp_path, mqtt_url=front.url, plc="opc.tcp://x:1",
                                   port="/dev/null"))
        got = lines(await check_online(config))
    line = got[f"mqtt broker {front.url}"]
    assert front.refused == 1
    assert "OK: MQTT 3.1.1 (the broker refuses MQTT 5" in line
    assert "max_inflight_messages" in line and "max_queued_messages" in line


async def test_the_command_prints_each_target_and_exits_1_when_one_fails(tmp_path, mosquitto):
    env = {**os.environ, "CHECK_MQTT_USER": mosquitto.username,
           "CHECK_MQTT_PASSWORD": mosquitto.password, "PYTHONWARNINGS": "error"}
    async with PlcSimulator() as plc:
        path = plant(tmp_path, mqtt_url=mosquitto.url, plc=plc.endpoint, port="/dev/ttyNOPE9")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "check", "--online", "-c", str(path), env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    out, err = out.decode(), err.decode()
    assert proc.returncode == 1, (out, err)
    assert f"device plc (opcua {plc.endpoint} (None)): OK: connected" in out
    assert "device scanner-dock (serial_scanner /dev/ttyNOPE9 at 9600 baud): FAILED: no such " \
           "port" in out
    assert f"mqtt broker {mosquitto.url}: OK: MQTT 5" in out
    assert err.splitlines()[-1] == f"{path}: 1 of 4 endpoints failed"
    assert "Traceback" not in err and "close_secure_channel" not in err, err
