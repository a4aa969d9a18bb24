"""Device readings and canonical events from MQTT, acknowledged only once the gateway committed them.

`MqttDevices` subscribes with QoS 1 on a persistent session (fixed client id,
clean_session False) and sends no PUBACK of its own. Every Reading it delivers carries
`ack`, an async callable that sends the PUBACK for that message; the gateway calls it
after its transaction committed (or, for a whole batch at once, `ack_all`). Until then
the broker holds the message, and redelivers it after any disconnect or crash — a
duplicate the journal's event ids make harmless. An ack for a message received on an
earlier connection is dropped on purpose: packet ids are per connection, and the broker
redelivers anyway.

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

The wire: MQTT 3.1.1 spoken by `_Wire`, an asyncio protocol of this module. A general
client (paho under aiomqtt) reads one packet per event-loop wakeup with several small
`recv` calls, builds message objects and a task per message, and acknowledges each
PUBACK on its own; at thousands of messages a second that per-message overhead was
half of the gateway's CPU. `_Wire` parses every complete packet of whatever arrived in
one pass, hands the driver a burst of messages per wakeup, and writes the PUBACKs of a
committed batch in one send. A sink with a `reading_batch(list)` method gets the burst
in one call; others get `reading()` per message, in order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import math
import ssl
from typing import Any, Iterable
from urllib.parse import urlsplit

import msgspec
from paho.mqtt.client import topic_matches_sub

from drivers.base import AuthError, DecodeError, DriverError, Reading, Sink, TransportError
from drivers.reconnect import Reconnecting

log = logging.getLogger(__name__)

KINDS = ("good", "scrap", "weight", "scan", "measure")
_REFUSED_AUTH = {4, 5, 134, 135}  # MQTT 3.1.1 CONNACK 4/5, MQTT 5 reason codes 0x86/0x87
_CONNACK_TEXT = {1: "unacceptable protocol version", 2: "identifier rejected",
                 3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def translate(exc: BaseException, during: str) -> DriverError:
    """Map connection / TLS / protocol failures to the driver error tree."""
    if isinstance(exc, DriverError):
        return exc
    code = getattr(exc, "rc", None)
    code = getattr(code, "value", code)
    if code in _REFUSED_AUTH:
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


def decode_device_payload(payload: bytes, topic: str, via: str, ack=None) -> Reading:
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
    return Reading(device=device, kind=kind, value=value, ts=ts or _now(), unit=unit, attrs=attrs,
                   ack=ack)


def decode_event_payload(payload: bytes, topic: str, via: str, ack=None) -> Reading:
    """A canonical event pushed by another system → Reading(kind="event", value=dict)."""
    body = _json_object(payload, topic)
    ts = body.get("ts")
    return Reading(
        device=via, kind="event", value=body, ts=ts if isinstance(ts, str) else _now(),
        attrs={"topic": topic, "event_id": body.get("id")}, ack=ack,
    )


_json_decode = msgspec.json.Decoder().decode


def _json_object(payload: bytes, topic: str) -> dict[str, Any]:
    try:
        body = _json_decode(payload)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"{topic}: payload is not JSON ({exc})", raw=payload) from None
    except RecursionError:
        raise DecodeError(f"{topic}: payload nests too deeply to be a reading", raw=payload) from None
    if not isinstance(body, dict):
        raise DecodeError(f"{topic}: payload must be a JSON object, got {type(body).__name__}", raw=payload)
    return body


# -- MQTT 3.1.1 on the wire ------------------------------------------------------------

_PINGREQ = b"\xc0\x00"
_DISCONNECT = b"\xe0\x00"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def connect_packet(client_id: str, username: str | None, password: str | None,
                   keepalive: int, clean_session: bool = False) -> bytes:
    flags = (0x02 if clean_session else 0) | (0x80 if username is not None else 0) \
        | (0x40 if password is not None else 0)
    body = _str("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big") + _str(client_id)
    if username is not None:
        body += _str(username)
    if password is not None:
        body += _str(password)
    return _packet(0x10, body)


def subscribe_packet(mid: int, topics: list[str], qos: int = 1) -> bytes:
    return _packet(0x82, mid.to_bytes(2, "big") + b"".join(_str(t) + bytes([qos]) for t in topics))


def puback_packets(mids: Iterable[int]) -> bytes:
    return b"".join(b"\x40\x02" + m.to_bytes(2, "big") for m in mids)


class ConnectRefused(Exception):
    def __init__(self, rc: int):
        super().__init__(f"CONNACK {rc}: {_CONNACK_TEXT.get(rc, 'refused')}")
        self.rc = rc


class _Wire(asyncio.Protocol):
    """One broker connection: parses every complete packet of each read in one pass.

    PUBLISH packets become (topic, payload, qos, mid) tuples appended to `inbox`; the
    driver takes them all at once. CONNACK / SUBACK / PINGRESP resolve their waiters."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.inbox: list[tuple[bytes, bytes, int, int]] = []
        self.wakeup = asyncio.Event()
        self.connack: asyncio.Future = asyncio.get_running_loop().create_future()
        self.subacks: dict[int, asyncio.Future] = {}
        self.lost: BaseException | None = None
        self.last_read = 0.0
        self._topics: dict[bytes, str] = {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.lost = exc or ConnectionResetError("the broker closed the connection")
        for fut in (self.connack, *self.subacks.values()):
            if not fut.done():
                fut.set_exception(TransportError(f"connection lost: {self.lost}"))
        self.wakeup.set()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        self.last_read = asyncio.get_running_loop().time()
        n, i = len(buf), 0
        inbox = self.inbox
        while i + 2 <= n:
            first = buf[i]
            # remaining length: 1-4 bytes of 7 bits, lowest first
            j, shift, length, complete = i + 1, 0, 0, False
            while j < n:
                byte = buf[j]
                j += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    self._protocol_error("remaining length longer than 4 bytes")
                    return
            if not complete or j + length > n:
                break  # an incomplete packet: wait for more bytes
            end = j + length
            kind = first >> 4
            if kind == 3:  # PUBLISH
                qos = (first >> 1) & 3
                tlen = (buf[j] << 8) | buf[j + 1]
                p = j + 2 + tlen
                topic = bytes(buf[j + 2:p])
                if qos:
                    mid = (buf[p] << 8) | buf[p + 1]
                    p += 2
                else:
                    mid = 0
                inbox.append((topic, bytes(buf[p:end]), qos, mid))
            elif kind == 2:  # CONNACK
                if not self.connack.done():
                    self.connack.set_result(buf[j + 1])
            elif kind == 9:  # SUBACK
                mid = (buf[j] << 8) | buf[j + 1]
                fut = self.subacks.pop(mid, None)
                if fut is not None and not fut.done():
                    fut.set_result(bytes(buf[j + 2:end]))
            elif kind in (6, 7):  # PUBREL/PUBCOMP: we never subscribe with QoS 2
                self._protocol_error(f"unexpected packet type {kind}")
                return
            # PINGRESP (13) and anything else: last_read already noted it
            i = end
        if i:
            del buf[:i]
        if inbox:
            self.wakeup.set()

    def _protocol_error(self, why: str) -> None:
        log.warning("mqtt: protocol error (%s); closing the connection", why)
        self.transport.close()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def topic(self, raw: bytes) -> str:
        t = self._topics.get(raw)
        if t is None:
            t = self._topics[raw] = raw.decode("utf-8", "replace")
        return t


class _Ack:
    """The PUBACK of one message; callable once (later calls do nothing)."""

    __slots__ = ("driver", "wire", "generation", "mid", "sent")

    def __init__(self, driver: "MqttDevices", wire: _Wire, generation: int, mid: int):
        self.driver, self.wire, self.generation, self.mid = driver, wire, generation, mid
        self.sent = False

    async def __call__(self) -> None:
        await self.driver.ack_all([self])


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
        self._wire: _Wire | None = None
        self._generation = 0  # one per broker connection; acks never cross connections
        self._is_event: dict[str, bool] = {}
        self.connects = 0

    auth_backoff = 0.25
    timeout = 10.0

    def _translate(self, exc: BaseException) -> DriverError:
        return translate(exc, f"mqtt {self.url}")

    async def _lost(self) -> None:
        self._generation += 1  # acks of this connection's messages are now void
        wire, self._wire = self._wire, None
        if wire is not None and wire.transport is not None and not wire.transport.is_closing():
            wire.write(_DISCONNECT)
            wire.transport.close()  # sends what is buffered (PUBACKs) first

    async def _open(self) -> _Wire:
        loop = asyncio.get_running_loop()
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.ca_file)
        _, wire = await asyncio.wait_for(loop.create_connection(
            _Wire, self.host, self.port, ssl=ctx,
            server_hostname=self.host if ctx else None), self.timeout)
        self._wire = wire
        wire.write(connect_packet(self.client_id, self.username, self.password, self.keepalive))
        rc = await asyncio.wait_for(wire.connack, self.timeout)
        if rc != 0:
            if rc in _REFUSED_AUTH:
                raise AuthError(f"mqtt {self.url}: broker refused the credentials "
                                f"(CONNACK {rc}: {_CONNACK_TEXT[rc]})")
            raise ConnectRefused(rc)
        topics = [*self.topics, *([self.events_topic] if self.events_topic else [])]
        fut = wire.subacks[1] = loop.create_future()
        wire.write(subscribe_packet(1, topics))
        granted = await asyncio.wait_for(fut, self.timeout)
        if any(code == 0x80 for code in granted):
            refused = [t for t, code in zip(topics, granted) if code == 0x80]
            raise TransportError(f"mqtt {self.url}: subscription refused for {refused}")
        return wire

    async def _session(self) -> None:
        wire = await self._open()
        self._generation += 1
        generation = self._generation
        self.connects += 1
        self._sink.connection(self.id, "connected")
        pinger = asyncio.create_task(self._keepalive(wire))
        try:
            while True:
                await wire.wakeup.wait()
                wire.wakeup.clear()
                batch, wire.inbox = wire.inbox, []
                if batch:
                    await self._deliver_many(wire, generation, batch)
                if wire.lost is not None and not wire.inbox:
                    raise TransportError(f"mqtt {self.url}: connection closed ({wire.lost})")
        finally:
            pinger.cancel()

    async def _keepalive(self, wire: _Wire) -> None:
        """PINGREQ every half keepalive; a broker silent for 1.5 keepalives is gone."""
        loop = asyncio.get_running_loop()
        wire.last_read = loop.time()
        if self.keepalive <= 0:
            return
        while wire.lost is None:
            await asyncio.sleep(self.keepalive / 2)
            if loop.time() - wire.last_read > self.keepalive * 1.5:
                log.info("%s: no answer from the broker for %.0f s", self.id, self.keepalive * 1.5)
                wire.transport.close()
                return
            wire.write(_PINGREQ)

    async def ack_all(self, acks: Iterable[_Ack]) -> None:
        """Send the PUBACKs of these messages in one write (those of a live connection
        not sent yet) and wait briefly until they left our buffer."""
        mids = []
        wire = None
        for a in acks:
            if a.sent or a.mid == 0 or a.generation != self._generation or a.wire is not self._wire:
                continue  # done already, QoS 0, or a dead connection's packet id
            a.sent = True
            mids.append(a.mid)
            wire = a.wire
        if wire is None:
            return
        wire.write(puback_packets(mids))
        transport = wire.transport
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while (transport is not None and not transport.is_closing()
               and transport.get_write_buffer_size() and loop.time() < deadline):
            await asyncio.sleep(0.001)

    def _events(self, topic: str) -> bool:
        hit = self._is_event.get(topic)
        if hit is None:
            hit = self._is_event[topic] = bool(self.events_topic) and \
                topic_matches_sub(self.events_topic, topic)
        return hit

    async def _deliver_many(self, wire: _Wire, generation: int,
                            batch: list[tuple[bytes, bytes, int, int]]) -> None:
        sink = self._sink
        many = getattr(sink, "reading_batch", None)
        if not callable(many):
            many = None
        out: list[Reading] = []
        for raw_topic, payload, qos, mid in batch:
            topic = wire.topic(raw_topic)
            ack = _Ack(self, wire, generation, mid if qos else 0)
            try:
                if self._events(topic):
                    reading = decode_event_payload(payload, topic, self.id, ack)
                else:
                    reading = decode_device_payload(payload, topic, self.id, ack)
            except DecodeError as error:
                if out:  # keep the order: what came before the bad one goes first
                    await self._hand_over(sink, many, out)
                    out = []
                error.ack = ack
                await self._report(error)
                if not getattr(sink, "acks_problems", False):
                    await ack()  # the sink has the raw payload; redelivering it cannot fix it
                continue
            out.append(reading)
        if out:
            await self._hand_over(sink, many, out)

    @staticmethod
    async def _hand_over(sink, many, readings: list[Reading]) -> None:
        if many is not None:
            await many(readings)
        else:
            for r in readings:
                await sink.reading(r)


DRIVER = MqttDevices
