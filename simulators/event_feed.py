"""Another system pushing canonical events (see docs/architecture.md) straight into a gateway sink.

Speaks the driver contract (`start(sink)`, `stop()`), delivering `kind="event"`
readings, exactly as the MQTT driver does for the events topic. The demo uses it when
no MQTT broker can be started.
"""

from __future__ import annotations

import datetime as dt

from drivers.base import Reading


class EventFeed:
    def __init__(self, id: str = "erp-feed"):
        self.id = id
        self._sink = None

    async def start(self, sink) -> None:
        self._sink = sink
        sink.connection(self.id, "connected")

    async def stop(self) -> None:
        if self._sink is not None:
            self._sink.connection(self.id, "down")
        self._sink = None

    async def publish(self, event: dict) -> None:
        if self._sink is None:
            raise RuntimeError("event feed not started")
        ts = dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        await self._sink.reading(Reading(self.id, "event", dict(event), ts))
