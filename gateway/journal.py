"""`Journal`: each event is applied exactly once, with its entry and projections, in one
SQLite transaction per micro-batch — or not at all.

Submissions are decoded (gateway.events), deduplicated by id (same id + same payload =
acknowledged no-op; same id + other payload = rejected as a conflict), valued by the
cost engine and written together. Anything rejected is kept verbatim in `exceptions`
and never stops the batch. If the commit fails (disk full, I/O error) nothing of the
batch is applied, the engine is rebuilt from the stored events, and the error is raised
so the caller stops acknowledging its inputs (back-pressure) and retries later.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import msgspec
import numpy as np

from costing.master import MasterData
from costing.outcome import MISMATCH

from gateway import failpoints, master_versions, projections, schema
from gateway.bounds import DEFAULT as DEFAULT_LIMITS
from gateway.alerts.book import moved_per_event
from gateway.bounds import MONEY_CEILING, Limits, check_event
from gateway.events import (
    EVENT_TYPES,
    Event,
    EventError,
    convert_event,
    payload_of,
    decode_event,
    encode_event,
)
from gateway import snapshots
from gateway.startup import StartupError
from gateway.projections import MoneyOverflow
from gateway.provenance import bind
from gateway.release_check import ReleaseCheck, reason_of
from gateway.spill import spill_files
from gateway.timestamps import TimestampError, check_window, parse_rfc3339

if TYPE_CHECKING:  # the cost engine (and numba under it) is imported where one is built:
    # a command that opens a journal without valuing anything (`gateway ingest` of a file
    # already in it) does not pay a fifth of a second for loading it
    from costing.engine import Engine
    from costing.posted import Posted


def _month_start(ts: str) -> datetime:
    return parse_rfc3339(ts).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class Submission:
    raw: bytes | str | dict | Event  # JSON text, a parsed mapping, or a decoded event
    source: str = "manual"           # device id, 'manual', 'erp', 'events.jsonl:12'
    reading: dict | str | None = None  # the device reading that caused it (traceability),
    #                                    or its JSON text (reading_text)
    # `raw` decoded ahead (predecode), e.g. on the gateway's event loop while the writer
    # thread commits the previous batch: the event and its canonical bytes.
    event: Event | None = None
    canon: bytes | None = None
    # the open exception this submission re-tries (exception id, resolution if it posts):
    # posted, it resolves that exception; held again, it updates that one's reason
    retries: tuple[int, str] | None = None


@dataclass(slots=True)
class SideEffects:
    """Written in the same transaction as a micro-batch of events."""

    exceptions: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    #            (kind, source, reason, raw)
    counters: list[tuple[str, str, int, int]] = field(default_factory=list)
    #            (device, node, epoch, value)
    resolutions: list[tuple[int, str, str, str]] = field(default_factory=list)
    #            (exception id, status resolved|dismissed, resolution, user)
    reconnected: list[str] = field(default_factory=list)  # devices whose faults are over
    packets: list[tuple[str, int, str, str, str]] = field(default_factory=list)
    #            MQTT (client, packet id, digest, event id, ts) of id-less readings
    packets_freed: list[tuple[str, int]] = field(default_factory=list)  # PUBACKs sent


@dataclass(frozen=True, slots=True)
class Result:
    status: str                      # applied | duplicate | rejected
    event_id: str | None = None
    seq: int | None = None
    field: str | None = None
    reason: str | None = None
    held: str | None = None  # rejected but kept to act on: the exception's kind (no_po,
    #                          invoice_mismatch, ...), None for a plain rejection

    @property
    def status_word(self) -> str:
        """applied | duplicate | held | rejected: what a person reading a summary needs."""
        return "held" if self.held else self.status

    @property
    def accepted(self) -> bool:
        """Safe to acknowledge upstream: applied now or already applied before."""
        return self.status in ("applied", "duplicate")


class JournalFull(RuntimeError):
    """The database cannot be written (disk full): stop acknowledging inputs."""


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connect(path: str, synchronous: str = "FULL", readonly: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with the configured durability."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'NORMAL' if synchronous.upper() == 'NORMAL' else 'FULL'}")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _check_ts(event: Event) -> None:
    try:
        parse_rfc3339(event.ts)
    except TimestampError as exc:
        raise EventError(str(exc), "ts") from None


# Failures an event's own data can cause while its batch is written: the batch is then
# retried one event at a time so only the culprit is rejected. Anything else (disk,
# a failpoint, a bug) still stops the batch and is raised.
_DATA_ERRORS = (MoneyOverflow, OverflowError, ValueError, TypeError, RecursionError,
                sqlite3.IntegrityError, sqlite3.InterfaceError)


# JSON for what the journal stores beside an event (the reading): msgspec writes it in
# C, ~10x faster than json.dumps; anything it cannot encode is written as its str().
_json_encode = msgspec.json.Encoder(enc_hook=str).encode
_json_plain = msgspec.json.Encoder().encode


def _too_big(size: int, limits: Limits) -> EventError:
    return EventError(f"payload: {size} bytes, at most {limits.max_payload_bytes} allowed"
                      " (max_payload_bytes)", "payload")


def _decode(raw: bytes | str | dict | Event, limits: Limits = DEFAULT_LIMITS) -> Event:
    event = _decode_shape(raw, limits)
    _check_ts(event)
    return event


def _decode_shape(raw: bytes | str | dict | Event, limits: Limits) -> Event:
    """The event `raw` holds, its types and signs checked; ts, window and bounds not."""
    if isinstance(raw, (bytes, str)):
        if len(raw) > limits.max_payload_bytes:  # str: at least one byte per character
            raise _too_big(len(raw), limits)
        event = decode_event(raw)
    elif isinstance(raw, dict):
        # A mapping (an MQTT payload, a mapped reading) is written as JSON and decoded
        # by the typed decoder: the same checks and messages as msgspec.convert, which
        # costs ~17 µs per event against ~3 µs for encode + decode.
        try:
            text = _json_plain(raw)
        except RecursionError:
            raise EventError("payload: nested too deeply", "payload") from None
        except (TypeError, ValueError, OverflowError):
            event = convert_event(raw)  # something JSON cannot carry: let convert judge
        else:
            if len(text) > limits.max_payload_bytes:
                raise _too_big(len(text), limits)
            event = decode_event(text)
    else:
        event = raw
    return event


def _raw_text(raw: Any, keep: int = DEFAULT_LIMITS.exception_raw_bytes) -> str:
    """The raw frame as kept in exceptions: verbatim up to `keep` bytes, beyond that its
    first `keep` bytes plus its full length and sha256 (the exceptions table is not an
    unbounded sink for whatever a producer sends)."""
    if isinstance(raw, str):
        data = raw.encode("utf-8", "replace")
    elif isinstance(raw, bytes):
        data = raw
    elif isinstance(raw, dict):
        try:
            data = json.dumps(raw, ensure_ascii=False, default=str).encode("utf-8", "replace")
        except (RecursionError, ValueError):
            data = repr(raw)[:keep].encode("utf-8", "replace")
    else:
        data = encode_event(raw)
    if len(data) <= keep:
        return data.decode("utf-8", "replace")
    head = data[:keep].decode("utf-8", "ignore")
    return (f"{head}\n[truncated: {len(data)} bytes in all, sha256 "
            f"{hashlib.sha256(data).hexdigest()}]")


_TAG = {cls: tag for tag, cls in EVENT_TYPES.items()}
_RECEIPT = EVENT_TYPES["receipt"]
_TRACKED = (EVENT_TYPES["wo_release"], EVENT_TYPES["wo_start"], EVENT_TYPES["wo_close"])
# Amounts are int minor units; a numpy integer from a kernel binds as the int it is.
for _np_int in (np.int64, np.int32):
    sqlite3.register_adapter(_np_int, int)


class _NoPosts:
    """What a batch without a new event posted: nothing (stands in for a `Posted`)."""

    line0, line_end = 0, ()

    @staticmethod
    def line_counts() -> np.ndarray:
        return np.zeros(0, np.int64)

    @staticmethod
    def line_block() -> np.ndarray:
        return np.zeros((6, 0), np.int64)

    @staticmethod
    def moves() -> tuple[list, list, list]:
        return [], [], []


_NOTHING = _NoPosts()


def reading_text(reading: dict | str | None) -> str | None:
    """The JSON text stored as an event's reading."""
    if reading is None or isinstance(reading, str):
        return reading
    return _json_encode(reading).decode()


def predecode(raw: bytes | str | dict | Event, source: str
              ) -> tuple[Event | None, bytes | None]:
    """(event, canonical bytes) for Submission.event/.canon of a submission from
    `source`, or (None, None) when `raw` is not a valid event — `submit` then decodes it
    again and keeps the rejection. The event is bound to `source` (`bind`) as `submit`
    would bind it, so `submit` keeps these bytes instead of encoding it again."""
    try:
        event = _decode(raw)
    except EventError:
        return None, None
    event = bind(event, source)
    return event, encode_event(event)


def _approved_from(stored: bytes, canon: bytes) -> bool:
    """Is `canon` the line a stored invoice line was approved from: the same payload, and
    no `approved_by` of its own? Sent again (a file ingested twice), it is a duplicate."""
    if b'"approved_by"' not in stored:
        return False
    try:
        approved, line = json.loads(stored), json.loads(canon)
    except ValueError:
        return False
    return (approved.pop("approved_by", None) is not None
            and line.pop("approved_by", None) is None and approved == line)


class _Held(EventError):
    """Not booked yet: kept as an exception of `kind` that a supervisor resolves."""

    def __init__(self, kind: str, field: str, reason: str):
        super().__init__(reason, field)
        self.kind = kind


class JournalBusy(RuntimeError):
    """Another process is writing this journal."""


class JournalDiverged(StartupError):
    """The stored events, valued again against the master data they were committed
    with, do not give what is stored: the journal is not started on it."""


def _writer_lock(path: str):
    """One writer per journal: the engine's in-memory state is only right if every event
    passes through it, so a second writing process (say `gateway ingest` beside a running
    `gateway run`) is refused instead of silently valuing on stale state."""
    fh = open(path + ".writer", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise JournalBusy(f"{path} is being written by {holder}; stop it first, or send the "
                          "events to the running gateway (its MQTT events topic)") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}")
    fh.flush()
    return fh


class Journal:
    """The append-only event journal and its projections over one SQLite file."""

    def __init__(self, path: str, master: MasterData, *, synchronous: str = "FULL",
                 rebuild: bool = True, lazy: bool = False, spill_block: int = 1 << 16,
                 limits: Limits = DEFAULT_LIMITS, unknown_po: str = "hold",
                 release_check: str = "off",
                 alerts: Any = None, snapshot: bool = False, snapshot_every: int = 0):
        """`alerts`: an AlertBook (gateway.alerts) judging each applied event in the
        batch's transaction, or None. `rebuild`: bring the engine to the state of the stored events (False: start
        from an empty engine, for a scratch journal). `lazy`: do that on the engine's
        first use rather than now — a run of nothing but duplicates (a file ingested
        again) never needs it. `snapshot`: write a snapshot of the engine
        (gateway.snapshots) at `close` and rebuild from the last good one;
        `snapshot_every` > 0: also after that many new events (implies `snapshot`)."""
        self.path = str(path)
        self.master = master
        self.limits = limits
        self.alerts = alerts
        self._po_lines = ({(p.po, p.sku) for p in master.purchase_orders}
                          if unknown_po == "hold" else None)
        self._held: dict[int, str] = {}  # submission -> the draft kept for a supervisor
        self._received: dict[tuple[str, str], str] = {}  # (po, item) -> receipt id, committed
        self.release_check = release_check  # gateway.release_check: warn | refuse | off
        self._release_check: ReleaseCheck | None = None
        self._short: dict[int, str] = {}  # submission -> why its release is short (warn)
        self._floor: datetime | None = None  # earliest ts, once the journal has events
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._lock = _writer_lock(self.path)
        self.conn = connect(self.path, synchronous)
        try:
            self._open_versions(master)
        except BaseException:
            self.conn.close()
            self._lock.close()
            raise
        # the engine's old rows (kept for reversals) go to a spill file beside the journal
        self._blocks = spill_files(os.path.dirname(os.path.abspath(self.path)))
        self._spill_block = spill_block
        self._engine: Engine | None = None
        # True while the engine in memory may be ahead of the disk (a batch failed and
        # its rebuild could not finish, say on a full disk): rebuilt before the next batch
        self._stale = False
        self._seq_marks: dict[str, dict[str, int]] = {}  # order -> release/close seq, this tx
        self.snapshot_every = snapshot_every
        self.snapshot = snapshot or snapshot_every > 0
        self.snapshot_path = snapshots.snapshot_path(self.path)
        self.snapshot_seq = 0  # the seq the engine was restored from (0: a full replay)
        self._unsnapped = 0  # events applied since the last snapshot (or the replay's)
        self._forget_names()  # the journal's `names` ids of the engine's names (_name_ids)
        self._episodes: dict[tuple[str, str], int] | None = None  # open notice episodes
        # (last seq, last entry) as of the last commit: only this writer adds events and
        # entries, so they are read once (None: read them again, after a rollback)
        self._last_ids: tuple[int, int] | None = None
        try:
            if not rebuild:  # a scratch journal: an empty engine over the last version
                self._in_force(self._new_engine(self._masters.get(self._masters.versions[-1]),
                                                self._blocks))
                self._adopt()
            elif not lazy:
                self._rebuild()
            if rebuild:
                self._received = self._receipts_of_held()
                if not lazy:
                    self._retry_held_invoices()
        except BaseException:
            self.conn.close()
            self._lock.close()
            raise

    def _receipts_of_held(self) -> dict[tuple[str, str], str]:
        """(po, item) -> latest receipt, for the invoice lines still held for their
        quantity: a gateway stopped between a receipt's commit and the retry it owed
        tries them again when it opens the journal (lazily: with its first batch); a
        retry that still does not match only brings the reason up to date."""
        held: set[tuple[str, str]] = set()
        for (raw,) in self.conn.execute(
                "SELECT raw FROM exceptions WHERE status='open' AND kind=? AND field='qty'",
                (MISMATCH,)).fetchall():
            try:
                draft = json.loads(raw)["draft"]
                held.add((draft["po"], draft["item"]))
            except (ValueError, TypeError, KeyError):
                continue
        out: dict[tuple[str, str], str] = {}
        if held:  # one pass over the receipts, the latest per PO line kept
            for po, item, eid in self.conn.execute(
                    "SELECT json_extract(payload, '$.po'), json_extract(payload, '$.item'), id"
                    " FROM events WHERE type='receipt' ORDER BY seq"):
                if (po, item) in held:
                    out[(po, item)] = eid
        return out

    def _open_versions(self, master: MasterData) -> None:
        """The schema, and the versions of master data: the first open records the
        master data it was given as version 1; a later one keeps what it was given in
        `_loaded`, recorded as a version once the engine is rebuilt (`_adopt`)."""
        schema.create(self.conn)
        self._masters = master_versions.Masters(self.conn)
        self._loaded: MasterData | None = master
        if not self._masters.versions:
            master_versions.record(self.conn, master, None, now_utc())
            self._masters.refresh()
            self._loaded = None

    def _adopt(self) -> None:
        """Record the master data this journal was opened with as the version in force
        from the next event, if its content is new, and switch the engine to it."""
        from costing.remaster import MasterSwitchError, check_switch, switch_master

        loaded, self._loaded = self._loaded, None
        engine = self._engine
        if loaded is None or engine is None:
            return
        aligned = master_versions.align(loaded, engine.master)
        last = self._masters.versions[-1]
        if master_versions.digest(aligned) != last.sha256:
            try:
                check_switch(engine, aligned)
            except MasterSwitchError as exc:
                raise StartupError(
                    f"master data: {exc}; the journal's events up to seq"
                    f" {self._last_seq()} were valued with it: put the row back") from None
            master_versions.record(self.conn, aligned, engine.master, now_utc(), loaded)
            self._masters.refresh()
            engine = switch_master(engine, aligned)
        self._in_force(engine)

    def _in_force(self, engine: Engine) -> None:
        """`engine` values what comes next; its master data is the version in force."""
        self._engine = engine
        if self.master is not engine.master and self.alerts is not None:
            self.alerts.use_master(engine.master)
        self.master = engine.master

    def use_master(self, master: MasterData) -> None:
        """Value the events submitted from now on against `master` (recorded as a
        version if new): how a replay follows the versions of the journal it replays."""
        self._loaded = master
        self._adopt()

    def _last_seq(self) -> int:
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]

    @property
    def engine(self) -> Engine:
        """The cost engine, at the state the stored events imply."""
        if self._engine is None:
            self._rebuild()
        return self._engine  # type: ignore[return-value]

    # -- reading back -------------------------------------------------------------

    def _rebuild(self) -> None:
        """Bring the in-memory engine to the state the stored events imply (the engine's
        batch path: no per-event objects on the way), each event valued against the
        version of the master data it was committed with. A new engine is built and
        swapped in only when whole: if the replay fails (its spill file on a full disk),
        the error is raised and the engine in use is not a half-built one. A rebuild that
        does not give what is stored raises JournalDiverged naming the event."""
        from gateway.replay import replay_versions

        self._masters.refresh()
        try:
            engine, after = self._from_snapshot()
            lines, mark = engine.ledger.n_lines, engine.mark()
            before = engine.ledger.balance.copy()
            engine, replayed = replay_versions(self.conn, engine, self._masters, after=after)
        except master_versions.VersionError as exc:
            raise self._diverged(exc.seq, str(exc)) from None
        self._check_rebuilt(engine, after, lines, mark, before)
        self._in_force(engine)
        self.snapshot_seq, self._unsnapped = after, replayed
        if self._loaded is not None:
            self._adopt()

    def _diverged(self, seq: int, why: str) -> JournalDiverged:
        row = self.conn.execute("SELECT seq, id FROM events WHERE seq >= ? ORDER BY seq"
                                " LIMIT 1", (seq,)).fetchone()
        seq, event_id = row if row is not None else (seq, None)
        return JournalDiverged(
            f"journal {self.path}: stored event {event_id!r} (seq {seq}) does not rebuild"
            f" as stored: {why}; restore the journal from a backup, or run `gateway replay`"
            " for every difference")

    def _check_rebuilt(self, engine: Engine, after: int, lines: int, mark: int,
                       before: np.ndarray) -> None:
        """Every stored event past `after` applied, and the GL lines they posted again
        (from line `lines`, record `mark`, the balances `before`) sum per account and
        count as their stored ones (the lines themselves compared only when they do not,
        to name the event). Lines before a snapshot are not read: `gateway replay`
        compares every line."""
        stored = self.conn.execute("SELECT seq, id FROM events WHERE seq > ? ORDER BY seq",
                                   (after,))
        while rows := stored.fetchmany(10000):  # ids checked a chunk at a time
            applied = engine.records.contains_many([event_id for _, event_id in rows])
            for (seq, event_id), ok in zip(rows, applied):
                if not ok:
                    raise self._diverged(seq, f"it no longer applies ({self._why_not(seq)})")
        # the lines of the events valued again (after the snapshot, if one was used):
        # one pass of SQLite over them, compared line by line only on a mismatch
        ledger = engine.ledger
        first = self.conn.execute(
            "SELECT min(line) FROM journal_lines WHERE entry = (SELECT min(entry)"
            " FROM entries WHERE event_seq > ?)", (after,)).fetchone()[0]
        kept = {} if first is None else {
            account: (total, n) for account, total, n in self.conn.execute(
                "SELECT account, sum(debit) - sum(credit), count(*) FROM journal_lines"
                " WHERE line >= ? GROUP BY account", (first,))}
        moved = ledger.balance - before
        rebuilt = {code: int(moved[k]) for k, code in enumerate(ledger.codes) if moved[k]}
        if ({a: t for a, (t, _) in kept.items() if t} == rebuilt
                and sum(n for _, n in kept.values()) == ledger.n_lines - lines):
            return
        seq, why = self._first_difference(engine, mark, first or 0)
        raise self._diverged(seq, why)

    def _first_difference(self, engine: Engine, mark: int, first_line: int
                          ) -> tuple[int, str]:
        """The seq of the first event whose rebuilt lines are not its stored ones, and how."""
        cur = self.conn.execute(
            "SELECT e.event_seq, e.event_id, l.account, l.debit, l.credit, l.item,"
            " l.work_order, l.work_center, l.memo FROM journal_lines l JOIN entries e"
            " ON e.entry = l.entry WHERE l.line >= ? ORDER BY l.line", (first_line,))
        stored: dict[str, tuple[int, list[tuple]]] = {}
        for seq, event_id, *line in cur:
            stored.setdefault(event_id, (seq, []))[1].append(tuple(line))
        for event_id, rebuilt in engine.entries_since(mark):
            seq, lines = stored.pop(event_id, (None, []))
            rebuilt = [tuple(line) for line in rebuilt]
            if lines != rebuilt:
                if seq is None:
                    seq = self.conn.execute("SELECT seq FROM events WHERE id=?",
                                            (event_id,)).fetchone()[0]
                gone = [x for x in lines if x not in rebuilt][:1]
                new = [x for x in rebuilt if x not in lines][:1]
                return seq, (f"its stored lines are not the rebuilt ones (stored"
                             f" {gone or 'none'}, rebuilt {new or 'none'})")
        if stored:
            event_id, (seq, lines) = next(iter(stored.items()))
            return seq, f"it has stored lines the rebuild does not post ({lines[0]})"
        return 0, "the stored lines do not sum to the rebuilt ones"

    def _why_not(self, seq: int) -> str:
        """Why the stored event at `seq` is refused by the engine the events before it
        give (a rebuild of them, apart from the journal's own engine)."""
        from costing.arrays import MemoryBlocks
        from gateway.replay import replay_versions

        masters = self._masters
        engine = self._new_engine(masters.first(), MemoryBlocks)
        engine, _ = replay_versions(self.conn, engine, masters, until=seq - 1)
        version = masters.at(seq)
        if version is not None:
            engine = masters.switch(engine, version)
        payload = self.conn.execute("SELECT payload FROM events WHERE seq=?",
                                    (seq,)).fetchone()[0]
        out = engine.apply_one(decode_event(payload))
        return out.reason or "refused"

    def _from_snapshot(self) -> tuple[Engine, int]:
        """The engine of the last good snapshot and its seq, else an empty one over the
        first version of the master data and 0."""
        if self.snapshot:
            try:
                return snapshots.load(self.snapshot_path, self.conn, self._masters_after,
                                      self._spill_block, self._blocks)
            except snapshots.SnapshotRefused as exc:
                if os.path.exists(self.snapshot_path):
                    print(f"journal: {exc}; replaying the whole journal", file=sys.stderr)
        return self._new_engine(self._masters.first(), self._blocks), 0

    def _new_engine(self, master: MasterData, blocks) -> Engine:
        """An empty engine over `master`; the one place the engine's module is loaded."""
        from costing.engine import Engine

        return Engine(master, self._spill_block, blocks)

    def _masters_after(self, seq: int) -> dict[str, MasterData]:
        """The master data an engine may be over right after the event at `seq`, by
        digest (what a snapshot there may have been taken with)."""
        out = {}
        for version in master_versions.current_after(self._masters.versions, seq):
            try:
                out[version.sha256] = self._masters.get(version)
            except master_versions.VersionError:
                pass  # the full replay names it
        return out

    def write_snapshot(self) -> int | None:
        """Snapshot the engine after the last stored event; its seq (None: not written,
        the engine being stale or the disk refusing, which is said and not raised)."""
        if self._engine is None or self._stale:
            return None
        seq = self.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        try:
            failpoints.hit("snapshot.write")
            snapshots.write(self.snapshot_path, self._engine,
                            snapshots.journal_mark(self.conn, seq), self._engine.master,
                            self._spill_block)
        except OSError as exc:
            print(f"journal: snapshot not written ({exc}); the last one stays",
                  file=sys.stderr)
            return None
        self.snapshot_seq, self._unsnapped = seq, 0
        return seq

    def close(self) -> None:
        if self.snapshot and self._unsnapped and self.conn.in_transaction is False:
            self.write_snapshot()
        self.conn.close()
        self._lock.close()  # releases the writer lock

    # -- writing --------------------------------------------------------------------

    def submit(self, subs: Sequence[Submission], *, side: "SideEffects | None" = None
               ) -> list[Result]:
        """Apply a micro-batch in one transaction; one Result per submission, in order.

        `side` carries what must commit atomically with the events: device exceptions
        and OPC-UA counter positions (a counter position stored apart from the events it
        produced could, after a crash, count the same production twice).
        """
        if self._stale:  # the last batch failed and left the engine ahead of the disk
            self._recover()
        try:
            results = self._submit(subs, side)
        except _DATA_ERRORS as exc:
            self._abort()
            if len(subs) == 1:
                return [self._reject_alone(subs[0], exc, side)]
        else:
            self._retry_held_invoices()
            return results
        # One event's data broke the batch: apply the others, reject only that one.
        results = []
        for n, sub in enumerate(subs):
            results.extend(self.submit([sub], side=side if n == len(subs) - 1 else None))
        return results

    def _retry_held_invoices(self) -> None:
        """Invoice lines held for their quantity, tried again once a receipt on their PO
        and item has committed (in a transaction of its own, right after the receipt's):
        one that matches now posts as the event it is, journaled after the receipt so a
        replay books it the same way, and its exception is resolved naming the receipt;
        one that still does not stays held, its reason brought up to date."""
        received, self._received = self._received, {}
        if not received:
            return
        failpoints.hit("journal.before_retry")
        retries = []
        for exc_id, source, raw in self.conn.execute(
                "SELECT id, source, raw FROM exceptions WHERE status='open' AND kind=?"
                " AND field='qty' ORDER BY id", (MISMATCH,)).fetchall():
            try:
                draft = json.loads(raw)["draft"]
            except (ValueError, TypeError, KeyError):
                continue
            receipt = received.get((draft.get("po"), draft.get("item")))
            if receipt is not None:
                retries.append(Submission(draft, source=source, retries=(
                    exc_id, f"matched once receipt {receipt} was received")))
        if retries:
            self.submit(retries)

    def _reject_alone(self, sub: Submission, exc: BaseException, side) -> Result:
        event = sub.event
        if event is None:
            try:
                event = _decode_shape(sub.raw, self.limits)
            except EventError:
                pass
        eid = event.id if event is not None else None
        field = "amount" if isinstance(exc, (MoneyOverflow, OverflowError)) else None
        reason = f"cannot be booked: {exc}"[:500]
        self.conn.execute("BEGIN IMMEDIATE")
        self._exception(now_utc(), "rejected", sub.source, eid, field, reason,
                        self._kept(sub.raw))
        if side is not None:
            self._write_side(now_utc(), side)
        self.conn.execute("COMMIT")
        return Result("rejected", eid, None, field, reason)

    def _kept(self, raw: Any) -> str:
        return _raw_text(raw, self.limits.exception_raw_bytes)

    def _not_before(self, first_ts: str | None = None) -> datetime:
        """The earliest ts accepted: the configured floor, or the start of the month of
        the journal's first event (`first_ts` when the journal is still empty) when that
        is later — nothing books before the period the journal was opened in. Once the
        journal has a first event the floor never changes: it is read once, then kept."""
        if self._floor is not None:
            return self._floor
        floor = parse_rfc3339(self.limits.not_before)
        row = self.conn.execute("SELECT ts FROM events ORDER BY seq LIMIT 1").fetchone()
        if row is not None:
            self._floor = max(floor, _month_start(row[0]))
            return self._floor
        return floor if first_ts is None else max(floor, _month_start(first_ts))

    def _vet(self, event: Event, now: datetime, floor: datetime, ahead: timedelta) -> None:
        """Window and bounds: what decoding alone cannot know."""
        try:
            check_window(event.ts, now, floor, ahead)
        except TimestampError as exc:
            raise EventError(str(exc), "ts") from None
        check_event(event, self.limits, self.master.currency_decimals)
        po = getattr(event, "po", None)
        if (self._po_lines is not None and po is not None and event.type == "receipt"
                and (po, event.item) not in self._po_lines):
            raise _Held("no_po", "po", f"po: {po!r} has no line for {event.item!r} in master"
                        " data; held for a supervisor to confirm the PO")

    def _submit(self, subs: Sequence[Submission], side) -> list[Result]:
        results: list[Result | None] = [None] * len(subs)
        rejected: list[tuple[int, str | None, str | None, str, str]] = []  # i, id, field, reason, kind
        decoded: list[tuple[int, Event, bytes]] = []
        now, floor = datetime.now(timezone.utc), self._not_before()
        ahead = timedelta(seconds=self.limits.max_ahead_seconds)
        self._held.clear()
        self._short.clear()
        if self._release_check is not None:
            self._release_check.batch_need.clear()
        opening = self._floor is None  # an empty journal: its first event opens the period
        for i, sub in enumerate(subs):
            event = None
            try:
                event = sub.event if sub.event is not None else _decode_shape(sub.raw,
                                                                              self.limits)
                bound = bind(event, sub.source)
                canon = (sub.canon if bound is event and sub.canon is not None
                         else encode_event(bound))
                event = bound
                self._vet(event, now, floor, ahead)
                if opening:  # the first event of an empty journal opens its period
                    opening, floor = False, self._not_before(event.ts)
            except EventError as exc:
                eid = event.id if event is not None else (
                    sub.raw.get("id") if isinstance(sub.raw, dict) else None)
                kind = getattr(exc, "kind", "rejected")
                if kind != "rejected":
                    self._held[i] = json.dumps({"reason": exc.reason,
                                                "draft": payload_of(event)})
                rejected.append((i, eid if isinstance(eid, str) else None, exc.field,
                                 exc.reason, kind))
                continue
            decoded.append((i, event, canon))

        # Idempotency against the journal and within this batch.
        known = self.stored_payloads([e.id for _, e, _ in decoded])
        in_batch: dict[str, int] = {}  # id -> index in `fresh` of its first copy here
        echoes: list[tuple[int, int]] = []  # (submission, first copy) within this batch
        fresh: list[tuple[int, Event, bytes]] = []
        refused: dict[str, str] = {}  # release id -> why it was held, this batch
        for i, event, canon in decoded:
            if event.id in refused:  # a copy of a held release shares its fate
                results[i] = Result("rejected", event.id, None, "work_order",
                                    refused[event.id])
                continue
            first = in_batch.get(event.id)
            before = known.get(event.id) if first is None else fresh[first][2]
            if before is None:
                if event.type == "wo_release" and self.release_check != "off":
                    reason = self._check_release(event)
                    if reason is not None and self.release_check == "refuse":
                        self._held[i] = json.dumps({"reason": reason,
                                                    "draft": payload_of(event)})
                        rejected.append((i, event.id, "work_order", reason,
                                         "short_components"))
                        refused[event.id] = reason
                        continue
                    if reason is not None:
                        self._short[i] = reason
                in_batch[event.id] = len(fresh)
                fresh.append((i, event, canon))
            elif before != canon and not _approved_from(before, canon):
                rejected.append((i, event.id, "id", f"id: event {event.id!r} was already "
                                 "journaled with a different payload", "conflict"))
            elif first is None:
                results[i] = Result("duplicate", event.id)
            else:
                echoes.append((i, first))

        try:
            posted = (self.engine.post_many([e for _, e, _ in fresh]) if fresh
                      else None)
        except OSError as exc:  # the engine's spill file could not be written
            self._abort()
            if exc.errno == errno.ENOSPC:
                raise JournalFull(str(exc)) from exc
            raise
        # A copy within the batch shares its first copy's fate: applied or rejected.
        for i, first in echoes:
            out = posted.refusal(first)
            eid = fresh[first][1].id
            results[i] = (Result("duplicate", eid) if out is None else
                          Result("rejected", eid, None, out.field, out.reason))
        try:
            self._write(subs, fresh, posted, rejected, results, side)
        except sqlite3.OperationalError as exc:
            self._abort()
            if "full" in str(exc).lower():
                raise JournalFull(str(exc)) from exc
            raise
        except _DATA_ERRORS:
            raise  # submit() rolls back and isolates the culprit
        except BaseException:
            self._abort()
            raise
        failpoints.hit("journal.after_commit")
        if self.snapshot:
            self._unsnapped += sum(r is not None and r.status == "applied" for r in results)
            if 0 < self.snapshot_every <= self._unsnapped:
                self.write_snapshot()
        return results  # type: ignore[return-value]

    def _check_release(self, event: Event) -> str | None:
        """Why this release is short of components (gateway.release_check), or None."""
        if self._release_check is None:
            self._release_check = ReleaseCheck(self.engine.plant)
        check, qty = self._release_check, float(event.qty)
        short = check.shortages(self.conn, event.work_order, event.item, event.line, qty)
        if not short or self.release_check != "refuse":
            check.reserve(event.item, event.line, qty)
        return reason_of(event.work_order, short) if short else None

    def _abort(self) -> None:
        """Undo a failed batch: roll back, then rebuild the engine, which advanced in
        memory while the disk did not. Should the rebuild fail too, the engine is marked
        stale and rebuilt before the next batch; the batch's own error is what is raised."""
        self._seq_marks.clear()
        self._episodes = None  # episodes it opened are rolled back: read them again
        self._last_ids = None
        self._held.clear()
        self._short.clear()
        self._forget_names()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self._stale = True
        try:
            self._recover()
        except (OSError, sqlite3.Error) as exc:
            print(f"journal: engine rebuild after a failed batch failed too ({exc});"
                  " retried before the next batch", file=sys.stderr)

    def _recover(self) -> None:
        """Rebuild a stale engine; raises JournalFull while the disk stays full."""
        try:
            self._rebuild()
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise JournalFull(str(exc)) from exc
            raise
        self._stale = False

    def stored_payloads(self, ids: list[str]) -> dict[str, bytes]:
        """Canonical payload of each of `ids` already journaled (absent ids left out)."""
        found: dict[str, bytes] = {}
        for start in range(0, len(ids), 5000):  # well under SQLite's limit of parameters
            part = ids[start:start + 5000]
            # the stored text as UTF-8 bytes straight from SQLite: no encode() per row
            q = ("SELECT id, CAST(payload AS BLOB) FROM events WHERE id IN"
                 f" ({','.join('?' * len(part))})")
            found.update(self.conn.execute(q, part))
        return found

    def stored_run(self, first_id: str, n: int) -> bytes | None:
        """Canonical payloads of the `n` events journaled from the one with `first_id` on,
        in journal order, joined by newlines (which no canonical payload holds) as one
        UTF-8 text: fewer at the journal's end, None if `first_id` is not stored. The
        order is that of the subquery, as group_concat takes its rows in practice; were
        it ever another, the run would just not compare equal to a file's lines."""
        return self.conn.execute(
            "SELECT CAST(group_concat(payload, char(10)) AS BLOB) FROM (SELECT payload"
            " FROM events WHERE seq >= (SELECT seq FROM events WHERE id = ?)"
            " ORDER BY seq LIMIT ?)", (first_id, n)).fetchone()[0]

    def _write(self, subs, fresh, posted: Posted, rejected, results, side) -> None:
        conn = self.conn
        stamp = now_utc()
        conn.execute("BEGIN IMMEDIATE")
        book = self.alerts
        if book is not None:
            book.begin(conn)
        if self._last_ids is None:
            self._last_ids = (
                conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0],
                conn.execute("SELECT COALESCE(MAX(entry), 0) FROM entries").fetchone()[0])
        seq, entry = self._last_ids
        # Rows are collected in event order and written with one prepared statement per
        # table: the same rows and the same ids as one INSERT per row, fewer round trips.
        # The lines come from the engine's columns as one block (no object per line).
        event_rows: list[tuple] = []
        entry_rows: list[tuple] = []
        alert_rows: list[tuple] = []
        episode_rows: list[tuple] = []   # the engine's stock and rounding notices
        received: dict[tuple[str, str], str] = {}
        resolved: list[tuple[int, str, str, str]] = []
        touched_orders: set[str] = set()
        touched_items: set[str] = set()
        judged: list[Event] = []  # applied events, for the alert book
        judged_at: list[int] = []  # their positions in the batch
        if posted is None:  # nothing new: no engine needed (a file ingested again)
            fresh, posted = [], _NOTHING
        engine = self._engine if posted is _NOTHING else self.engine
        keys = engine.inv.row_keys if engine is not None else []
        counts = posted.line_counts()
        block = posted.line_block()
        n_lines = counts.tolist()
        moves = posted.moves()
        moved = moved_per_event(moves, keys) if book is not None else {}
        line_end, line0 = posted.line_end, posted.line0
        ledger = engine.ledger if engine is not None else None
        for k, ((i, event, canon), n) in enumerate(zip(fresh, n_lines)):
            sub = subs[i]
            eid = event.id
            refusal = posted.refusal(k)
            if refusal is not None:
                if refusal.hold is not None:  # e.g. invoice_mismatch: kept to act on later
                    self._held[i] = json.dumps({"reason": refusal.reason,
                                                "draft": payload_of(event)})
                rejected.append((i, eid, refusal.field, refusal.reason or "rejected",
                                 refusal.hold or "rejected"))
                continue
            seq += 1
            ts, cls = event.ts, type(event)
            event_rows.append(
                (seq, eid, _TAG[cls], ts, sub.source, canon.decode(), stamp,
                 reading_text(sub.reading)))
            if n:
                entry += 1  # what the INTEGER PRIMARY KEY would assign: max + 1
                period = ts[:7]
                entry_rows.append((entry, seq, eid, ts, period))
            for alert in posted.alerts(k):
                episode_rows.append((stamp, alert.kind.replace(" ", "_"), sub.source, eid,
                                     alert.message))
            if i in self._short:
                alert_rows.append((stamp, "short_components", sub.source, eid,
                                   "work_order", self._short[i], None))
            if cls in _TRACKED:
                projections.track(conn, seq, event, self._seq_marks)
            if cls is _RECEIPT and event.po is not None:
                received[(event.po, event.item)] = eid
            if sub.retries is not None:
                resolved.append((sub.retries[0], "resolved", sub.retries[1], "gateway"))
            order = getattr(event, "work_order", None)
            if order:
                touched_orders.add(order)
            if book is not None:
                judged.append(event)
                judged_at.append(k)
            results[i] = Result("applied", eid, seq)
        if judged:  # the whole batch at once; lines and moves by position in `judged`
            book.judge_batch(
                judged, {j: moved[k] for j, k in enumerate(judged_at) if k in moved},
                lambda j: ledger.amounts(line_end[judged_at[j] - 1] if judged_at[j] else line0,
                                         line_end[judged_at[j]]))
        line_rows = self._line_rows(block, counts, entry_rows, fresh)
        if engine is not None:
            touched_items, touched_orders = projections.touched(engine, touched_orders,
                                                                block, moves[1])
        # A statement with no rows is not run: each costs a few µs even empty.
        if event_rows:
            conn.executemany(
                "INSERT INTO events(seq, id, type, ts, source, payload, received_at, reading)"
                " VALUES (?,?,?,?,?,?,?,?)", event_rows)
        if entry_rows:
            conn.executemany(
                "INSERT INTO entries(entry, event_seq, event_id, ts, period)"
                " VALUES (?,?,?,?,?)", entry_rows)
            conn.executemany(
                "INSERT INTO journal_line_ids(entry, account, debit, credit, work_order,"
                " item, work_center, memo) VALUES (?,?,?,?,?,?,?,?)",
                line_rows)
        self._stock_episodes(episode_rows)
        if alert_rows:
            conn.executemany(
                "INSERT INTO exceptions(created_at, kind, source, event_id, field, reason,"
                " raw) VALUES (?,?,?,?,?,?,?)", alert_rows)
        for i, eid, field, reason, kind in rejected:
            draft = self._held.pop(i, None)
            raw = draft or self._kept(subs[i].raw)
            if subs[i].retries is not None and draft:  # still held: the same exception
                conn.execute("UPDATE exceptions SET field=?, reason=?, raw=? WHERE id=?",
                             (field, reason, raw, subs[i].retries[0]))
                results[i] = Result("rejected", eid, None, field, reason, kind)
                continue
            # A redelivered bad message is one problem for the supervisor, not two.
            if not self._open_exception_exists(kind, eid, raw):
                self._exception(stamp, kind, subs[i].source, eid, field, reason, raw)
            results[i] = Result("rejected", eid, None, field, reason,
                                kind if draft else None)
        if resolved:
            self._write_side(stamp, SideEffects(resolutions=resolved))
        if side is not None:
            self._write_side(stamp, side)
        if book is not None:  # before the projections: it reads them as they stood
            book.flush()
        if touched_items:
            projections.project_items(conn, engine, touched_items)
        if touched_orders:
            projections.project_orders(conn, engine, touched_orders, self._seq_marks)
        failpoints.hit("journal.before_commit")
        failpoints.hit("journal.commit")
        conn.execute("COMMIT")
        self._last_ids = (seq, entry)
        for key, receipt in received.items():  # re-tried once this is on disk
            self._received[key] = receipt

    def _name_ids(self, ledger, used: np.ndarray) -> np.ndarray:
        """For each of the engine's name ids, its id in the journal's `names` table (an
        object array: None for the engine's id 0, no name), for at least those `used`."""
        if self._db_of is not ledger:  # another engine numbers its names otherwise
            self._db_of, self._db_ids = ledger, np.full(1, None, object)
            self._db_known = np.ones(1, np.bool_)
        ids, known = self._db_ids, self._db_known
        if len(ids) < len(ledger.names):
            more = len(ledger.names) - len(ids)
            ids = self._db_ids = np.concatenate([ids, np.full(more, -1, object)])
            known = self._db_known = np.concatenate([known, np.zeros(more, np.bool_)])
        missing = ~known[used]
        if missing.any():  # most batches name only names already looked up
            todo = np.unique(used[missing]).tolist()
            ids[todo] = self._db_names([ledger.names[k] for k in todo])
            known[todo] = True
        return ids

    def _db_names(self, texts: list[str]) -> list[int]:
        """The `names` id of each text; those not stored yet are inserted (in the batch's
        transaction: `_abort` forgets them again)."""
        stored = self._stored_names
        if stored is None:
            stored = self._stored_names = dict(self.conn.execute("SELECT name, id FROM names"))
        new = [t for t in dict.fromkeys(texts) if t not in stored]
        for start in range(0, len(new), 5000):  # well under SQLite's limit of parameters
            part = new[start:start + 5000]
            self.conn.executemany("INSERT OR IGNORE INTO names(name) VALUES (?)",
                                  [(t,) for t in part])
            stored.update(self.conn.execute(
                f"SELECT name, id FROM names WHERE name IN ({','.join('?' * len(part))})",
                part))
        return [stored[t] for t in texts]

    def _line_rows(self, block: np.ndarray, counts: np.ndarray,
                   entry_rows: list[tuple], fresh) -> Iterable[tuple]:
        """journal_line_ids rows of a batch from the engine's line block, built by column:
        (entry, account, debit, credit, work order, item, work center, memo), the named
        ones as ids into `names`, as many per entry (of `entry_rows`, in line order) as
        its event posted; the rows are zipped as the INSERT reads them, never held as one
        list."""
        if not entry_rows:
            return []
        amount = block[1]
        debit, credit = np.maximum(amount, 0), np.maximum(-amount, 0)
        self._check_money(debit, credit, counts, fresh)
        per = counts[counts > 0]
        ledger = self.engine.ledger
        accounts = self._account_ids(ledger)
        names = self._name_ids(ledger, block[2:6])
        cols = (np.repeat(np.array([r[0] for r in entry_rows], np.int64), per).tolist(),
                accounts[block[0]].tolist(), debit.tolist(), credit.tolist(),
                *(names[block[r]].tolist() for r in (3, 2, 4, 5)))
        return zip(*cols)

    def _account_ids(self, ledger) -> np.ndarray:
        """The `names` id of each of the ledger's account codes."""
        of, ids = self._account_of
        if of is not ledger or len(ids) != len(ledger.codes):
            ids = np.array(self._db_names(ledger.codes), np.int64)
            self._account_of = (ledger, ids)
        return ids

    def _forget_names(self) -> None:
        """After a rollback: what `names` holds is read again when next needed."""
        self._db_of, self._stored_names = None, None
        self._account_of: tuple[Any, np.ndarray] = (None, np.zeros(0, np.int64))

    @staticmethod
    def _check_money(debit: np.ndarray, credit: np.ndarray, counts: np.ndarray,
                     fresh) -> None:
        """MoneyOverflow naming the first event with a line beyond what the books hold,
        or at which the batch's debits reach 2^62 (checked exactly only when near)."""
        far = not ((debit >= MONEY_CEILING) | (credit >= MONEY_CEILING)).any()
        if far and float(debit.sum(dtype=np.float64)) < MONEY_CEILING / 2:
            return
        d, c, total, l0 = debit.tolist(), credit.tolist(), 0, 0
        posting = (k for k, n in enumerate(counts.tolist()) if n)
        for k, n in zip(posting, counts[counts > 0].tolist()):
            eid = fresh[k][1].id
            for debit_, credit_ in zip(d[l0:l0 + n], c[l0:l0 + n]):
                if not (0 <= debit_ < MONEY_CEILING and 0 <= credit_ < MONEY_CEILING):
                    raise MoneyOverflow(f"event {eid!r}: a line of {debit_} / {credit_}"
                                        " minor units is beyond what the books can hold")
                total += debit_
            if total >= MONEY_CEILING:
                raise MoneyOverflow(f"event {eid!r}: the batch's debits reach {total}"
                                    " minor units (limit 2^62)")
            l0 += n

    def check_alert_timers(self, now: datetime | None = None) -> None:
        """The time-based alert rules (stalled orders), in a transaction of their own."""
        if self.alerts is None:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.alerts.begin(self.conn)
            self.alerts.check_stalled(now or datetime.now(timezone.utc))
            self.alerts.flush()
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _write_side(self, stamp: str, side: SideEffects) -> None:
        for kind, source, reason, raw in side.exceptions:
            kept = None if raw is None else self._kept(raw)
            if kind == "device_error":
                self._device_fault(stamp, source, reason, kept)
            else:
                self._exception(stamp, kind, source, None, None, reason, kept)
        for device in side.reconnected:
            self.conn.execute(
                "UPDATE exceptions SET status='resolved', resolution='device reconnected',"
                " resolved_by='gateway', resolved_at=? WHERE status='open'"
                " AND kind='device_error' AND source=?", (stamp, device))
        for exc_id, status, resolution, user in side.resolutions:
            self.conn.execute(
                "UPDATE exceptions SET status=?, resolution=?, resolved_by=?,"
                " resolved_at=? WHERE id=? AND status='open'",
                (status, resolution, user, stamp, exc_id))
        if side.packets_freed:  # before the new rows: a freed packet id may be reused
            self.conn.executemany("DELETE FROM mqtt_packets WHERE client=? AND mid=?",
                                  side.packets_freed)
        if side.packets:
            self.conn.executemany(
                "INSERT INTO mqtt_packets(client, mid, digest, event_id, ts) VALUES (?,?,?,?,?)"
                " ON CONFLICT(client, mid) DO UPDATE SET digest=excluded.digest,"
                " event_id=excluded.event_id, ts=excluded.ts", side.packets)
        if side.counters:
            self.conn.executemany(
                "INSERT INTO counters(device, node, epoch, value) VALUES (?,?,?,?)"
                " ON CONFLICT(device, node) DO UPDATE SET epoch=excluded.epoch,"
                " value=excluded.value", side.counters)

    def _open_exception_exists(self, kind: str, event_id: str | None, raw: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM exceptions WHERE status='open' AND kind=? AND event_id IS ?"
            " AND raw=? LIMIT 1", (kind, event_id, raw)).fetchone() is not None

    def _exception(self, stamp, kind, source, event_id, field, reason, raw) -> None:
        self.conn.execute(
            "INSERT INTO exceptions(created_at, kind, source, event_id, field, reason, raw)"
            " VALUES (?,?,?,?,?,?,?)", (stamp, kind, source, event_id, field, reason, raw))

    def _stock_episodes(self, rows: list[tuple]) -> None:
        """The engine's notices (negative stock, rounding) as episodes: one open exception
        per kind and subject (`RM-STEEL at LINE1 (lot -)`, the text before the first
        ': '), counting its occurrences with the latest figure and time, so a line that
        keeps backflushing a short component is one problem on the exceptions page,
        not one per completion. The event that opened it stays its event_id; each
        occurrence's event carries its own lines in the journal.

        The open episodes are read once and then kept (`_episodes`): only this writer
        opens them, and one closed meanwhile from the dashboard or the CLI is seen when
        its update touches no open row, and a new episode starts."""
        if not rows:
            return
        if self._episodes is None:
            self._episodes = {}
            for eid, kind, reason in self.conn.execute(
                    "SELECT id, kind, reason FROM exceptions WHERE status='open'"
                    " AND kind IN ('negative_stock', 'rounding') ORDER BY id"):
                self._episodes.setdefault((kind, reason.split(": ", 1)[0]), eid)
        open_ = self._episodes
        # One statement per episode, not per notice: the batch's notices of one key
        # (in order of their first) add up to one update, or to one new episode holding
        # them all, as one statement per notice would leave it (the latest reason).
        groups: dict[tuple[str, str], list] = {}  # key -> [first row, n, latest reason]
        for row in rows:
            key = (row[1], row[4].split(": ", 1)[0])
            g = groups.get(key)
            if g is None:
                groups[key] = [row, 1, row[4]]
            else:
                g[1] += 1
                g[2] = row[4]
        for key, ((stamp, kind, source, eid, _), n, message) in groups.items():
            known = open_.get(key)
            if known is not None and self.conn.execute(
                    "UPDATE exceptions SET occurrences=occurrences+?, last_seen=?, reason=?"
                    " WHERE id=? AND status='open'", (n, stamp, message, known)).rowcount:
                continue
            open_[key] = self.conn.execute(
                "INSERT INTO exceptions(created_at, kind, source, event_id, reason,"
                " last_seen, occurrences) VALUES (?,?,?,?,?,?,?)",
                (stamp, kind, source, eid, message, stamp, n)).lastrowid

    def _device_fault(self, stamp, source, reason, raw) -> None:
        """One more try of an open fault episode (same device, same cause), or a new one."""
        cur = self.conn.execute(
            "UPDATE exceptions SET occurrences=occurrences+1, last_seen=? WHERE status='open'"
            " AND kind='device_error' AND source=? AND reason=?", (stamp, source, reason))
        if cur.rowcount == 0:
            self.conn.execute(
                "INSERT INTO exceptions(created_at, kind, source, reason, raw, last_seen)"
                " VALUES (?,?,?,?,?,?)", (stamp, "device_error", source, reason, raw, stamp))

    def active_orders(self) -> list[tuple[str, str]]:
        """(line, work order) for every line running one, as committed."""
        return self.conn.execute("SELECT line, work_order FROM active_orders").fetchall()

    def counter_state(self, device: str) -> dict[str, tuple[int, int]]:
        """Stored (epoch, value) per node: where a restarted driver resumes."""
        return {n: (e, v) for n, e, v in self.conn.execute(
            "SELECT node, epoch, value FROM counters WHERE device=?", (device,))}

    def record_exception(self, kind: str, source: str, reason: str, raw: str | None = None,
                         event_id: str | None = None, field: str | None = None) -> int:
        """Keep something a supervisor must see (decode errors, unassigned counts...)."""
        kept = None if raw is None else self._kept(raw)
        cur = self.conn.execute(
            "INSERT INTO exceptions(created_at, kind, source, event_id, field, reason, raw)"
            " VALUES (?,?,?,?,?,?,?)", (now_utc(), kind, source, event_id, field, reason, kept))
        return int(cur.lastrowid)


def submit_all(journal: Journal, subs: Iterable[Submission], batch: int = 500) -> list[Result]:
    """Submit in micro-batches (the unit of commit) and return every result in order."""
    out: list[Result] = []
    chunk: list[Submission] = []
    for sub in subs:
        chunk.append(sub)
        if len(chunk) >= batch:
            out.extend(journal.submit(chunk))
            chunk = []
    if chunk:
        out.extend(journal.submit(chunk))
    return out
