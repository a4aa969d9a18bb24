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
- the events topic: a canonical event object (see docs/architecture.md) → Reading(kind="event").
Anything else → DecodeError with the raw payload, reported through the sink and then
acknowledged (the gateway keeps it; redelivering garbage forever helps nobody). The
error carries the same `ack` callable: a sink that sets `acks_problems = True` promises
to call it once the problem is stored, closing the window in which a crash between
"reported" and "stored" would lose the payload; any other sink is acked for at once.

The client is paho (MQTT 3.1.1), driven by the event loop through paho's external-loop
hooks rather than aiomqtt: a general client reads one packet per event-loop wakeup with
several small `recv` calls and wakes a task per message, and at thousands of messages a
second that per-message overhead was half of the gateway's CPU. `_Paho` serves paho's
small reads from one buffered `recv` and handles every packet of a read before returning
to the loop; the driver hands a burst of messages over at once, and the PUBACKs of a
committed batch are queued together and written in one pass. A sink with a
`reading_batch(list)` method gets the burst in one call; others get `reading()` per
message, in order.
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
import paho.mqtt.client as mqtt
from paho.mqtt.client import topic_matches_sub

from drivers.base import AuthError, DecodeError, DriverError, Reading, Sink, TransportError
from drivers.reconnect import Reconnecting

log = logging.getLogger(__name__)

KINDS = ("good", "scrap", "weight", "scan", "measure")
_REFUSED_AUTH = {4, 5, 134, 135}  # MQTT 3.1.1 CONNACK 4/5, MQTT 5 reason codes 0x86/0x87


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


# -- paho on the event loop ---------------------------------------------------------------

class _Paho(mqtt.Client):
    """paho's client with a read buffer, driven by the event loop (paho's "external loop").

    paho reads a packet with several small `recv`s (the command byte, each length byte,
    the body) and handles one packet per `loop_read`. Here one `recv` takes whatever the
    socket holds and paho's small reads are served from it, and `read_all` lets paho
    handle every complete packet of that read before going back to the event loop, so a
    burst of messages costs one wakeup instead of one each.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(1 << 18)  # BlockingIOError when empty: paho's "again"
            if not data:
                return data  # the broker closed the connection
            self._rbuf, self._rpos = data, 0
        start = self._rpos
        out = self._rbuf[start:start + bufsize]
        self._rpos = start + len(out)
        return out

    def buffered(self) -> bool:
        """Bytes read but not handled yet (ours, or decrypted and held by TLS)."""
        if self._rpos < len(self._rbuf):
            return True
        sock = self.socket()
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def read_all(self) -> None:
        """Handle every packet that has arrived (a read, then what it left buffered)."""
        while True:
            rc = self.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS or not self.buffered():
                return


class _Connection:
    """One broker connection: paho's socket on the event loop, messages into `inbox`.

    `inbox` holds (topic, payload, qos, mid) of messages not taken yet; `wakeup` is set
    when it has some or when the connection is gone (`lost`)."""

    def __init__(self, driver: "MqttDevices"):
        self.loop = asyncio.get_running_loop()
        self.inbox: list[tuple[str, bytes, int, int]] = []
        self.wakeup = asyncio.Event()
        self.connack: asyncio.Future = self.loop.create_future()
        self.suback: asyncio.Future = self.loop.create_future()
        self.lost: str | None = None
        self.writing = False  # the socket is registered for writing
        c = self.client = _Paho(mqtt.CallbackAPIVersion.VERSION2, client_id=driver.client_id,
                                clean_session=False, protocol=mqtt.MQTTv311)
        c.manual_ack_set(True)  # PUBACK only when the gateway says so (ack_all)
        if driver.username is not None:
            c.username_pw_set(driver.username, driver.password)
        if driver.tls:
            c.tls_set_context(ssl.create_default_context(cafile=driver.ca_file))
        c.connect_timeout = driver.timeout
        c.on_connect, c.on_subscribe = self._on_connect, self._on_subscribe
        c.on_message, c.on_disconnect = self._on_message, self._on_disconnect
        c.on_socket_open, c.on_socket_close = self._on_socket_open, self._on_socket_close
        c.on_socket_register_write = self._want_write
        c.on_socket_unregister_write = self._wrote

    # paho's callbacks: all run on the event loop's thread, inside read_all/loop_write
    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if not self.connack.done():
            self.connack.set_result(reason)

    def _on_subscribe(self, client, userdata, mid, reasons, properties) -> None:
        if not self.suback.done():
            self.suback.set_result(reasons)

    def _on_message(self, client, userdata, message) -> None:
        self.inbox.append((message.topic, message.payload, message.qos, message.mid))
        self.wakeup.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self.lost = str(reason)
        for fut in (self.connack, self.suback):
            if not fut.done():  # whoever awaits it gets the error; nobody may be
                fut.set_exception(TransportError(f"connection lost: {reason}"))
                fut.exception()  # so an unawaited one is not logged as unretrieved
        self.wakeup.set()

    def _on_socket_open(self, client, userdata, sock) -> None:
        self.loop.add_reader(sock, self._readable)

    def _on_socket_close(self, client, userdata, sock) -> None:
        self.loop.remove_reader(sock)
        self._wrote(client, userdata, sock)

    def _want_write(self, client, userdata, sock) -> None:
        if not self.writing:  # paho asks once per queued packet (each PUBACK)
            self.writing = True
            self.loop.add_writer(sock, self.client.loop_write)

    def _wrote(self, client, userdata, sock) -> None:
        self.writing = False
        self.loop.remove_writer(sock)

    def _readable(self) -> None:
        self.client.read_all()

    async def open(self, host: str, port: int, keepalive: int) -> None:
        # TCP connect and TLS handshake block: off the event loop. The socket is
        # non-blocking afterwards, and paho hands it over through on_socket_open.
        await self.loop.run_in_executor(None, self.client.connect, host, port, keepalive)
        self.client.loop_write()  # CONNECT, if paho could not send it at once

    async def housekeeping(self) -> None:
        """paho's timers: PINGREQ within the keepalive, and a silent broker declared gone."""
        while self.lost is None:
            await asyncio.sleep(1.0)
            self.client.loop_misc()

    def close(self) -> None:
        c = self.client
        if self.lost is None and c.socket() is not None:
            c.disconnect()  # DISCONNECT goes out after the PUBACKs already queued
            c.loop_write()  # paho closes the socket once DISCONNECT is sent
        if c.socket() is not None:  # the write would block, or the broker is gone
            c._sock_close()


class _Ack:
    """The PUBACK of one message; callable once (later calls do nothing)."""

    __slots__ = ("conn", "driver", "generation", "mid", "sent")

    def __init__(self, driver: "MqttDevices", conn: _Connection, generation: int, mid: int):
        self.driver, self.conn, self.generation, self.mid = driver, conn, generation, mid
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
        max_payload_bytes: int | None = None,
    ):
        self.id = id
        # A message larger than this is a DecodeError before any JSON is parsed.
        self.max_payload_bytes = max_payload_bytes
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
        self._conn: _Connection | None = None
        self._generation = 0  # one per broker connection; acks never cross connections
        self._is_event: dict[str, bool] = {}
        self.connects = 0

    auth_backoff = 0.25
    timeout = 10.0

    def _translate(self, exc: BaseException) -> DriverError:
        return translate(exc, f"mqtt {self.url}")

    async def _lost(self) -> None:
        self._generation += 1  # acks of this connection's messages are now void
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def _open(self) -> _Connection:
        conn = self._conn = _Connection(self)
        await asyncio.wait_for(conn.open(self.host, self.port, self.keepalive), self.timeout)
        reason = await asyncio.wait_for(conn.connack, self.timeout)
        if reason.is_failure:
            if reason.value in _REFUSED_AUTH:
                raise AuthError(f"mqtt {self.url}: broker refused the credentials ({reason})")
            raise TransportError(f"mqtt {self.url}: broker refused the connection ({reason})")
        topics = [*self.topics, *([self.events_topic] if self.events_topic else [])]
        rc, _ = conn.client.subscribe([(t, 1) for t in topics])
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise TransportError(f"mqtt {self.url}: subscribe failed ({mqtt.error_string(rc)})")
        granted = await asyncio.wait_for(conn.suback, self.timeout)
        refused = [t for t, code in zip(topics, granted) if code.is_failure]
        if refused:
            raise TransportError(f"mqtt {self.url}: subscription refused for {refused}")
        return conn

    async def _session(self) -> None:
        conn = await self._open()
        self._generation += 1
        generation = self._generation
        self.connects += 1
        self._sink.connection(self.id, "connected")
        timers = asyncio.create_task(conn.housekeeping())
        try:
            while True:
                await conn.wakeup.wait()
                conn.wakeup.clear()
                batch, conn.inbox = conn.inbox, []
                if batch:
                    await self._deliver_many(conn, generation, batch)
                if conn.lost is not None and not conn.inbox:
                    raise TransportError(f"mqtt {self.url}: connection closed ({conn.lost})")
        finally:
            timers.cancel()

    async def ack_all(self, acks: Iterable[_Ack]) -> None:
        """Queue the PUBACKs of these messages (those of the live connection not sent
        yet), write them, and wait briefly until they left paho's queue."""
        conn = None
        for a in acks:
            if a.sent or a.mid == 0 or a.generation != self._generation or a.conn is not self._conn:
                continue  # done already, QoS 0, or a dead connection's packet id
            a.sent = True
            a.conn.client.ack(a.mid, 1)
            conn = a.conn
        if conn is None:
            return
        client = conn.client
        client.loop_write()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while client.want_write() and conn.lost is None and loop.time() < deadline:
            await asyncio.sleep(0.001)

    def _events(self, topic: str) -> bool:
        hit = self._is_event.get(topic)
        if hit is None:
            hit = self._is_event[topic] = bool(self.events_topic) and \
                topic_matches_sub(self.events_topic, topic)
        return hit

    async def _deliver_many(self, conn: _Connection, generation: int,
                            batch: list[tuple[str, bytes, int, int]]) -> None:
        sink = self._sink
        many = getattr(sink, "reading_batch", None)
        if not callable(many):
            many = None
        out: list[Reading] = []
        for topic, payload, qos, mid in batch:
            ack = _Ack(self, conn, generation, mid if qos else 0)
            try:
                cap = self.max_payload_bytes
                if cap is not None and len(payload) > cap:
                    raise DecodeError(f"{topic}: payload of {len(payload)} bytes, at most "
                                      f"{cap} allowed", raw=payload)
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
