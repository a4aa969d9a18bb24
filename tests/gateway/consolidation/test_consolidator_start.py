"""`gateway consolidate` refuses to start, naming the key, when JetStream would refuse
its consumer."""

from __future__ import annotations

import asyncio

import nats

from tests.gateway.consolidation.plant_toml import write_plant_toml
from tests.gateway.plant import gateway
from tests.support.nats_server import nats_server  # noqa: F401 (fixture)
from tests.support.postgres import pg_cluster, postgres_dsn  # noqa: F401 (fixtures)


async def _stream_as_a_gateway_makes_it(url: str) -> None:
    nc = await nats.connect(url)
    await nc.jetstream().add_stream(name="GL", subjects=["gl.*.*"])   # see stream_subjects_for
    await nc.close()


def test_a_filter_wider_than_the_stream_stops_the_start_naming_nats_subject(
        tmp_path, nats_server, postgres_dsn):
    asyncio.run(_stream_as_a_gateway_makes_it(nats_server.url))
    toml = write_plant_toml(tmp_path, servers=[nats_server.url], subject="gl.plant1.>")
    out = gateway("consolidate", "-c", str(toml), env={"PLANT_TEST_DSN": postgres_dsn}, timeout=60)
    assert out.returncode == 2, out.stderr   # a start-up error
    assert "nats.subject 'gl.plant1.>' is not within stream 'GL''s subjects ['gl.*.*']" \
        in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
