"""`AlertRoutes`: an alert transition leaves `alert_deliveries` only once its channel
took it (webhook 2xx, MQTT PUBACK) — at least once, in order per channel, never holding
up the journal, which only ever inserts into the queue.

Each channel (a route's webhook, a route's MQTT topic) sends its oldest pending row; a
failure waits the upstream outbox's backoff (drivers.backoff) before
that channel tries the same row again, while other channels go on. The webhook gets the
alert as JSON with `Idempotency-Key: <key>:<state>:<first seen>`; MQTT gets it retained
at QoS 1 on `<mqtt_topic>/<alert key>`, so a new subscriber sees each alert's last state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sqlite3
import time
from typing import Callable

from gateway.alerts.delivery import channels
from drivers.backoff import backoff_delay
from gateway.upstream.sink import Ack, Reject, UpstreamSink

log = logging.getLogger("gateway.alerts")


def sinks_from_config(cfg, environ=os.environ) -> dict[str, UpstreamSink]:
    """One sink per channel of `[[alerts.route]]`, keyed as alert_deliveries.route."""
    from gateway.upstream.forwarder import make_sink, mqtt_sink_from_config

    out: dict[str, UpstreamSink] = {}
    for n, route in enumerate(cfg.alerts.route):
        for channel in channels(route):
            if channel == "webhook":
                token = environ.get(route.token_env) if route.token_env else None
                out[f"{n}:webhook"] = make_sink("http", route.webhook, token=token,
                                                key_field="idempotency_key")
            elif cfg.mqtt is None:  # the demo without a broker
                log.warning("alerts.route[%d].mqtt_topic: no [mqtt] connection, not sent", n)
            else:
                out[f"{n}:mqtt"] = mqtt_sink_from_config(cfg, route.mqtt_topic, environ,
                                                         topic_field="key", retain=True)
    return out


class AlertRoutes:
    """Sends queued alert transitions through their channels' sinks."""

    def __init__(self, conn: sqlite3.Connection, sinks: dict[str, UpstreamSink], *,
                 backoff_base: float = 0.5, backoff_cap: float = 60.0,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time):
        self.conn = conn
        self.sinks = sinks
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.rng = rng or random.Random()
        self.clock = clock

    async def send_due(self) -> int:
        """One pass: each channel's oldest pending row, if its backoff is over; the
        number delivered."""
        sent = 0
        for channel, sink in self.sinks.items():
            row = self.conn.execute(
                "SELECT id, payload, attempts, next_at FROM alert_deliveries"
                " WHERE route = ? AND state = 'pending' ORDER BY id LIMIT 1",
                (channel,)).fetchone()
            if row is None or row[3] > self.clock():
                continue
            rid, body, attempts, _ = row
            verdict = await sink.send(json.loads(body))
            if isinstance(verdict, Ack):
                self.conn.execute("UPDATE alert_deliveries SET state='sent', attempts=?,"
                                  " sent_at=?, last_error=NULL WHERE id=?",
                                  (attempts + 1, _stamp(self.clock()), rid))
                sent += 1
            elif isinstance(verdict, Reject):  # the far side will never take it as it is
                log.error("alert route %s refused %s for good: %s", channel, rid,
                          verdict.reason)
                self.conn.execute("UPDATE alert_deliveries SET state='rejected', attempts=?,"
                                  " last_error=? WHERE id=?",
                                  (attempts + 1, verdict.reason, rid))
            else:
                wait = backoff_delay(attempts + 1, self.backoff_base, self.backoff_cap, self.rng)
                self.conn.execute("UPDATE alert_deliveries SET attempts=?, last_error=?,"
                                  " next_at=? WHERE id=?",
                                  (attempts + 1, verdict.reason, self.clock() + wait, rid))
        return sent

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Until `stop`: send what is due, sleep when nothing was."""
        try:
            while not stop.is_set():
                try:
                    busy = await self.send_due()
                except sqlite3.OperationalError as exc:  # locked or full: next round
                    log.warning("alert routes: %s", exc)
                    busy = 0
                if not busy:
                    try:
                        await asyncio.wait_for(stop.wait(), poll_s)
                    except asyncio.TimeoutError:
                        pass
        finally:
            for sink in self.sinks.values():
                await sink.close()


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
