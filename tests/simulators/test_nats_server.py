"""The private NATS server: JetStream on, auth when asked, store kept across a restart."""

from __future__ import annotations

import nats
import pytest
from nats.errors import AuthorizationError, NoServersError

from simulators.nats_server import NatsServer
from tests.support.nats_server import nats_server, nats_server_auth  # noqa: F401 (fixtures)


async def _quiet(error: Exception) -> None:
    pass  # nats-py logs every failed attempt with a traceback otherwise


async def _publish_and_count(url: str, **auth) -> int:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, **auth)
    try:
        js = nc.jetstream()
        await js.add_stream(name="T", subjects=["t.>"])
        await js.publish("t.1", b"x")
        return (await js.stream_info("T")).state.messages
    finally:
        await nc.close()


async def test_jetstream_is_on_and_the_store_survives_a_restart(nats_server):
    assert await _publish_and_count(nats_server.url) == 1
    nats_server.restart()
    assert await _publish_and_count(nats_server.url) == 2


async def test_auth_server_refuses_a_client_without_password(nats_server_auth):
    with pytest.raises((AuthorizationError, NoServersError)):
        await nats.connect(nats_server_auth.url, connect_timeout=1, max_reconnect_attempts=1,
                           reconnect_time_wait=0.05, error_cb=_quiet)
    count = await _publish_and_count(
        nats_server_auth.url, user=nats_server_auth.user, password=nats_server_auth.password)
    assert count == 1


async def test_context_manager_stops_the_server(tmp_path):
    with NatsServer(tmp_path / "n") as server:
        url = server.url
        assert server.running
    assert not server.running
    with pytest.raises(NoServersError):
        # max_reconnect_attempts=0 would mean "forever" to nats-py's first connect.
        await nats.connect(url, connect_timeout=0.5, max_reconnect_attempts=1,
                           reconnect_time_wait=0.05, error_cb=_quiet)
