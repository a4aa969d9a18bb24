"""Read back what a JetStream stream holds, as a consolidator would see it."""

from __future__ import annotations

import json

import nats
import nats.js.errors

from simulators.nats_server import NatsServer


async def _quiet(error: Exception) -> None:
    pass


async def stream_messages(server: NatsServer, stream: str) -> list:
    """Every message of `stream` in stream order (RawStreamMsg: seq, subject, data, headers)."""
    nc = await nats.connect(server.url, user=server.user, password=server.password,
                            connect_timeout=2, max_reconnect_attempts=1, error_cb=_quiet)
    try:
        js = nc.jetstream(timeout=2)
        state = (await js.stream_info(stream)).state
        out = []
        for seq in range(state.first_seq, state.last_seq + 1):
            try:
                out.append(await js.get_msg(stream, seq))
            except nats.js.errors.NotFoundError:
                continue  # deleted
        return out
    finally:
        await nc.close()


async def stream_batch_ids(server: NatsServer, stream: str) -> list[str]:
    return [json.loads(m.data)["batch_id"] for m in await stream_messages(server, stream)]
