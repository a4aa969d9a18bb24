"""Shop-floor devices on MQTT: readings and canonical events, one-off or at a fixed rate.

Speaks the wire format `drivers.mqtt` reads: JSON `{"device","ts","kind","value",…}`
on `plant/devices/<device>/readings` (QoS 1), and canonical event objects (see docs/architecture.md)
on the events topic. `run_at_rate` sends a bounded number of messages at N msgs/s for
the ingest benchmark; each message carries `sent` (wall-clock seconds, since the
receiver may be another process) so a receiver can measure latency.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import aiomqtt

READINGS_TOPIC = "plant/devices/{device}/readings"
EVENTS_TOPIC = "plant/events"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


@dataclass(frozen=True, slots=True)
class RateResult:
    sent: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class MqttDeviceSimulator:
    """A publisher standing in for MQTT devices and for systems that push events."""

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        client_id: str | None = None,
        events_topic: str = EVENTS_TOPIC,
    ):
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        self._client = aiomqtt.Client(
            parts.hostname or "127.0.0.1",
            parts.port or (8883 if tls else 1883),
            identifier=client_id,
            username=username,
            password=password,
            tls_params=aiomqtt.TLSParameters(ca_certs=ca_file) if tls else None,
            max_inflight_messages=100,
        )
        self.events_topic = events_topic
        self._seq = itertools.count(1)

    async def __aenter__(self) -> "MqttDeviceSimulator":
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._client.__aexit__(*exc)

    async def reading(
        self,
        device: str,
        kind: str,
        value: Any,
        *,
        unit: str | None = None,
        ts: str | None = None,
        topic: str | None = None,
        **attrs: Any,
    ) -> dict[str, Any]:
        """Publish one device reading (QoS 1); returns the payload sent."""
        body: dict[str, Any] = {"device": device, "ts": ts or _now(), "kind": kind, "value": value}
        if unit is not None:
            body["unit"] = unit
        body.update(attrs)
        await self.raw(topic or READINGS_TOPIC.format(device=device), json.dumps(body).encode())
        return body

    async def count(self, device: str, kind: str, units: int, **attrs: Any) -> dict[str, Any]:
        """Units made ("good" or "scrap"), with a message id so a resend is recognisable."""
        attrs.setdefault("id", f"{device}:{kind}:{next(self._seq)}:{time.time_ns()}")
        return await self.reading(device, kind, units, **attrs)

    async def event(self, event: dict[str, Any], topic: str | None = None) -> None:
        """Publish a canonical event object as another system would."""
        await self.raw(topic or self.events_topic, json.dumps(event).encode())

    async def raw(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish bytes as they are: for malformed-payload tests."""
        await self._client.publish(topic, payload, qos=qos)

    async def run_at_rate(
        self,
        rate_per_s: float,
        count: int,
        make: Callable[[int], tuple[str, dict[str, Any]]] | None = None,
    ) -> RateResult:
        """Send `count` messages at `rate_per_s` (paced, not bursted); `make(i)` → (topic, body)."""
        if rate_per_s <= 0 or count < 0:
            raise ValueError(f"rate_per_s must be > 0 and count >= 0, got {rate_per_s}, {count}")
        make = make or _default_measure
        interval = 1.0 / rate_per_s
        started = time.perf_counter()
        for i in range(count):
            # Pace against the start time, so one slow publish does not lower the rate.
            delay = started + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            topic, body = make(i)
            body.setdefault("sent", time.time())
            await self.raw(topic, json.dumps(body).encode())
        return RateResult(count, time.perf_counter() - started)


def _default_measure(i: int) -> tuple[str, dict[str, Any]]:
    device = f"sensor-{i % 4}"
    body = {"device": device, "ts": _now(), "kind": "measure", "value": float(i), "seq": i}
    return READINGS_TOPIC.format(device=device), body
