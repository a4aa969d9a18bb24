"""NATS JetStream fixtures for tests: a real `nats-server -js` per test, never a skip.

    from tests.support.nats_server import nats_server, nats_server_auth  # noqa: F401 (fixtures)

    async def test_x(nats_server):
        url = nats_server.url                  # nats://127.0.0.1:<free port>, no auth
        nats_server.restart(downtime=0.5)      # outage test; stop()/start()/kill() also exist

    async def test_y(nats_server_auth):
        user, pw = nats_server_auth.user, nats_server_auth.password

The server itself is simulators.nats_server.NatsServer (also used by the demo and bench).
If nats-server is not installed the test FAILS naming the program and `./setup.sh`.
"""

from __future__ import annotations

import pytest

from simulators.nats_server import NatsServer, NatsServerMissing

__all__ = ["NatsServer", "NatsServerMissing", "nats_server", "nats_server_auth"]


def _started(folder, **options) -> NatsServer:
    try:
        server = NatsServer(folder, **options)
    except NatsServerMissing as missing:
        pytest.fail(str(missing), pytrace=False)  # never a skip: CI must have the server
    return server.start()


@pytest.fixture
def nats_server(tmp_path):
    """A started private JetStream server without auth; stopped after the test."""
    server = _started(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
def nats_server_auth(tmp_path):
    """A started private JetStream server that requires a user and password."""
    server = _started(tmp_path / "nats-auth", auth=True)
    yield server
    server.stop()
