"""The driver's own reading of PUBLISH packets from its read buffer (`_Paho.read_all`):
whatever the socket hands over at a time, every packet comes out once, whole and in
order; the plain QoS 0/1 PUBLISHes without paho's packet reader, anything else by it."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from drivers.mqtt import _Paho
from gateway.bench.ingest import _varint  # MQTT's remaining length


def publish(topic: str, payload: bytes, qos: int, mid: int = 0, dup: bool = False,
            props: bytes = b"\0") -> bytes:
    """A PUBLISH packet of MQTT 5 (`props`: the properties' length and bytes)."""
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (mid.to_bytes(2, "big") if qos else b"") + props
    return bytes([0x30 | qos << 1 | dup << 3]) + _varint(len(body) + len(payload)) + body + payload


def _user_property() -> bytes:
    p = Properties(PacketTypes.PUBLISH)
    p.UserProperty = ("line", "WC-ASSY")
    return p.pack()


PINGRESP = bytes([0xD0, 0])
# (packet, what arrives: ("plain"|"paho", topic, payload, qos, mid, dup))
STREAM = [
    (publish("a/b", b'{"k": 1}', 1, 1), ("plain", "a/b", b'{"k": 1}', 1, 1, False)),
    (publish("a/ü", b"x" * 200, 0), ("plain", "a/ü", b"x" * 200, 0, 0, False)),  # 2 length bytes
    (PINGRESP, None),
    (publish("a/b", b"y" * 20_000, 1, 65535, dup=True),  # 3 length bytes
     ("plain", "a/b", b"y" * 20_000, 1, 65535, True)),
    (publish("a/c", b"props", 1, 7, props=_user_property()),  # paho's own handling
     ("paho", "a/c", b"props", 1, 7, False)),
    (publish("a/b", b"", 1, 8), ("plain", "a/b", b"", 1, 8, False)),
    (publish("a/d", b"z" * 70, 1, 9), ("plain", "a/d", b"z" * 70, 1, 9, False)),
]
DATA = b"".join(p for p, _ in STREAM)


class _Socket:
    """Hands over `chunk` bytes a `recv` at most (none past `stop`), then "nothing yet"."""

    def __init__(self, data: bytes, chunk: int, stop: int | None = None):
        self.data, self.pos, self.chunk, self.stop = data, 0, chunk, stop

    def recv(self, n: int) -> bytes:
        end = len(self.data) if self.stop is None or self.pos >= self.stop else self.stop
        if self.pos >= end:
            raise BlockingIOError
        out = self.data[self.pos:min(end, self.pos + min(n, self.chunk))]
        self.pos += len(out)
        return out

    def close(self) -> None:
        pass


def _client(got: list) -> _Paho:
    c = _Paho(mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5)
    c.manual_ack_set(True)
    c.message_handler = lambda *m: got.append(("plain", *m))
    c.on_message = lambda client, userdata, m: got.append(
        ("paho", m.topic, m.payload, m.qos, m.mid, bool(m.dup)))
    return c


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64, 1000, 19_999, len(DATA)])
def test_every_packet_arrives_once_whole_and_in_order_however_the_bytes_come(chunk):
    got: list = []
    c = _client(got)
    c._sock = _Socket(DATA, chunk)
    for _ in range(len(DATA) + 10):  # one readable event after another
        c.read_all()
        if c._sock.pos >= len(DATA) and not c.buffered():
            break
    assert got == [m for _, m in STREAM if m is not None]
    assert c._in_packet["command"] == 0 and not c.buffered()


def _split_points() -> list[int]:
    """Every byte of the stream but the inside of the 20,000-byte payload."""
    big = DATA.index(b"y" * 20_000)
    return [k for k in range(1, len(DATA)) if not big + 5 < k < big + 20_000 - 5]


def test_a_stream_cut_anywhere_in_two_reads_arrives_whole_and_in_order():
    want = [m for _, m in STREAM if m is not None]
    for cut in _split_points():
        got: list = []
        c = _client(got)
        c._sock = _Socket(DATA, len(DATA), stop=cut)
        c.read_all()  # what the first read holds
        c.read_all()  # the rest
        assert got == want, cut


def test_plain_publishes_read_at_once_skip_pahos_packet_reader(monkeypatch):
    calls = []
    reader = mqtt.Client._packet_read
    monkeypatch.setattr(mqtt.Client, "_packet_read",
                        lambda self: calls.append(1) or reader(self))
    got: list = []
    c = _client(got)
    plain = [p for p, m in STREAM if m is not None and m[0] == "plain"]
    c._sock = _Socket(b"".join(plain), 1 << 20)
    c.read_all()
    assert len(got) == len(plain) and calls == []


def test_a_closed_socket_is_still_pahos_to_report():
    got: list = []
    c = _client(got)

    class Closed(_Socket):
        def recv(self, n):
            return b""

    c._sock = Closed(b"", 1)
    lost = []
    c.on_disconnect = lambda *a: lost.append(a)
    c.read_all()
    assert got == [] and lost and c._sock is None
