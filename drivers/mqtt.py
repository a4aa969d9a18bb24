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

Protocol and session. The driver speaks MQTT 5 where the broker does: a persistent
session (Clean Start 0, a session expiry of `session_expiry` seconds, 7 days by default)
and a Receive Maximum of `receive_maximum` (65,535 by default). A broker keeps at most
that many QoS 1 messages in flight to the gateway and queues the rest up to its own
limit (Mosquitto: `max_queued_messages`, 1,000 by default), dropping beyond it; since
nothing is acknowledged before it is committed, the in-flight window is what lets a
stock broker ride out a burst. A broker that refuses MQTT 5 gets 3.1.1 (clean session
False), and the driver says at once, in a warning, that the broker's
`max_inflight_messages` (default 20) and `max_queued_messages` then bound what it can
hold for the gateway. A reconnect that finds no session (the broker lost it) is an
alarm: whatever the broker held for the gateway is gone.

Loss the broker knows of. The driver watches the broker's own drop counter
(`drop_counter_topic`, Mosquitto's `$SYS/broker/publish/messages/dropped` by default;
empty to turn off). A rise is reported as `MessagesDropped` (an alarm and an exceptions
row) naming the broker and the count. The counter is the broker's total over all its
clients, so the alarm says so.

Readings without an `id`. A reading that names itself (`id`) keeps that name. Any
other is keyed by the MQTT session it came on: a new message (DUP 0) gets a name of
its own, so two identical payloads are two readings; a redelivery (DUP 1) carries the
packet id it was first sent with, and `attrs["redelivery"] = (client id, packet id,
digest)` lets the gateway find the event that packet id was committed as (see
gateway/mqtt_keys.py). Readings may carry `seq` (a per-device counter, integer ≥ 0):
a gap or a restart of the sequence is reported as `SequenceGap` naming the device,
the expected and the seen number; a malformed `seq` is a DecodeError.

The client is paho (its MQTT 5 client), driven by the event loop through paho's external-loop
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
import functools
import hashlib
import itertools
import logging
import math
import socket
import ssl
import struct
import time
from typing import Any, Iterable
from urllib.parse import urlsplit

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.client import topic_matches_sub
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from drivers.base import (AuthError, DecodeError, DriverError, MessagesDropped, Reading,
                          SequenceGap, Sink, TransportError)
from drivers.reconnect import Reconnecting
from drivers.urls import redact_url

log = logging.getLogger(__name__)

KINDS = ("good", "scrap", "weight", "scan", "measure")
_REFUSED_AUTH = {4, 5, 134, 135}  # MQTT 3.1.1 CONNACK 4/5, MQTT 5 reason codes 0x86/0x87
_UNSUPPORTED_PROTOCOL = 132       # MQTT 5 0x84 (paho maps a 3.1.1 broker's CONNACK 1 to it)
MOSQUITTO_DROPPED = "$SYS/broker/publish/messages/dropped"
# What the 3.1.1 fallback costs, said the same way in the log, on the dashboard's device
# row and by `gateway check --online`.
MQTT_311_LIMITS = ("the broker refuses MQTT 5, so 3.1.1 it is: its max_inflight_messages "
                   "(Mosquitto default 20) and max_queued_messages (default 1000) bound what "
                   "it holds for the gateway; set both as docs/broker.md says")
SESSION_EXPIRY_S = 7 * 24 * 3600
RECEIVE_MAXIMUM = 65535


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def translate(exc: BaseException, during: str) -> DriverError:
    """Map connection / TLS / protocol failures to the driver error tree."""
    if isinstance(exc, DriverError):
        return exc
    code = getattr(exc, "rc", None)
    code = getattr(code, "value", code)
    if code in _REFUSED_AUTH:
        return _not_authorised(during, exc)
    text = str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        detail = getattr(exc, "verify_message", None) or text
        return AuthError(f"{during}: TLS certificate verify failed: the broker's certificate "
                         f"is not trusted by ca_file (or the system's CAs) ({detail})",
                         cause="tls_untrusted")
    if isinstance(exc, ssl.SSLError):
        return TransportError(f"{during}: TLS failed: {text}", cause="tls")
    return TransportError(f"{during}: {type(exc).__name__}: {text}")


def _not_authorised(during: str, reason: object) -> AuthError:
    return AuthError(f"{during}: not authorised: the broker refused the credentials "
                     f"({reason}); check the username and password", cause="not_authorised")


def no_mqtt_answer(during: str, tls: bool, waited: float | None = None) -> TransportError:
    """The far end took the connection but said no CONNACK. The same words however it
    ended (closed, reset, silent), so the retries of one episode read alike."""
    how = (f"within {waited:g} s" if waited is not None
           else "before the connection closed")
    hint = "" if tls else ", or a TLS port (then use mqtts://)"
    return TransportError(f"{during}: no MQTT answer {how}: not an MQTT port{hint}",
                          cause="no_mqtt_answer")


def connect_failure(exc: BaseException, during: str, tls: bool, timeout: float) -> DriverError:
    """What a failed TCP connect or TLS handshake means, named for the operator.

    A handshake the far end breaks off (reset, EOF, a non-TLS answer) is a plain listener
    behind an mqtts:// url; a certificate that does not verify stays an AuthError."""
    if isinstance(exc, DriverError):
        return exc
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return TransportError(f"{during}: no answer within {timeout:g} s (host down or a "
                              "firewall drops the connection)", cause="no_answer")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError(f"{during}: connection refused: no broker listens on that port",
                              cause="refused")
    if isinstance(exc, socket.gaierror):
        return TransportError(f"{during}: host not found ({exc})", cause="no_host")
    if not tls and isinstance(exc, (ConnectionResetError, BrokenPipeError,
                                    ConnectionAbortedError)):
        return no_mqtt_answer(during, tls)  # hung up on our CONNECT while we still wrote
    error = translate(exc, during)
    if tls and error.cause in ("tls", "transport") and isinstance(
            exc, (ssl.SSLError, ConnectionResetError, BrokenPipeError, EOFError)):
        # No detail from the exception: reset or EOF, retries of one episode read alike.
        return TransportError(f"{during}: TLS handshake failed: not a TLS port (the far end "
                              "does not speak TLS; use mqtt:// for a plain listener)",
                              cause="not_tls")
    return error


def _parse_url(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"url: must be mqtt://host[:port] or mqtts://host[:port], "
                         f"got {redact_url(url)!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"url: bad port in {redact_url(url)!r}") from None
    return parts.hostname, port, tls


def decode_device_payload(payload: bytes, topic: str, via: str, ack=None, *,
                          key: str | None = None) -> Reading:
    """One device message → Reading; DecodeError naming the field and value otherwise.

    `key` names a reading that carries no `id` (the driver gives each MQTT message its
    own); without one, the payload's digest does (a file replay, a test)."""
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
    seq = body.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise DecodeError(f"{topic}: seq: must be an integer >= 0, got {seq!r}", raw=payload)
    attrs = {k: v for k, v in body.items() if k not in ("device", "ts", "kind", "value", "unit")}
    if kind not in KINDS:
        attrs["kind"], kind = kind, "measure"
    if message_id:
        attrs["event_id"] = message_id
    else:
        attrs["event_id"] = f"{device}:{key or digest(payload)}"
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


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:20]


class Sequences:
    """Per-device `seq` watch: the next number expected, and what a jump means.

    A number above the expected one is a gap (readings lost before the broker, or
    dropped by it); a lower one is a redelivery when the device has sent it before in
    this run, and a restart of the device's counter when it is 0 or 1 and the payload is
    new. Kept in memory: it checks from the first reading after the gateway starts."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def check(self, device: str, seq: int, dup: bool) -> str | None:
        expected = self.next.get(device)
        if expected is None or seq == expected:
            self.next[device] = seq + 1
            return None
        if seq > expected:
            self.next[device] = seq + 1
            missing = seq - expected
            return (f"device {device}: seq jumped from {expected - 1} to {seq}: expected "
                    f"{expected}, saw {seq} ({missing} reading{'s' * (missing != 1)} missing)")
        if seq <= 1 and not dup:
            self.next[device] = seq + 1
            return (f"device {device}: seq restarted: expected {expected}, saw {seq} "
                    "(the device restarted or reset its counter)")
        return None  # an earlier number again: a redelivery; the journal drops it


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

class _ClosingSSLSocket(ssl.SSLSocket):
    """An SSL socket that closes itself when its handshake fails: paho drops the socket
    of a failed handshake without closing it, one leaked descriptor per retry."""

    def do_handshake(self, *args, **kwargs):
        try:
            return super().do_handshake(*args, **kwargs)
        except BaseException:
            self.close()
            raise


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
        # (topic, payload, qos, mid, dup) of each QoS 0/1 PUBLISH without properties
        self.message_handler = None

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        """A QoS 0/1 PUBLISH that carries no properties (what devices send) goes straight
        to `message_handler`: no message object, no property parsing, no callback
        dispatch, a good part of paho's time per message. Anything else (QoS 2, MQTT 5
        properties, an empty or invalid topic) is paho's own `_handle_publish`."""
        message = self._plain_publish(self._in_packet["command"], self._in_packet["packet"])
        if message is None:
            return super()._handle_publish()
        self.message_handler(*message)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _plain_publish(self, command: int, packet) -> tuple | None:
        """(topic, payload, qos, mid, dup) of a PUBLISH's body that `_handle_publish`
        takes itself, or None when paho's own must handle it."""
        qos = (command & 0x06) >> 1
        v5 = self._protocol == mqtt.MQTTv5
        if self.message_handler is None or qos > 1 or len(packet) < 2:
            return None
        end = 2 + int.from_bytes(packet[0:2], "big")
        pos = end + (2 if qos else 0)
        if end == 2 or len(packet) < pos + v5 or (v5 and packet[pos] != 0):
            return None
        try:
            topic = packet[2:end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        mid = int.from_bytes(packet[end:pos], "big") if qos else 0
        return topic, bytes(packet[pos + v5:]), qos, mid, bool(command & 0x08)

    def _read_publishes(self) -> None:
        """Hand over the complete PUBLISH packets at the head of the read buffer that
        `_plain_publish` takes, parsed here rather than by paho's reader (a `recv` of
        one byte, then of each length byte and of the body, per packet: ~5 µs a
        message). Stops at anything else (another packet, one not read whole, a length
        paho would refuse), which paho then reads from the same place as before."""
        buf, pos = self._rbuf, self._rpos
        size, handler = len(buf), self.message_handler
        handled = False
        while pos + 1 < size and buf[pos] & 0xF0 == mqtt.PUBLISH:
            length, shift, at = 0, 0, pos + 1
            while at < size and at - pos <= 4:  # at most 4 length bytes (paho's limit)
                byte = buf[at]
                length |= (byte & 127) << shift
                shift += 7
                at += 1
                if not byte & 128:
                    break
            else:
                break  # the length goes on past the buffer, or is too long
            if at + length > size:
                break  # not read whole yet
            message = self._plain_publish(buf[pos], buf[at:at + length])
            if message is None:
                break
            pos = self._rpos = at + length
            handled = True
            handler(*message)
        if handled:
            with self._msgtime_mutex:  # paho's keepalive: bytes came in
                self._last_bytes_received = mqtt.time_func()

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

    def puback_all(self, mids: list[int]) -> None:
        """Queue the PUBACKs of `mids` as one write: paho queues a packet an ack and sends
        each with its own `send` (a syscall per 4 bytes, about as much of the event
        loop's time as the mapping). A PUBACK of reason Success without properties is
        the same 4 bytes in MQTT 3.1.1 and 5 (MQTT 5.0, 3.4.2.1), what paho's own `ack`
        sends; paho writes the run like any packet it queued."""
        if mids:
            run = struct.pack(f"!{len(mids)}I", *[_PUBACK | mid for mid in mids])
            self._packet_queue(mqtt.PUBACK, run, 0, 0)

    def read_all(self) -> None:
        """Handle every packet that has arrived: between packets the plain PUBLISHes
        here (`_read_publishes`), anything else by paho's reader, until nothing is left."""
        while True:
            if self._in_packet["command"] == 0:
                read = True if self._rpos < len(self._rbuf) else self._refill()
                if read is False:
                    return  # nothing has arrived
                if read:
                    self._read_publishes()
                    if not self.buffered():
                        return
            rc = self.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS or not self.buffered():
                return

    def _refill(self) -> bool | None:
        """One read into the empty buffer: True when it got bytes, False when none have
        arrived, None when the socket is closed or failed (paho's own read then meets
        that again and reports it as before)."""
        try:
            data = super()._sock_recv(1 << 18)
        except BlockingIOError:
            return False
        except OSError:
            return None
        if not data:
            return None
        self._rbuf, self._rpos = data, 0
        return True


_PUBACK = mqtt.PUBACK << 24 | 2 << 16   # PUBACK, remaining length 2; | the packet id


class _Connection:
    """One broker connection: paho's socket on the event loop, messages into `inbox`.

    `inbox` holds (topic, payload, qos, mid) of messages not taken yet; `wakeup` is set
    when it has some or when the connection is gone (`lost`)."""

    def __init__(self, driver: "MqttDevices"):
        self.loop = asyncio.get_running_loop()
        self.inbox: list[tuple[str, bytes, int, int, bool]] = []
        self.wakeup = asyncio.Event()
        self.connack: asyncio.Future = self.loop.create_future()
        self.suback: asyncio.Future = self.loop.create_future()
        self.lost: str | None = None
        self.writing = False  # the socket is registered for writing
        self.session_present = False
        self.connack_properties: Any = None
        self.protocol = driver.protocol
        self.driver = driver
        if self.protocol == 5:
            c = _Paho(mqtt.CallbackAPIVersion.VERSION2, client_id=driver.client_id,
                      protocol=mqtt.MQTTv5)
        else:
            c = _Paho(mqtt.CallbackAPIVersion.VERSION2, client_id=driver.client_id,
                      clean_session=False, protocol=mqtt.MQTTv311)
        self.client = c
        c.manual_ack_set(True)  # PUBACK only when the gateway says so (ack_all)
        if driver.username is not None:
            c.username_pw_set(driver.username, driver.password)
        if driver.tls:
            context = ssl.create_default_context(cafile=driver.ca_file)
            context.sslsocket_class = _ClosingSSLSocket
            if driver.cert_file:
                context.load_cert_chain(driver.cert_file, driver.key_file)
            c.tls_set_context(context)
        c.connect_timeout = driver.timeout
        c.on_connect, c.on_subscribe = self._on_connect, self._on_subscribe
        c.on_message, c.on_disconnect = self._on_message, self._on_disconnect
        c.message_handler = self._message
        c.on_socket_open, c.on_socket_close = self._on_socket_open, self._on_socket_close
        c.on_socket_register_write = self._want_write
        c.on_socket_unregister_write = self._wrote

    # paho's callbacks: all run on the event loop's thread, inside read_all/loop_write
    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        self.session_present = bool(getattr(flags, "session_present", False))
        self.connack_properties = properties
        if not self.connack.done():
            self.connack.set_result(reason)

    def _on_subscribe(self, client, userdata, mid, reasons, properties) -> None:
        if not self.suback.done():
            self.suback.set_result(reasons)

    def _on_message(self, client, userdata, message) -> None:
        self._message(message.topic, message.payload, message.qos, message.mid, message.dup)

    def _message(self, topic: str, payload: bytes, qos: int, mid: int, dup: bool) -> None:
        if topic == self.driver.drop_counter_topic:
            self.driver._broker_counter(payload)
            return
        self.inbox.append((topic, payload, qos, mid, dup))
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
        if self.protocol == 5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.driver.session_expiry
            props.ReceiveMaximum = self.driver.receive_maximum
            connect = functools.partial(self.client.connect, host, port, keepalive,
                                        clean_start=False, properties=props)
        else:
            connect = functools.partial(self.client.connect, host, port, keepalive)
        await self.loop.run_in_executor(None, connect)
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
        cert_file: str | None = None,
        key_file: str | None = None,
        *,
        keepalive: int = 30,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_payload_bytes: int | None = None,
        protocol: int | None = None,
        receive_maximum: int = RECEIVE_MAXIMUM,
        session_expiry: int = SESSION_EXPIRY_S,
        drop_counter_topic: str | None = MOSQUITTO_DROPPED,
    ):
        self.id = id
        if protocol not in (None, 3, 5):
            raise ValueError(f"protocol: must be 5, 3 (MQTT 3.1.1) or unset (5, else 3), "
                             f"got {protocol!r}")
        # None: MQTT 5, and 3.1.1 only if the broker refuses 5 (then kept for this run).
        self.protocol = protocol or 5
        self._fallback = protocol is None
        if isinstance(receive_maximum, bool) or not isinstance(receive_maximum, int) \
                or not 1 <= receive_maximum <= 65535:
            raise ValueError(f"receive_maximum: must be 1..65535, got {receive_maximum!r}")
        if isinstance(session_expiry, bool) or not isinstance(session_expiry, int) \
                or not 0 < session_expiry <= 0xFFFFFFFF:
            raise ValueError(f"session_expiry: must be 1..4294967295 seconds, got "
                             f"{session_expiry!r}")
        self.receive_maximum, self.session_expiry = receive_maximum, session_expiry
        self.drop_counter_topic = drop_counter_topic or None
        self._dropped_last: int | None = None  # the broker's counter, last value seen
        self.dropped_seen = 0  # rises of it seen by this driver
        self.sequences = Sequences()
        self._keys = itertools.count()
        self._key_base = ""
        # A message larger than this is a DecodeError before any JSON is parsed.
        self.max_payload_bytes = max_payload_bytes
        self.host, self.port, self.tls = _parse_url(url)
        self.url = redact_url(url)  # only ever shown: host and port above are what connects
        # One topic filter (as in a `[[devices]] topic = "…"` entry) or several.
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        for i, topic in enumerate(self.topics):
            if not isinstance(topic, str) or not topic:
                raise ValueError(f"topics[{i}]: must be a non-empty topic filter, got {topic!r}")
        self.events_topic = events_topic
        if not self.topics and not events_topic:
            raise ValueError("topics: at least one device topic or an events_topic is required")
        if ca_file and not self.tls:
            raise ValueError(f"ca_file: given but url {self.url!r} is not mqtts://")
        if (cert_file or key_file) and not self.tls:
            raise ValueError(f"cert_file: a client certificate needs an mqtts:// url, "
                             f"got {self.url!r}")
        if bool(cert_file) != bool(key_file):
            raise ValueError("key_file: a client certificate needs both cert_file and key_file")
        self.username, self.password, self.ca_file = username, password, ca_file
        self.cert_file, self.key_file = cert_file, key_file
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
        # a standing condition worth showing beside the device (the 3.1.1 fallback)
        self.notice: str | None = None

    auth_backoff = 0.25
    timeout = 10.0

    def _translate(self, exc: BaseException) -> DriverError:
        return translate(exc, f"mqtt {self.url}")

    async def _lost(self) -> None:
        self._generation += 1  # acks of this connection's messages are now void
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @property
    def generation(self) -> int:
        """Counts broker connections; an ack of an older one is void."""
        return self._generation

    async def _connect(self) -> _Connection:
        conn = self._conn = _Connection(self)
        during = f"mqtt {self.url}"
        try:
            await asyncio.wait_for(conn.open(self.host, self.port, self.keepalive), self.timeout)
        except Exception as exc:
            raise connect_failure(exc, during, self.tls, self.timeout) from exc
        # Connected (and TLS agreed): a listener that closes now, or never says CONNACK,
        # is not an MQTT broker on this scheme; most often a TLS port behind mqtt://.
        try:
            reason = await asyncio.wait_for(conn.connack, self.timeout)
        except asyncio.TimeoutError:
            raise no_mqtt_answer(during, self.tls, self.timeout) from None
        except TransportError:
            raise no_mqtt_answer(during, self.tls) from None
        if reason.is_failure:
            if reason.value in _REFUSED_AUTH:
                raise _not_authorised(during, reason)
            raise TransportError(f"{during}: broker refused the connection ({reason})",
                                 cause="broker_refused")
        return conn

    async def _open(self) -> _Connection:
        try:
            conn = await self._connect()
        except TransportError as exc:
            if not (self._fallback and self.protocol == 5 and "Unsupported protocol" in str(exc)):
                raise
            await self._lost()
            self.protocol = 3
            self.notice = MQTT_311_LIMITS
            log.warning("mqtt %s: %s", self.url, MQTT_311_LIMITS)
            conn = await self._connect()
        if self.connects == 0:
            if self.protocol == 5:
                log.info("mqtt %s: MQTT 5 session %s (receive maximum %d, session expiry %d s)",
                         self.url, "resumed" if conn.session_present else "started",
                         self.receive_maximum, self.session_expiry)
        elif not conn.session_present:
            await self._report(MessagesDropped(
                f"mqtt {self.url}: the broker had no session for client {self.client_id} on "
                "reconnect: whatever it held for the gateway while disconnected is lost "
                "(broker restarted without persistence, or the session expired)"))
        topics = [*self.topics, *([self.events_topic] if self.events_topic else [])]
        subs = [(t, 1) for t in topics]
        if self.drop_counter_topic:
            subs.append((self.drop_counter_topic, 0))
        rc, _ = conn.client.subscribe(subs)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise TransportError(f"mqtt {self.url}: subscribe failed ({mqtt.error_string(rc)})")
        granted = await asyncio.wait_for(conn.suback, self.timeout)
        refused = [t for (t, _), code in zip(subs, granted) if code.is_failure]
        if self.drop_counter_topic in refused:
            refused.remove(self.drop_counter_topic)
            log.warning("mqtt %s: cannot watch the broker's drop counter: subscription to %r "
                        "refused (grant the gateway read access to it, or set "
                        "drop_counter_topic = \"\")", self.url, self.drop_counter_topic)
        if refused:
            raise TransportError(f"mqtt {self.url}: subscription refused for {refused}")
        return conn

    def _broker_counter(self, payload: bytes) -> None:
        """A value of the broker's drop counter; a rise is lost messages, said at once."""
        try:
            value = int(payload.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            return  # not a counter: the topic is configured wrong, nothing to judge
        last, self._dropped_last = self._dropped_last, value
        if last is None or value <= last:
            return  # the first value seen, or the broker restarted and counts from 0
        rise = value - last
        self.dropped_seen += rise
        error = MessagesDropped(
            f"mqtt {self.url}: the broker dropped {rise} message{'s' * (rise != 1)} "
            f"(its counter {self.drop_counter_topic} rose from {last} to {value}; it counts "
            "all its clients): readings may be lost; raise the broker's max_queued_messages "
            "(docs/broker.md)", raw=f"{self.drop_counter_topic}={value}")
        error.count = rise
        asyncio.get_running_loop().create_task(self._report(error))

    async def _session(self) -> None:
        conn = await self._open()
        self._generation += 1
        generation = self._generation
        self._key_base = f"m{time.time_ns():x}"  # names of this connection's new messages
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
        conn = self._conn
        generation = self._generation
        mids = []
        for a in acks:
            if a.sent or a.mid == 0 or a.generation != generation or a.conn is not conn:
                continue  # done already, QoS 0, or a dead connection's packet id
            a.sent = True
            mids.append(a.mid)
        if not mids:
            return
        client = conn.client
        client.puback_all(mids)
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
                            batch: list[tuple[str, bytes, int, int, bool]]) -> None:
        sink = self._sink
        many = getattr(sink, "reading_batch", None)
        if not callable(many):
            many = None
        out: list[Reading] = []
        keys, base = self._keys, self._key_base
        for topic, payload, qos, mid, dup in batch:
            ack = _Ack(self, conn, generation, mid if qos else 0)
            try:
                cap = self.max_payload_bytes
                if cap is not None and len(payload) > cap:
                    raise DecodeError(f"{topic}: payload of {len(payload)} bytes, at most "
                                      f"{cap} allowed", raw=payload)
                if self._events(topic):
                    reading = decode_event_payload(payload, topic, self.id, ack)
                else:
                    reading = decode_device_payload(payload, topic, self.id, ack,
                                                    key=f"{base}.{next(keys)}")
                    attrs = reading.attrs
                    if "id" not in attrs and qos:
                        attrs["packet"] = (self.client_id, mid, digest(payload))
                        attrs["dup"] = dup
                    seq = attrs.get("seq")
                    if seq is not None:
                        gap = self.sequences.check(reading.device, seq, dup)
                        if gap is not None:
                            if out:
                                await self._hand_over(sink, many, out)
                                out = []
                            await self._report(SequenceGap(gap, raw=payload))
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
