"""Exactly-once for MQTT readings that carry no `id`: packet ids of the persistent session.

A device that does not name its readings cannot be deduplicated by content: a counter
that sends `{"kind": "good", "value": 1}` twice made two units. So the MQTT driver gives
every new message (DUP 0) a name of its own, and the gateway remembers, in the same
transaction as the event, which packet id of which session it was committed under
(table `mqtt_packets`). The broker redelivers an unacknowledged message after a
reconnect with the same packet id and DUP 1; if that packet id's last commit had the same
payload, the redelivery takes that event's id and timestamp, and the journal sees a
byte-equal duplicate. Rows are deleted once their PUBACK went out and the connection stayed up a second
after it (so a PUBACK lost with its connection still finds its row).

What this cannot tell apart: a redelivery of a message the gateway never received, whose
packet id was last used, already acknowledged, by a message with the same payload, in
the instant between that PUBACK and the next commit. Devices that need exactly-once
under every fault send an `id` (or a `seq` the id is built from) — see docs/devices.md.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from typing import Any

from drivers.base import Reading

SETTLE_S = 1.0


class PacketKeys:
    """The (client, packet id) → (digest, event id, ts) map, mirrored from the journal."""

    def __init__(self, conn: sqlite3.Connection):
        self._last: dict[tuple[str, int], tuple[str, str, str]] = {
            (client, mid): (dg, eid, ts) for client, mid, dg, eid, ts in
            conn.execute("SELECT client, mid, digest, event_id, ts FROM mqtt_packets")}
        self._acked: list[tuple[float, Any, int, tuple[str, int, str]]] = []

    def __len__(self) -> int:
        return len(self._last)

    def resolve(self, r: Reading) -> Reading:
        """A redelivered packet committed before becomes that same reading again."""
        packet = r.attrs.get("packet")
        if packet is None or not r.attrs.get("dup"):
            return r
        client, mid, dg = packet
        hit = self._last.get((client, mid))
        if hit is None or hit[0] != dg:
            return r
        attrs = dict(r.attrs, event_id=hit[1])
        return dataclasses.replace(r, ts=hit[2], attrs=attrs)

    @staticmethod
    def row(r: Reading) -> tuple[str, int, str, str, str] | None:
        packet = r.attrs.get("packet")
        if packet is None:
            return None
        client, mid, dg = packet
        return client, mid, dg, r.attrs["event_id"], r.ts

    def note(self, rows: list[tuple[str, int, str, str, str]]) -> None:
        """Rows of a batch handed to the journal: they commit in order (a failed commit
        is retried until it succeeds), so a redelivery prepared after them, in the same
        batch or the next one while this one commits, finds them."""
        for client, mid, dg, eid, ts in rows:
            self._last[(client, mid)] = (dg, eid, ts)

    def acked(self, readings: list[Any], now: float | None = None) -> None:
        """PUBACKs were written for these: their packet ids are freed once the
        connection has stayed up for `SETTLE_S` after (a PUBACK lost with its connection
        means a redelivery that must still find its row)."""
        now = time.monotonic() if now is None else now
        for r in readings:
            packet = getattr(r, "attrs", {}).get("packet")
            ack = getattr(r, "ack", None)
            if packet is None or not getattr(ack, "sent", False):
                continue
            self._acked.append((now, ack.driver, ack.generation,
                                (packet[0], packet[1], r.attrs["event_id"])))

    def take_acked(self, now: float | None = None) -> list[tuple[str, int]]:
        """The packet ids to delete from `mqtt_packets` in the next commit."""
        now = time.monotonic() if now is None else now
        freed, keep = [], []
        for item in self._acked:
            at, driver, generation, (client, mid, event_id) = item
            if driver.generation != generation:
                continue  # the connection went down: the broker may resend; keep the row
            if now - at < SETTLE_S:
                keep.append(item)
                continue
            key = (client, mid)
            if self._last.get(key, ("", ""))[1] == event_id:  # not reused since
                del self._last[key]
                freed.append(key)
        self._acked = keep
        return freed
