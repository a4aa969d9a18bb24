"""Mosquitto fixtures for tests: a real broker per test, never a skip.

    from tests.support.mosquitto import mosquitto, mosquitto_tls_files  # noqa: F401 (fixtures)

    async def test_x(mosquitto):
        url = mosquitto.url                      # mqtt://127.0.0.1:<free port>
        user, pw = mosquitto.username, mosquitto.password
        tls = mosquitto.tls_url, mosquitto.ca_file   # mqtts:// listener, CA to verify it
        mosquitto.restart(downtime=0.5)          # outage test; stop()/start() also exist

The broker itself is simulators.mosquitto.Mosquitto (also used by the demo and bench).
If Mosquitto is not installed the test FAILS naming the program and `./setup.sh`.
"""

from __future__ import annotations

import pytest

from simulators.certs import TlsFiles, make_tls
from simulators.mosquitto import MOSQUITTO, Mosquitto, MosquittoMissing

__all__ = ["MOSQUITTO", "Mosquitto", "MosquittoMissing", "mosquitto", "mosquitto_tls_files"]


@pytest.fixture(scope="session")
def mosquitto_tls_files(tmp_path_factory) -> TlsFiles:
    """A CA and a broker certificate for localhost/127.0.0.1, made once per session."""
    return make_tls(tmp_path_factory.mktemp("mosquitto-tls"))


@pytest.fixture
def mosquitto(tmp_path, mosquitto_tls_files):
    """A started private broker with a password and a TLS listener; stopped after the test."""
    try:
        broker = Mosquitto(tmp_path / "mosquitto", tls=mosquitto_tls_files)
    except MosquittoMissing as missing:
        pytest.fail(str(missing), pytrace=False)  # never a skip: CI must have the broker
    broker.start()
    yield broker
    broker.stop()
