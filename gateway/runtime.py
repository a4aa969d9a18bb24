"""`Gateway`: one asyncio process from device readings to committed, forwarded entries.

Drivers deliver readings into a bounded inbox (one at a time, or a burst per call through
`reading_batch`); one committer takes them as they come, maps and decodes them into a
batch on the event loop and commits each batch through the journal on a dedicated thread
(SQLite and the numba engine stay off the event loop). Group commit, pipelined: while
batch N commits, batch N+1 is taken, mapped and decoded; it is handed over once N is done
and it is full (BATCH_MAX readings) or its oldest reading has waited `[gateway]
commit_wait_ms`. Batches commit one after the other, in order. A reading is acknowledged
(MQTT PUBACK) only after the transaction that stored its event — or its exception —
committed. When the disk is full nothing is acknowledged: the batch is retried with
backoff, the queue fills, drivers block (back-pressure), and the gateway resumes by
itself when space returns.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from drivers.backoff import Backoff
from drivers.base import AuthError, DecodeError, DriverError, LossReported, Reading

from gateway.active_orders import ActiveOrders
from gateway.alerts import AlertBook
from gateway.journal import (
    Journal,
    JournalFull,
    SideEffects,
    Submission,
    now_utc,
    predecode,
    reading_text,
)
from gateway.mqtt_keys import PacketKeys
from gateway.mapping import Mapper, reading_json
from gateway.provenance import mqtt_source

log = logging.getLogger("gateway")

DISK_CHECK_S = 10.0      # how often the free space under the journal is checked
DISK_ALARM_FREE = 256 * 1024 * 1024  # alarm below this many free bytes, or below 2 %
BATCH_MAX = 1000         # readings per transaction


@dataclass
class DeviceStatus:
    id: str
    driver: str
    state: str = "starting"
    last_reading_ts: str | None = None
    readings: int = 0
    problems: int = 0
    alarms: list[str] = field(default_factory=list)
    reason: str | None = None  # why the device is not connected, from its last problem
    cause: str | None = None   # that problem's short name (`not_authorised`, ...), a label
    _told: str | None = None   # the reason last put on the console (once per outage)
    faulted: bool = False      # a device_error episode may be open since the last connect
    # A driver reports a problem once per outage; each retry after it that fails again
    # shows only as one more "reconnecting", and is counted against this error.
    last_error: DriverError | None = None
    _told_since_retry: bool = False
    was_connected: bool = False
    # readings per whole second of time.monotonic(), the last 10 s of them
    _window: collections.deque = field(default_factory=collections.deque)

    def note(self, n: int, ts: str | None) -> None:
        self.readings += n
        self.last_reading_ts = ts
        sec = int(time.monotonic())
        w = self._window
        if w and w[-1][0] == sec:
            w[-1][1] += n
        else:
            w.append([sec, n])
            while w[0][0] <= sec - 10:
                w.popleft()

    def as_dict(self) -> dict:
        now = time.monotonic()
        recent = sum(n for sec, n in self._window if now - sec < 10.0)
        return {"id": self.id, "driver": self.driver, "state": self.state,
                "last_reading_ts": self.last_reading_ts, "readings": self.readings,
                "readings_per_s": round(recent / 10.0, 2),
                "problems": self.problems, "alarms": list(self.alarms), "reason": self.reason,
                "cause": self.cause}


class _Inbox:
    """Readings waiting for the committer: put one or a burst, take up to n at once.

    Bounded for back-pressure: a put waits while `maxsize` items are waiting or taken
    into the batch being prepared (a burst is let in whole once there is room, so a driver
    never splits what it read); the batch being committed is not counted, as before
    pipelining its batch had left the inbox too."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self.taken = 0  # taken, not yet handed to the journal (`handed`)
        self.items: collections.deque = collections.deque()
        self._ready = asyncio.Event()   # something to take
        self._room = asyncio.Event()    # below maxsize
        self._room.set()

    def __len__(self) -> int:
        return len(self.items)

    async def put_many(self, items) -> None:
        while len(self.items) + self.taken >= self.maxsize:
            self._room.clear()
            await self._room.wait()
        self.items.extend(items)
        self._ready.set()

    async def put(self, item) -> None:
        await self.put_many((item,))

    def put_marker(self, item) -> None:
        """A control item, let in past the bound (it holds no reading to push back on)."""
        self.items.append(item)
        self._ready.set()

    def wake(self) -> None:
        """End a `wait` early (the committer has something else to look at)."""
        self._ready.set()

    async def wait(self, timeout: float | None = None) -> bool:
        """Until something is waiting (True), `wake` was called or the timeout passed."""
        if self.items:
            return True
        self._ready.clear()
        if timeout is None:
            await self._ready.wait()
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            return bool(self.items)
        return True

    def take(self, n: int) -> list:
        items = self.items
        if len(items) <= n:
            out = list(items)
            items.clear()
        else:
            out = [items.popleft() for _ in range(n)]
        self.taken += len(out)
        self._room_left()
        return out

    def handed(self, n: int) -> None:
        """`n` items taken went to the journal: room for as many more."""
        self.taken -= n
        self._room_left()

    def _room_left(self) -> None:
        if len(self.items) + self.taken < self.maxsize:
            self._room.set()


class _Reconnected:
    """A device is connected again: its open fault episodes close (in commit order)."""
    __slots__ = ("device",)

    def __init__(self, device: str):
        self.device = device


class _Problem:
    __slots__ = ("device", "error")

    def __init__(self, device: str, error: DriverError):
        self.device, self.error = device, error


class _Batch:
    """Readings taken from the inbox, mapped and decoded, waiting for their commit."""

    __slots__ = ("subs", "side", "readings", "size", "since")

    def __init__(self) -> None:
        self.subs: list[Submission] = []
        self.side = SideEffects()
        self.readings: list = []  # anything with an `ack` to send after the commit
        self.size = 0             # inbox items taken (readings, problems, markers)
        self.since: float | None = None  # loop time the first of them was taken


class Gateway:
    """Devices → mapping → journal; the committer is the only writer of events."""

    # Drivers may hand us a problem's acknowledgement (MQTT PUBACK of a malformed
    # payload): we send it only once the raw payload is stored, so a crash in between
    # makes the broker redeliver instead of losing it.
    acks_problems = True

    def __init__(self, config: Any, master: Any, *, metrics: Any = None, drivers: list | None = None,
                 queue_size: int = 20000, disk_alarm_free: int = DISK_ALARM_FREE):
        self.config = config
        self.master = master
        self.metrics = metrics
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="journal")
        self.journal = Journal(config.gateway.db, master, synchronous=config.gateway.synchronous,
                               limits=config.limits, unknown_po=config.costing.unknown_po,
                               release_check=config.costing.release_check,
                               alerts=AlertBook(config.alerts, master),
                               snapshot=config.gateway.snapshots,
                               snapshot_every=config.gateway.snapshot_every)
        self.queue = _Inbox(queue_size)
        self.drivers = drivers
        self.status: dict[str, DeviceStatus] = {}
        self.alarms: list[str] = []
        self.active_orders = ActiveOrders(self.journal.active_orders())
        self.packets = PacketKeys(self.journal.conn)
        self.mapper = Mapper(config, master, self.active_orders.get)
        for wo, item in self.journal.conn.execute("SELECT work_order, item FROM work_orders"):
            self.mapper.note_release(wo, item)
        self.disk_alarm_free = disk_alarm_free
        self.commit_wait = config.gateway.commit_wait_ms / 1000.0
        self._stopping = False
        self.committed = 0
        self.first_commit_at: float | None = None
        # the journal's own row on the device table: what it committed, and when
        self.journal_status = DeviceStatus("journal", "journal (SQLite)", state="connected")

    # -- the driver-facing sink --------------------------------------------------------

    async def reading(self, r: Reading) -> None:
        # MQTT readings name the device that spoke; the status row is the driver's.
        st = self.status.get(r.attrs.get("via", r.device)) or self.status.get(r.device)
        if st is not None:
            st.note(1, r.ts)
        if self.metrics is not None:
            self.metrics.readings.labels(device=r.device).inc()
        await self.queue.put(r)

    async def reading_batch(self, readings: list[Reading]) -> None:
        """A burst from one driver read, in order: the same as `reading` for each."""
        seen: dict[str, list] = {}  # status row id -> [row, count, last ts]
        per_device: dict[str, int] = {}  # the readings counter, once per device
        for r in readings:
            st = self.status.get(r.attrs.get("via", r.device)) or self.status.get(r.device)
            if st is not None:
                row = seen.get(st.id)
                if row is None:
                    seen[st.id] = [st, 1, r.ts]
                else:
                    row[1] += 1
                    row[2] = r.ts
            per_device[r.device] = per_device.get(r.device, 0) + 1
        for st, n, ts in seen.values():
            st.note(n, ts)
        if self.metrics is not None:
            for device, n in per_device.items():
                self.metrics.readings.labels(device=device).inc(n)
        await self.queue.put_many(readings)

    async def problem(self, device: str, error: DriverError) -> None:
        st = self.status.get(device)
        if isinstance(error, LossReported):
            # Not a fault of the connection: readings are gone. Loud everywhere at once.
            log.error("device %s: %s", device, error)
            if st is not None:
                st.problems += 1
                st.alarms = [*st.alarms[-4:], str(error)]
            if self.metrics is not None:
                self.metrics.lost_reported.labels(device=device, kind=error.exception_kind).inc(
                    getattr(error, "count", 1))
            await self.queue.put(_Problem(device, error))
            return
        if st is not None:
            st.problems += 1
            if not isinstance(error, DecodeError):
                st.faulted = True  # an episode is open: the next connect closes it
                st.last_error, st._told_since_retry = error, True
            if not isinstance(error, DecodeError) and st.state != "connected":
                st.reason = str(error) or type(error).__name__
                st.cause = error.cause
                if st._told != st.reason:  # a new cause, not one more retry of the old one
                    # Credentials and certificates do not fix themselves: an error, not a blip.
                    level = logging.ERROR if isinstance(error, AuthError) else logging.WARNING
                    log.log(level, "device %s: %s: %s; retrying with back-off", device,
                            "lost" if st.was_connected else "cannot connect", st.reason)
                    st._told = st.reason
        if self.metrics is not None and not isinstance(error, DecodeError):
            self.metrics.device_faults.labels(device=device, cause=error.cause).inc()
        await self.queue.put(_Problem(device, error))

    def connection(self, device: str, state: str) -> None:
        st = self.status.get(device)
        if st is not None and state == "reconnecting":
            if st.faulted and st.last_error is not None and not st._told_since_retry:
                self._retry_failed(device, st.last_error)  # the attempt before this one
            st._told_since_retry = False
        if st is not None:
            if state == "connected" and st.state != "connected" and not self._stopping:
                log.info("device %s: connected", device)
                if st.faulted:  # nothing to close otherwise: no commit for nothing
                    self.queue.put_marker(_Reconnected(device))
                    st.faulted = False
                st.reason = st._told = st.cause = st.last_error = None
                st.was_connected = True
            st.state = state
        if self.metrics is not None:
            self.metrics.device_connected.labels(device=device).set(1 if state == "connected" else 0)

    def _retry_failed(self, device: str, error: DriverError) -> None:
        """One more failed attempt of an outage already reported: counted, not told again."""
        if self.metrics is not None:
            self.metrics.device_faults.labels(device=device, cause=error.cause).inc()
        self.queue.put_marker(_Problem(device, error))  # the episode's occurrences

    def devices(self) -> list[dict]:
        """Device rows for the dashboard, led by the journal itself (disk alarms)."""
        journal = {**self.journal_status.as_dict(), "readings": self.committed,
                   "state": "alarm" if self.alarms else "connected",
                   "alarms": list(self.alarms), "notice": None}
        # a driver's standing notice (an MQTT broker that refused 5: what bounds its rate)
        notices = {d.id: getattr(d, "notice", None) for d in self.drivers or ()}
        return [journal, *({**s.as_dict(), "notice": notices.get(s.id)}
                           for s in self.status.values())]

    def check_disk(self) -> None:
        """Raise (or clear) the alarm before the disk is full, not after."""
        usage = shutil.disk_usage(os.path.dirname(os.path.abspath(self.journal.path)))
        low = usage.free < max(self.disk_alarm_free, usage.total // 50)
        self.alarms = [a for a in self.alarms if not a.startswith("disk nearly full")]
        if low:
            msg = (f"disk nearly full: {usage.free // 2**20} MiB free under the journal; "
                   "free space before it fills (the gateway then holds its inputs)")
            self.alarms.append(msg)
            log.warning(msg)

    async def _watch_disk(self) -> None:
        while True:
            self.check_disk()
            await asyncio.sleep(DISK_CHECK_S)

    async def _watch_alerts(self) -> None:
        """The stalled-order rule on a timer, in the journal's writer thread (one writer)."""
        rule = self.config.alerts.stalled
        if not rule.enabled:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(rule.check_seconds)
            try:
                await loop.run_in_executor(self.executor, self.journal.check_alert_timers)
            except Exception as exc:  # a busy or full disk: the next tick tries again
                log.warning("alerts: stalled-order check failed: %s", exc)

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, extra: list | None = None) -> None:
        """Run until `stop` is set, then stop the drivers, commit what was read, return."""
        if self.drivers is None:
            from gateway.devices import build_drivers
            state = {d.id: self.journal.counter_state(d.id) for d in self.config.devices}
            self.drivers = build_drivers(self.config, state)
        # a fault episode left open by the last run closes when its device connects
        still_open = {src for (src,) in self.journal.conn.execute(
            "SELECT DISTINCT source FROM exceptions WHERE status='open' AND kind='device_error'")}
        for d in self.drivers:
            self.status[d.id] = DeviceStatus(d.id, type(d).__name__,
                                             faulted=d.id in still_open)
            await d.start(self)
        committer = asyncio.create_task(self._commit_loop(), name="committer")
        tasks = [committer, asyncio.create_task(self._watch_disk(), name="disk"),
                 asyncio.create_task(self._watch_alerts(), name="alerts"),
                 *[asyncio.ensure_future(t) for t in (extra or [])]]
        try:
            await stop.wait()
        finally:
            self._stopping = True
            for d in self.drivers:
                try:
                    await d.stop()
                except Exception as exc:  # a driver that fails to stop must not block shutdown
                    log.warning("stopping %s: %s", d.id, exc)
            await self.queue.put(None)  # flush marker: commit everything read so far
            await committer
            for t in tasks[1:]:
                t.cancel()
            await asyncio.gather(*tasks[1:], return_exceptions=True)
            await asyncio.get_running_loop().run_in_executor(self.executor, self.journal.close)
            self.executor.shutdown(wait=True)

    def close(self) -> None:
        """Release the journal of a gateway that never ran (a start-up failure)."""
        self.executor.shutdown(wait=True)
        self.journal.close()

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        inbox = self.queue
        wait = self.commit_wait
        committing: asyncio.Task | None = None  # the batch on the journal thread
        batch = _Batch()  # the next one, being prepared
        done = False      # the flush marker was taken: commit what came before it, stop
        while True:
            if not done and batch.size < BATCH_MAX:
                items = inbox.take(BATCH_MAX - batch.size)
                if None in items:
                    items, done = items[:items.index(None)], True
                if items:
                    if batch.since is None:
                        batch.since = loop.time()
                    self._prepare(items, batch)
            busy = committing is not None and not committing.done()
            ripe = done or batch.size >= BATCH_MAX or (
                batch.since is not None and loop.time() - batch.since >= wait)
            if ripe and not busy:
                if committing is not None:
                    await committing  # done: its result, or what it raised
                    committing = None
                if batch.size:
                    inbox.handed(batch.size)
                    self.active_orders.seal()
                    committing = loop.create_task(self._commit(batch), name="commit")
                    committing.add_done_callback(lambda _: inbox.wake())
                    batch = _Batch()
                if done:
                    if committing is not None:
                        await committing
                    return
                continue
            if busy and (done or batch.size >= BATCH_MAX):
                await asyncio.wait((committing,))  # nothing more fits: wait for the journal
                continue
            # a reading, the end of the commit in flight (it wakes the inbox), or the
            # batch's time, whichever comes first
            left = None if ripe or batch.since is None else batch.since + wait - loop.time()
            await inbox.wait(max(left, 0.0) if left is not None else None)

    def _prepare(self, items: list, batch: _Batch) -> None:
        """Map and decode inbox items into `batch` (on the event loop, so the journal
        thread, the one the whole pipeline waits for, only values and writes)."""
        subs, side, readings = batch.subs, batch.side, batch.readings
        batch.size += len(items)
        for item in items:
            if isinstance(item, _Reconnected):
                side.reconnected.append(item.device)
                continue
            if isinstance(item, _Problem):
                err = item.error
                if getattr(err, "ack", None) is not None:
                    readings.append(err)
                raw = getattr(err, "raw", None)
                if isinstance(raw, bytes):
                    raw = raw.decode("latin-1")
                kind = err.exception_kind
                side.exceptions.append((kind, item.device, str(err), raw))
                continue
            r: Reading = self.packets.resolve(item)
            readings.append(r)
            packet = PacketKeys.row(r)
            if packet is not None:
                side.packets.append(packet)
                self.packets.note([packet])
            if r.kind == "counter":
                a = r.attrs
                side.counters.append((r.device, a["node"], int(a.get("epoch", 0)), int(r.value)))
            m = self.mapper.map(r)
            if m.event is not None:
                ev = m.event
                if isinstance(ev, dict):
                    self.active_orders.note(ev)
                # the actor is the channel: the events topic it came on, or the device
                source = (mqtt_source(r.attrs.get("topic", "?"), r.device)
                          if r.kind == "event" else r.device)
                event, canon = predecode(ev, source)
                subs.append(Submission(ev, source=source, reading=reading_text(reading_json(r)),
                                       event=event, canon=canon))
            elif m.exception is not None:
                kind, reason = m.exception
                side.exceptions.append((kind, r.device, reason,
                                        json.dumps(reading_json(r), default=str)))

    async def _commit(self, batch: _Batch) -> None:
        loop = asyncio.get_running_loop()
        subs, side, readings = batch.subs, batch.side, batch.readings
        side.packets_freed = self.packets.take_acked()
        backoff = Backoff(0.1, 5.0)
        journal = self.journal

        def commit() -> tuple[list, dict]:
            results = journal.submit(subs, side=side)
            return results, journal.active_orders()

        while True:
            t0 = time.perf_counter()
            try:
                results, active = await loop.run_in_executor(self.executor, commit)
                break
            except Exception as exc:  # noqa: BLE001 - whatever it is, nothing may be lost
                # Back-pressure: nothing is acknowledged, the queue fills, drivers wait.
                # The journal rolled back and rebuilt its engine, so a retry is safe; an
                # error that does not go away keeps the alarm up until someone looks.
                kind = "disk full" if isinstance(exc, JournalFull) else "commit failed"
                msg = f"{kind}: journal cannot commit ({type(exc).__name__}: {exc}); " \
                      "inputs are held"
                if msg not in self.alarms:
                    self.alarms.append(msg)
                    log.error(msg, exc_info=not isinstance(exc, JournalFull))
                if self._stopping:
                    # Shutting down and still cannot write: stop without acknowledging.
                    # MQTT redelivers; PLC counts are caught up from the stored position.
                    log.error("stopping with %d readings not committed and not acknowledged",
                              len(readings))
                    return
                await asyncio.sleep(backoff.next())
        self.alarms = [a for a in self.alarms
                       if not a.startswith(("disk full:", "commit failed:"))]
        took = time.perf_counter() - t0
        self.active_orders.committed(active)
        applied = sum(r.status == "applied" for r in results)
        self.committed += applied
        if applied:
            self.journal_status.note(applied, now_utc())
        if self.first_commit_at is None and results:
            self.first_commit_at = time.monotonic()
        if self.metrics is not None:
            self.metrics.journal_commit_seconds.observe(took)
            # counted per (device, type) first: one labels() lookup per pair, not per event
            counts: collections.Counter = collections.Counter()
            for sub, res in zip(subs, results):
                if res.status == "applied":
                    ev = sub.raw if isinstance(sub.raw, dict) else {}
                    counts[sub.source, str(ev.get("type", "?"))] += 1
                elif res.status == "rejected":
                    self.metrics.reject("rejected")
            for (source, kind), n in counts.items():
                self.metrics.events.labels(device=source, type=kind).inc(n)
        # Everything in the batch is now stored (as an event or as an exception): ack.
        # A driver that acknowledges in bulk (`ack_all`, MQTT: one write of every
        # PUBACK) gets its acks in one call; other acks run concurrently, in order.
        acked = [r for r in readings if r.ack is not None]
        await self._ack_all(acked)
        self.packets.acked(acked)

    @staticmethod
    async def _ack_all(readings: list) -> None:
        bulk: dict[Any, list] = {}
        single = []
        for r in readings:
            owner = getattr(r.ack, "driver", None)
            if owner is not None and hasattr(owner, "ack_all"):
                bulk.setdefault(owner, []).append(r.ack)
            else:
                single.append(Gateway._ack(r))
        for owner, acks in bulk.items():
            try:
                await owner.ack_all(acks)
            except Exception as exc:  # the broker will redeliver; ids make it harmless
                log.warning("acks for %s failed: %s", getattr(owner, "id", owner), exc)
        if single:
            await asyncio.gather(*single)

    @staticmethod
    async def _ack(r: Reading) -> None:
        try:
            await r.ack()
        except Exception as exc:  # the broker will redeliver; ids make it harmless
            log.warning("ack for %s failed: %s", r.device, exc)
