"""Device readings and canonical events from MQTT, acknowledged only once the gateway committed them.

`MqttDevices` subscribes with QoS 1 on a persistent session (fixed client id,
clean_session False) and turns off the client's automatic PUBACK. Every Reading it
delivers carries `ack`, an async callable that sends the PUBACK for that message; the
gateway awaits it after its transaction committed. Until then the broker holds the
message, and redelivers it after any disconnect or crash — a duplicate the journal's
event ids make harmless. An ack for a message received on an earlier connection is
dropped on purpose: packet ids are per connection, and the broker redelivers anyway.

Payloads:
- device topics: JSON `{"device", "ts", "kind", "value", ...}` → Reading(kind=…);
  kinds "good"/"scrap" (units made), "weight", "scan" and "measure" are kept, any
  other kind becomes "measure" with the original in attrs["kind"];
- the events topic: a canonical event object (DESIGN §4) → Reading(kind="event").
Anything else → DecodeError with the raw payload, reported through the sink and then
acknowledged (the gateway keeps it; redelivering garbage forever helps nobody). The
error carries the same `ack` callable: a sink that sets `acks_problems = True` promises
to call it once the problem is stored, closing the window in which a crash between
"reported" and "stored" would lose the payload; any other sink is acked for at once.

aiomqtt 2.5 has no manual-ack switch of its own, so this module reaches the paho client
underneath (`Client._client.manual_ack_set` / `.ack`), the paho ≥ 2 API for exactly this.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import ssl
from typing import Any, Iterable
from urllib.parse import urlsplit

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

from drivers.base import AuthError, DecodeError, DriverError, Reading, Sink, TransportError
from drivers.reconnect import Reconnecting

log = logging.getLogger(__name__)

KINDS = ("good", "scrap", "weight", "scan", "measure")
_REFUSED_AUTH = {4, 5, 134, 135}  # MQTT 3.1.1 CONNACK 4/5, MQTT 5 reason codes 0x86/0x87


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def translate(exc: BaseException, during: str) -> DriverError:
    """Map aiomqtt / paho / ssl failures to the driver error tree."""
    if isinstance(exc, DriverError):
        return exc
    rc = getattr(exc, "rc", None)
    code = rc.value if isinstance(rc, ReasonCode) else rc
    if isinstance(exc, MqttConnectError) and code in _REFUSED_AUTH:
        return AuthError(f"{during}: broker refused the credentials ({exc})")
    text = str(exc)
    if isinstance(exc, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify" in text:
        return AuthError(f"{during}: TLS certificate not trusted ({text})")
    return TransportError(f"{during}: {type(exc).__name__}: {text}")


def _parse_url(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"url: must be mqtt://host[:port] or mqtts://host[:port], got {url!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"url: bad port in {url!r}") from None
    return parts.hostname, port, tls


def decode_device_payload(payload: bytes, topic: str, via: str) -> Reading:
    """One device message → Reading; DecodeError naming the field and value otherwise."""
    body = _json_object(payload, topic)
    device = body.get("device")
    if not isinstance(device, str) or not device:
        raise DecodeError(f"{topic}: device: required non-empty string, got {device!r}", raw=payload)
    kind = body.get("kind")
    if not isinstance(kind, str) or not kind:
        raise DecodeError(f"{topic}: kind: required non-empty string, got {kind!r}", raw=payload)
    if "value" not in body:
        raise DecodeError(f"{topic}: value: required", raw=payload)
    value = body["value"]
    if kind != "scan" and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    ):
        raise DecodeError(f"{topic}: value: must be a finite number for kind {kind!r}, got {value!r}", raw=payload)
    if kind in ("good", "scrap") and value <= 0:
        raise DecodeError(f"{topic}: value: units made must be > 0, got {value!r}", raw=payload)
    ts = body.get("ts")
    if ts is not None and not isinstance(ts, str):
        raise DecodeError(f"{topic}: ts: must be an RFC 3339 string, got {ts!r}", raw=payload)
    unit = body.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise DecodeError(f"{topic}: unit: must be a string, got {unit!r}", raw=payload)
    message_id = body.get("id")
    if message_id is not None and (not isinstance(message_id, str) or not message_id):
        raise DecodeError(f"{topic}: id: must be a non-empty string, got {message_id!r}", raw=payload)
    attrs = {k: v for k, v in body.items() if k not in ("device", "ts", "kind", "value", "unit")}
    if kind not in KINDS:
        attrs["kind"], kind = kind, "measure"
    # A device may name its message ("id"); otherwise the bytes do, so a redelivery maps
    # to the same id and is dropped by the journal.
    attrs["event_id"] = message_id or f"{device}:{hashlib.sha256(payload).hexdigest()[:20]}"
    attrs["topic"], attrs["via"] = topic, via
    return Reading(device=device, kind=kind, value=value, ts=ts or _now(), unit=unit, attrs=attrs)


def decode_event_payload(payload: bytes, topic: str, via: str) -> Reading:
    """A canonical event pushed by another system → Reading(kind="event", value=dict)."""
    body = _json_object(payload, topic)
    ts = body.get("ts") if isinstance(body.get("ts"), str) else None
    return Reading(
        device=via, kind="event", value=body, ts=ts or _now(),
        attrs={"topic": topic, "event_id": body.get("id")},
    )


def _json_object(payload: bytes, topic: str) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"{topic}: payload is not JSON ({exc})", raw=payload) from None
    except RecursionError:
        raise DecodeError(f"{topic}: payload nests too deeply to be a reading", raw=payload) from None
    if not isinstance(body, dict):
        raise DecodeError(f"{topic}: payload must be a JSON object, got {type(body).__name__}", raw=payload)
    return body


class MqttDevices(Reconnecting):
    """MQTT input driver: QoS 1 on a persistent session, PUBACK only after the gateway committed."""

    def __init__(
        self,
        id: str,
        url: str,
        topics: str | Iterable[str] = (),
        events_topic: str | None = None,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        client_id: str | None = None,
        *,
        keepalive: int = 30,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ):
        self.id = id
        self.host, self.port, self.tls = _parse_url(url)
        self.url = url
        # One topic filter (as in a `[[devices]] topic = "…"` entry) or several.
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        for i, topic in enumerate(self.topics):
            if not isinstance(topic, str) or not topic:
                raise ValueError(f"topics[{i}]: must be a non-empty topic filter, got {topic!r}")
        self.events_topic = events_topic
        if not self.topics and not events_topic:
            raise ValueError("topics: at least one device topic or an events_topic is required")
        if ca_file and not self.tls:
            raise ValueError(f"ca_file: given but url {url!r} is not mqtts://")
        self.username, self.password, self.ca_file = username, password, ca_file
        # Fixed, so the broker keeps our session (and our unacked messages) across reconnects.
        self.client_id = client_id or f"gateway-{id}"
        self.keepalive = keepalive
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._sink: Sink | None = None
        self._task: asyncio.Task | None = None
        self._generation = 0  # one per broker connection; acks never cross connections
        self.connects = 0

    def _client(self) -> aiomqtt.Client:
        tls = aiomqtt.TLSParameters(ca_certs=self.ca_file) if self.tls else None
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            username=self.username,
            password=self.password,
            clean_session=False,
            keepalive=self.keepalive,
            tls_params=tls,
            timeout=10,
        )
        client._client.manual_ack_set(True)  # see the module docstring
        return client

    auth_backoff = 0.25

    def _translate(self, exc: BaseException) -> DriverError:
        return translate(exc, f"mqtt {self.url}")

    async def _lost(self) -> None:
        self._generation += 1  # acks of this connection's messages are now void

    async def _session(self) -> None:
        async with self._client() as client:
            self._generation += 1
            generation = self._generation
            self.connects += 1
            for topic in [*self.topics, *([self.events_topic] if self.events_topic else [])]:
                await client.subscribe(topic, qos=1)
            self._sink.connection(self.id, "connected")
            async for message in client.messages:
                await self._deliver(client, generation, message)
        raise TransportError(f"mqtt {self.url}: connection closed")

    def _acker(self, client: aiomqtt.Client, generation: int, message: aiomqtt.Message):
        sent = False

        async def ack() -> None:
            nonlocal sent
            if sent or message.qos == 0 or generation != self._generation:
                return  # done already, nothing to ack, or a dead connection's packet id
            sent = True
            paho = client._client
            paho.ack(message.mid, message.qos)
            # The PUBACK sits in paho's queue until the loop's writer callback runs;
            # wait (briefly) for it to leave, so "ack returned" means "on the wire".
            # Not paho.loop_write() here: aiomqtt registers its writer late (via
            # call_soon_threadsafe) and an early flush would leave it registered forever.
            loop = asyncio.get_running_loop()
            deadline, spins = loop.time() + 1.0, 0
            while paho.want_write() and loop.time() < deadline:
                await asyncio.sleep(0 if spins < 4 else 0.005)
                spins += 1

        return ack

    async def _deliver(self, client: aiomqtt.Client, generation: int, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        raw = message.payload
        payload = bytes(raw) if isinstance(raw, (bytes, bytearray)) else str(raw).encode()
        ack = self._acker(client, generation, message)
        try:
            if self.events_topic and message.topic.matches(self.events_topic):
                reading = decode_event_payload(payload, topic, self.id)
            else:
                reading = decode_device_payload(payload, topic, self.id)
        except DecodeError as error:
            error.ack = ack
            await self._report(error)
            if not getattr(self._sink, "acks_problems", False):
                await ack()  # the sink has the raw payload; redelivering it cannot fix it
            return
        await self._sink.reading(dataclasses.replace(reading, ack=ack))


DRIVER = MqttDevices
