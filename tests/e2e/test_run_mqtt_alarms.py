"""`gateway run` against the test Mosquitto with settings that cannot work (a foreign CA,
plain mqtt:// on the TLS port, a wrong password): it stays up and its console names the
cause within seconds, once, and keeps retrying."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pytest

from simulators.certs import make_tls
from tests.e2e.procs import reaped
from tests.gateway.plant import GATEWAY_TOML, ROOT, write_plant
from tests.support.mosquitto import mosquitto, mosquitto_tls_files  # noqa: F401 (fixtures)

MQTT = """
[mqtt]
url = "{url}"
username_env = "T_MQTT_USER"
password_env = "T_MQTT_PASSWORD"
{extra}
[[devices]]
id = "line2"
driver = "mqtt"
topic = "plant/line2/+/readings"
"""

CASES = {  # case: (url, extra [mqtt] lines, password, what the console must say)
    "wrong_ca": (lambda b: b.tls_url, 'ca_file = "{ca}"', None,
                 "ERROR gateway: device line2: cannot connect: mqtt {url}: TLS certificate "
                 "verify failed"),
    "plain_on_the_tls_port": (lambda b: f"mqtt://{b.host}:{b.tls_port}", "", None,
                              "WARNING gateway: device line2: cannot connect: mqtt {url}: no "
                              "MQTT answer"),
    "wrong_password": (lambda b: b.url, "", "not-the-password",
                       "ERROR gateway: device line2: cannot connect: mqtt {url}: not "
                       "authorised"),
}


def _lines_until(proc: subprocess.Popen, want: str, timeout: float) -> list[str]:
    """stderr lines until one contains `want` (or the timeout: then an AssertionError)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(want in line for line in seen):
        left = deadline - time.monotonic()
        assert left > 0, f"not within {timeout} s: {want!r}; console said {seen}"
        ready, _, _ = select.select([proc.stderr], [], [], left)
        if ready:
            line = proc.stderr.readline()
            assert line, f"gateway exited {proc.wait()}: {seen}"
            seen.append(line.rstrip("\n"))
    return seen


@pytest.mark.parametrize("case", CASES)
def test_run_names_the_cause_of_a_connection_that_cannot_work_at_once(case, tmp_path,
                                                                      mosquitto):
    url_of, extra, password, want = CASES[case]
    foreign = make_tls(tmp_path / "foreign")
    url = url_of(mosquitto)
    cfg = write_plant(tmp_path, GATEWAY_TOML + MQTT.format(
        url=url, extra=extra.format(ca=foreign.ca.cert)))
    env = {**os.environ, "T_MQTT_USER": mosquitto.username,
           "T_MQTT_PASSWORD": password or mosquitto.password}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(cfg)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, bufsize=1)
    with reaped(proc):
        seen = _lines_until(proc, want.format(url=url), timeout=15.0)
        assert time.monotonic() - started < 15.0
        time.sleep(1.5)  # several retries later: still up, and said once
        assert proc.poll() is None, seen
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        rest = proc.stderr.read()
    said = [line for line in [*seen, *rest.splitlines()] if "device line2: cannot" in line]
    assert len(said) == 1, said
