"""`DurableOutbox`: a batch leaves only when upstream acknowledged it.

Pending batches are sent strictly in `seq` order through one sink (see docs/architecture.md):

- `Ack`    → state `acked`, `acked_at` and the Ack's detail (`ack_detail`: e.g. the
             JetStream stream and sequence) recorded; the next batch goes.
- `Retry`  → the SAME batch again after a capped exponential backoff with jitter;
             nothing behind it is sent meanwhile (order is the promise).
- `Reject` → state `quarantined` + an exception `dead_letter` (raw = the payload); the
             next batch goes — a poison batch never blocks the line.

`requeue(conn, seq)` (supervisor action, also `DurableOutbox.retry`) puts a quarantined
batch back to `pending`. Choice: it takes its seq-order place among the pending ones, so
if it is older than everything pending it is the very next one sent — it may therefore
reach upstream after batches with a higher seq (upstream dedupes by batch_id and must
not assume arrival order).

A crash between send and recording the ack resends the same payload with the same
batch_id; the receiver dedupes. If recording the ack fails (disk full), the ack is kept
in memory and written again after a backoff before anything else is sent; nothing is
lost and nothing is sent out of order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from drivers.backoff import backoff_delay
from gateway import failpoints
from gateway.upstream.batcher import transaction
from gateway.upstream.sink import Ack, Reject, Retry, UpstreamSink, Verdict

__all__ = ["DurableOutbox", "OutboxStats", "read_stats", "requeue", "RequeueError"]

log = logging.getLogger(__name__)


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int                          # pending batches
    oldest_unacked_age_s: float | None  # age of the oldest pending batch (wall clock, >= 0)
    last_ack_at: str | None
    quarantined: int
    acked: int
    send_latency_last_s: float | None = None
    send_latency_avg_s: float | None = None
    errors: int = 0                     # Retry + Reject verdicts + failed state writes


def read_stats(conn: sqlite3.Connection, now: datetime | None = None) -> OutboxStats:
    """Backlog figures from the database alone (the CLI and a dashboard in another process)."""
    counts = dict(conn.execute("SELECT state, COUNT(*) FROM batches GROUP BY state").fetchall())
    oldest = conn.execute(
        "SELECT created_at FROM batches WHERE state = 'pending' ORDER BY seq LIMIT 1").fetchone()
    last_ack = conn.execute("SELECT MAX(acked_at) FROM batches").fetchone()[0]
    age = None
    if oldest:
        now = now or datetime.now(timezone.utc)
        # A wall clock that stepped back must not show a negative age.
        age = max(0.0, (now - _parse_utc(oldest[0])).total_seconds())
    return OutboxStats(depth=counts.get("pending", 0), oldest_unacked_age_s=age,
                       last_ack_at=last_ack, quarantined=counts.get("quarantined", 0),
                       acked=counts.get("acked", 0))


class RequeueError(ValueError):
    pass


def requeue(conn: sqlite3.Connection, seq: int, by: str | None = None) -> None:
    """Put quarantined batch `seq` back to pending (it keeps its seq-order place).

    Its open dead_letter exception is resolved in the same transaction ("sent again"),
    so the exceptions page does not ask a supervisor to act twice.
    """
    with transaction(conn):
        row = conn.execute("SELECT state, batch_id FROM batches WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise RequeueError(f"seq: no batch {seq}")
        if row[0] != "quarantined":
            raise RequeueError(f"seq: batch {seq} is {row[0]}, only a quarantined batch can be retried")
        conn.execute("UPDATE batches SET state = 'pending', last_error = NULL WHERE seq = ?", (seq,))
        conn.execute(
            "UPDATE exceptions SET status = 'resolved', resolution = 'batch sent again (retry)', "
            "resolved_by = ?, resolved_at = ? WHERE kind = 'dead_letter' AND event_id = ? AND status = 'open'",
            (by, _utc_now(), row[1]))


class DurableOutbox:
    """A batch leaves only when upstream acknowledged it."""

    def __init__(self, conn: sqlite3.Connection, sink: UpstreamSink, *,
                 backoff_base: float = 0.5, backoff_cap: float = 60.0,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], str] = _utc_now, metrics=None):
        self.conn = conn
        self.sink = sink
        # gateway.metrics.Metrics (or None): send latency and errors are fed as they happen
        self.metrics = metrics
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.clock = clock
        self.wall = wall
        self._failures = 0                  # consecutive, drives the backoff
        # (seq, acked_at, upstream's detail) not yet on disk
        self._unrecorded_ack: tuple[int, str, str] | None = None
        self._latency_last: float | None = None
        self._latency_sum = 0.0
        self._sends = 0
        self.errors = 0

    # -- supervisor / visibility ---------------------------------------------------------

    def retry(self, seq: int) -> None:
        requeue(self.conn, seq)

    def stats(self) -> OutboxStats:
        s = read_stats(self.conn)
        avg = self._latency_sum / self._sends if self._sends else None
        return OutboxStats(depth=s.depth, oldest_unacked_age_s=s.oldest_unacked_age_s,
                           last_ack_at=s.last_ack_at, quarantined=s.quarantined, acked=s.acked,
                           send_latency_last_s=self._latency_last, send_latency_avg_s=avg,
                           errors=self.errors)

    def backoff(self) -> float:
        """Delay before the next attempt: base·2^(failures−1), capped, with equal jitter."""
        return backoff_delay(self._failures, self.backoff_base, self.backoff_cap, self.rng)

    # -- sending -------------------------------------------------------------------------

    def _head(self) -> tuple[int, str] | None:
        return self.conn.execute(
            "SELECT seq, payload FROM batches WHERE state = 'pending' ORDER BY seq LIMIT 1").fetchone()

    async def send_next(self) -> Verdict | None:
        """One step: record a held-back ack, or send the head pending batch once.

        Returns the verdict, or None when nothing is pending. Never sleeps; `drain` does.
        Raises sqlite3.OperationalError only if the ack cannot be recorded (disk full) —
        the ack is kept and recorded first on the next call.
        """
        if self._unrecorded_ack is not None:
            await self._record_ack(*self._unrecorded_ack)
            return Ack("recorded a held-back ack")
        head = self._head()
        if head is None:
            return None
        seq, payload = head
        batch = json.loads(payload)
        failpoints.hit("outbox.before_send")
        started = self.clock()
        try:
            verdict = await self.sink.send(batch)
        except Exception as exc:  # a sink must classify, but a bug must not lose the batch
            log.exception("sink %r raised on batch %s", self.sink, seq)
            verdict = Retry(f"sink raised {type(exc).__name__}: {exc}")
        elapsed = self.clock() - started
        self._latency_last = elapsed
        self._latency_sum += elapsed
        self._sends += 1
        if self.metrics is not None:
            self.metrics.upstream_send_seconds.observe(elapsed)
            if not isinstance(verdict, Ack):
                self.metrics.upstream_errors.inc()
        failpoints.hit("outbox.after_send")
        if isinstance(verdict, Ack):
            self._failures = 0
            self._unrecorded_ack = (seq, self.wall(), verdict.detail)
            await self._record_ack(*self._unrecorded_ack)
            failpoints.hit("outbox.after_ack")
        elif isinstance(verdict, Reject):
            self.errors += 1
            self._failures = 0
            self._quarantine(seq, payload, verdict.reason)
        else:
            self.errors += 1
            self._failures += 1
            self._note_attempt(seq, verdict.reason)
        return verdict

    async def _record_ack(self, seq: int, acked_at: str, detail: str) -> None:
        try:
            async with transaction(self.conn, commit_point="outbox.commit"):
                self.conn.execute(
                    "UPDATE batches SET state = 'acked', acked_at = ?, attempts = attempts + 1, "
                    "last_error = NULL, last_attempt_at = ?, ack_detail = ? "
                    "WHERE seq = ? AND state = 'pending'",
                    (acked_at, acked_at, detail or None, seq))
        except sqlite3.OperationalError:
            self.errors += 1
            self._failures += 1
            raise
        self._unrecorded_ack = None

    def _quarantine(self, seq: int, payload: str, reason: str) -> None:
        now = self.wall()
        # Must reach the disk before the next batch may go, else the poison batch would
        # be resent forever; a failure here propagates and `drain` backs off.
        with transaction(self.conn, commit_point="outbox.commit"):
            self.conn.execute(
                "UPDATE batches SET state = 'quarantined', attempts = attempts + 1, "
                "last_error = ?, last_attempt_at = ? WHERE seq = ?", (reason, now, seq))
            batch_id = self.conn.execute("SELECT batch_id FROM batches WHERE seq = ?", (seq,)).fetchone()[0]
            self.conn.execute(
                "INSERT INTO exceptions(created_at, kind, source, event_id, field, reason, raw) "
                "VALUES (?, 'dead_letter', 'upstream', ?, 'batch_id', ?, ?)",
                (now, batch_id, f"upstream rejected batch {batch_id}: {reason}", payload))

    def _note_attempt(self, seq: int, reason: str) -> None:
        try:
            with transaction(self.conn, commit_point="outbox.commit"):
                self.conn.execute(
                    "UPDATE batches SET attempts = attempts + 1, last_error = ?, last_attempt_at = ? "
                    "WHERE seq = ?", (reason, self.wall(), seq))
        except sqlite3.OperationalError as exc:
            # Bookkeeping only: the batch is still pending and will be sent again.
            log.warning("outbox: cannot record attempt on batch %s: %s", seq, exc)

    async def drain(self, stop: asyncio.Event | None = None,
                    wake: asyncio.Event | None = None, idle_poll: float = 0.5,
                    until_empty: bool = False) -> None:
        """Send until `stop` is set (or, with `until_empty`, until nothing is pending).

        Backs off after Retry or a failed state write; when idle waits for `wake` (set by
        the batcher) or `idle_poll` seconds.
        """
        while stop is None or not stop.is_set():
            try:
                verdict = await self.send_next()
            except sqlite3.OperationalError as exc:
                log.warning("outbox: cannot write batch state (%s); retrying later", exc)
                verdict = Retry(str(exc))
                self._failures = max(self._failures, 1)
            if verdict is None:
                if until_empty:
                    return
                await self._wait(stop, wake, idle_poll)
            elif isinstance(verdict, Retry):
                await self._wait(stop, None, self.backoff())

    async def _wait(self, stop: asyncio.Event | None, wake: asyncio.Event | None,
                    seconds: float) -> None:
        events = [e for e in (stop, wake) if e is not None]
        if not events:
            await self.sleep(seconds)
            return
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        try:
            await asyncio.wait([*waiters, sleeper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (*waiters, sleeper):
                t.cancel()
        if wake is not None:
            wake.clear()
