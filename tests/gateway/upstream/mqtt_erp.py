"""An ERP behind MQTT for tests: a persistent-session QoS 1 subscriber that hands each
batch to ErpSimulator.receive (which dedupes by batch_id, as an MQTT consumer must)."""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from simulators.erp import ErpSimulator


class MqttErp:
    def __init__(self, broker, topic: str, erp: ErpSimulator | None = None):
        self.broker = broker
        self.topic = topic
        self.erp = erp or ErpSimulator()
        self.connected = asyncio.Event()
        self.deliveries = 0                     # MQTT deliveries, duplicates included
        self._task: asyncio.Task | None = None

    async def start(self) -> "MqttErp":
        self._task = asyncio.ensure_future(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def _run(self) -> None:
        while True:
            try:
                # A persistent session: batches published while we are away are kept for us.
                async with aiomqtt.Client(self.broker.host, self.broker.port,
                                          username=self.broker.username, password=self.broker.password,
                                          identifier="erp-bridge", clean_session=False) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        self.deliveries += 1
                        self.erp.receive(json.loads(message.payload))
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
