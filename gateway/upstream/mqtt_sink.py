"""`MqttSink`: publish a batch at QoS 1; acknowledged only on the broker's PUBACK.

A broker that is down, refuses us, or does not PUBACK within the timeout → Retry (the
connection is dropped and made again on the next send). The payload carries batch_id,
and a resend after a crash carries the same one, so subscribers dedupe by it.
"""

from __future__ import annotations

import asyncio
import json
import ssl

import aiomqtt

from gateway.upstream.sink import Ack, Retry, Verdict

__all__ = ["MqttSink"]


class MqttSink:
    """Delivers batches to an MQTT topic, QoS 1, one connection kept open between sends."""

    def __init__(self, host: str, port: int, topic: str, *, username: str | None = None,
                 password: str | None = None, tls_context: ssl.SSLContext | None = None,
                 timeout: float = 10.0, identifier: str | None = None,
                 topic_field: str | None = None, retain: bool = False):
        """`topic_field`: publish each payload to <topic>/<its value of that field>;
        `retain`: the broker keeps the last message of each topic for new subscribers."""
        self.topic_field = topic_field
        self.retain = retain
        self.host = host
        self.port = port
        self.topic = topic
        self.username = username
        self.password = password
        self.tls_context = tls_context
        self.timeout = timeout
        self.identifier = identifier
        self._client: aiomqtt.Client | None = None

    def __repr__(self) -> str:
        return f"MqttSink({self.host}:{self.port}, topic={self.topic!r})"

    async def _connect(self) -> aiomqtt.Client:
        client = aiomqtt.Client(self.host, self.port, username=self.username,
                                password=self.password, tls_context=self.tls_context,
                                identifier=self.identifier, timeout=self.timeout)
        await client.__aenter__()
        return client

    async def send(self, batch: dict) -> Verdict:
        body = json.dumps(batch, separators=(",", ":")).encode()
        try:
            if self._client is None:
                self._client = await self._connect()
            topic = (self.topic if self.topic_field is None
                     else f"{self.topic}/{batch[self.topic_field]}")
            await self._client.publish(topic, body, qos=1, retain=self.retain,
                                       timeout=self.timeout)
        except (aiomqtt.MqttError, OSError, asyncio.TimeoutError) as exc:
            await self._drop()
            return Retry(f"MQTT {self.host}:{self.port}: {type(exc).__name__}: {exc}")
        return Ack("PUBACK")

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.__aexit__(None, None, None)
            except (aiomqtt.MqttError, OSError, asyncio.TimeoutError):
                pass  # already gone; nothing to tell the broker

    async def close(self) -> None:
        await self._drop()
