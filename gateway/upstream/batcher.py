"""`Batcher`: every journal line ends up in exactly one balanced, immutable GL batch.

Unbatched journal lines (`batch_seq IS NULL`) are grouped, in line order, into batches
(see docs/architecture.md): a batch holds whole entries only, never mixes accounting periods, and is
closed by size (`max_lines` source lines) or by age (`max_seconds` since the batcher
first saw its oldest line, on a monotonic clock — the host wall clock may step back and
changes nothing here). The batch rows a round writes and the `batch_seq` of their lines
are written in one transaction, so a crash leaves either all or none.

An entry whose lines do not balance (a bug upstream of us) is held out of every batch
and reported once as an exception `unbalanced_entry`; the batches around it go on.

The age clock lives in memory: after a restart, lines that were already waiting are aged
from the restart (they wait at most `max_seconds` more). A large backlog (a bulk ingest,
a long stop) is read `read_limit` lines at a time, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from gateway import failpoints
from gateway.money import to_str

__all__ = ["Batcher", "BatchUnbalanced", "EntryLines", "build_payload", "transaction"]


class BatchUnbalanced(AssertionError):
    """A batch about to be written does not balance; it is refused, never written."""


@dataclass(slots=True)
class EntryLines:
    """One journal entry and its lines: the unit a batch never splits."""

    entry: int
    event_id: str
    period: str
    lines: list[tuple] = field(default_factory=list)   # rows of _LINE_COLUMNS

    @property
    def balanced(self) -> bool:
        return sum(r[3] for r in self.lines) == sum(r[4] for r in self.lines)


_LINE_COLUMNS = "line, entry, event_id, debit, credit, account, work_center, work_order, item, memo, period"
# The same columns from the table under the journal_lines view, the named ones as ids into
# `names` (turned into text through the batcher's cache of names: a name's id never changes).
_ID_COLUMNS = ("line, entry, event_id, debit, credit, account, work_center, work_order, item, memo,"
               " period FROM journal_line_ids")


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class transaction:
    """`with transaction(conn):` BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error.

    `commit_point` names a failpoint hit just before COMMIT (tests fault the commit).
    `async with` waits for the write lock without blocking the event loop: while another
    connection (the journal's thread) holds it, it asks again every POLL_S, for up to
    PATIENCE_S, then waits as `with` does (the connection's busy_timeout), so it never
    waits for a busy writer longer than that.
    """

    POLL_S = 0.002
    PATIENCE_S = 0.5

    def __init__(self, conn: sqlite3.Connection, commit_point: str | None = None):
        self.conn = conn
        self.commit_point = commit_point

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    async def __aenter__(self) -> sqlite3.Connection:
        conn = self.conn
        timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        deadline = time.monotonic() + self.PATIENCE_S
        conn.execute("PRAGMA busy_timeout=0")
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return conn
                except sqlite3.OperationalError as exc:
                    if not _locked(exc) or time.monotonic() >= deadline:
                        break
                await asyncio.sleep(self.POLL_S)
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(timeout)}")
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        return self.__exit__(exc_type, exc, tb)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                if self.commit_point:
                    failpoints.hit(self.commit_point)
                self.conn.execute("COMMIT")
                return False
            except BaseException:
                self._rollback()
                raise
        self._rollback()
        return False

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _locked(exc: sqlite3.OperationalError) -> bool:
    """Another connection holds the write lock (SQLITE_BUSY), as opposed to a real fault."""
    return exc.sqlite_errorcode == sqlite3.SQLITE_BUSY


def build_payload(*, gateway_id: str, seq: int, period: str, currency: str, decimals: int,
                  entries: list[EntryLines], summarize: bool, created_at: str) -> dict:
    """The batch JSON (see docs/architecture.md) from whole entries; raises BatchUnbalanced if it does not balance."""
    rows = [r for e in entries for r in e.lines]
    debit = sum(r[3] for r in rows)
    credit = sum(r[4] for r in rows)
    if debit != credit:
        raise BatchUnbalanced(f"batch {gateway_id}-{seq}: debit {debit} != credit {credit}")
    money = lambda minor: to_str(minor, decimals)  # noqa: E731 - a local formatter
    if summarize:
        # Debit and credit stay separate per (account, work_center): upstream sees gross
        # movements, netting would hide them.
        sums: dict[tuple[str, str | None], list[int]] = {}
        for r in rows:
            acc = sums.setdefault((r[5], r[6]), [0, 0])
            acc[0] += r[3]
            acc[1] += r[4]
        lines = [
            {"account": a, "work_center": wc, "debit": money(d), "credit": money(c)}
            for (a, wc), (d, c) in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ]
    else:
        lines = [
            {"account": r[5], "debit": money(r[3]), "credit": money(r[4]), "work_center": r[6],
             "work_order": r[7], "item": r[8], "memo": r[9], "entry": r[1]}
            for r in rows
        ]
    return {
        "batch_id": f"{gateway_id}-{seq}",
        "seq": seq,
        "period": period,
        "currency": currency,
        "lines": lines,
        "totals": {"debit": money(debit), "credit": money(credit)},
        "entries": [e.entry for e in entries],
        "created_at": created_at,
    }


class Batcher:
    """Groups unbatched journal lines into balanced, immutable, period-pure batches."""

    def __init__(self, conn: sqlite3.Connection, gateway_id: str, currency: str, decimals: int,
                 max_lines: int = 500, max_seconds: float = 5, summarize: bool = True, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], str] = _utc_now, read_limit: int | None = None):
        if max_lines < 1:
            raise ValueError(f"max_lines must be >= 1 (got {max_lines!r})")
        if max_seconds < 0:
            raise ValueError(f"max_seconds must be >= 0 (got {max_seconds!r})")
        self.conn = conn
        self.gateway_id = gateway_id
        self.currency = currency
        self.decimals = decimals
        self.max_lines = max_lines
        self.max_seconds = max_seconds
        self.summarize = summarize
        self.clock = clock
        self.wall = wall
        self.read_limit = read_limit or max(20 * max_lines, 10_000)
        # entry -> monotonic time the batcher first saw its lines (only entries still
        # unbatched; an entry's lines are committed together, so they are seen together)
        self._first_seen: dict[int, float] = {}
        self._names: dict[int | None, str | None] = {None: None}   # names(id) -> text
        self._names_read = 0   # the highest id in _names
        self.backlog = False   # the last round read `read_limit` lines: more are waiting
        self._held: set[int] = self._load_held()

    @property
    def held_entries(self) -> frozenset[int]:
        """Entries held out of batches because they do not balance (see exceptions)."""
        return frozenset(self._held)

    def _load_held(self) -> set[int]:
        rows = self.conn.execute(
            "SELECT source FROM exceptions WHERE kind = 'unbalanced_entry'").fetchall()
        return {int(s.split(":", 1)[1]) for (s,) in rows if s.startswith("entry:")}

    def run_once(self, force: bool = False) -> list[int]:
        """Write every batch that is due now (or all pending lines if `force`); return their seqs."""
        entries = self._unbatched_entries()
        now = self.clock()
        first_seen = self._first_seen
        for e in entries:
            first_seen.setdefault(e.entry, now)
        due_groups: list[list[EntryLines]] = []
        for group, closed in self._groups(entries):
            n_lines = sum(len(e.lines) for e in group)
            oldest = min(first_seen[e.entry] for e in group)
            due = closed or force or n_lines >= self.max_lines or now - oldest >= self.max_seconds
            if not due:
                break  # later groups are younger: nothing behind an open group is due either
            due_groups.append(group)
        return self._write(due_groups) if due_groups else []

    def _unbatched_entries(self) -> list[EntryLines]:
        """Whole unbatched entries in line order: the first `read_limit` lines' worth."""
        rows = self._rows("WHERE batch_seq IS NULL ORDER BY line LIMIT ?", self.read_limit)
        self.backlog = len(rows) == self.read_limit
        entries: dict[int, EntryLines] = {}
        for row in rows:
            e = entries.get(row[1])
            if e is None:
                e = entries[row[1]] = EntryLines(row[1], row[2], row[10])
            e.lines.append(row)
        if len(rows) == self.read_limit and entries:
            # The last entry may continue past the limit: leave it for the next round,
            # unless it is the only one (then read it whole).
            last = next(reversed(entries))
            if len(entries) > 1:
                del entries[last]
            else:
                entries[last].lines = self._rows(
                    "WHERE batch_seq IS NULL AND entry = ? ORDER BY line", last)
        ready = []
        for e in entries.values():
            if e.entry in self._held:
                continue
            if not e.balanced:
                self._hold(e)
                continue
            ready.append(e)
        return ready

    def _rows(self, where: str, arg) -> list[tuple]:
        """Rows of _LINE_COLUMNS, their names as text: read by id from journal_line_ids
        (the view's five look-ups a line cost more than the rest of the batcher)."""
        rows = self.conn.execute(f"SELECT {_ID_COLUMNS} {where}", (arg,)).fetchall()
        for _ in range(2):
            names = self._names
            try:
                return [(r[0], r[1], r[2], r[3], r[4], names[r[5]], names[r[6]], names[r[7]],
                         names[r[8]], names[r[9]], r[10]) for r in rows]
            except KeyError as exc:
                missing = exc.args[0]
                self._read_names()
        raise RuntimeError(f"journal_line_ids: a line names id {missing!r}, which `names` "
                           "does not hold")

    def _read_names(self) -> None:
        """The names added since the last read. A name is committed before the lines that
        use it, its id is above every id before it, and it never changes."""
        new = self.conn.execute("SELECT id, name FROM names WHERE id > ?",
                                (self._names_read,)).fetchall()
        self._names.update(new)
        self._names_read = max((i for i, _ in new), default=self._names_read)

    def _hold(self, e: EntryLines) -> None:
        raw = json.dumps([dict(zip([c.strip() for c in _LINE_COLUMNS.split(",")], r)) for r in e.lines])
        debit = sum(r[3] for r in e.lines)
        credit = sum(r[4] for r in e.lines)
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO exceptions(created_at, kind, source, event_id, field, reason, raw) "
                "VALUES (?, 'unbalanced_entry', ?, ?, 'entry', ?, ?)",
                (self.wall(), f"entry:{e.entry}", e.event_id,
                 f"entry {e.entry} does not balance: debit {debit} != credit {credit}; "
                 "held out of upstream batches", raw))
        self._held.add(e.entry)

    def _groups(self, entries: list[EntryLines]):
        """Yield (entries, closed): runs of whole entries of one period, at most max_lines
        source lines each (an entry larger than that travels alone). `closed` means
        nothing can join the group any more (the next entry would not fit or changes period)."""
        group: list[EntryLines] = []
        size = 0
        for e in entries:
            if group and (e.period != group[0].period or size + len(e.lines) > self.max_lines):
                yield group, True
                group, size = [], 0
            group.append(e)
            size += len(e.lines)
        if group:
            yield group, False

    def _write(self, groups: list[list[EntryLines]]) -> list[int]:
        """Each group as a batch, all in one transaction (one wait for the write lock and
        one sync for the round, not one a batch); returns their seqs. The payloads are
        built before the write lock is taken: the journal waits for none of that."""
        first = self._next_seq()
        rows = self._batch_rows(first, groups)
        with transaction(self.conn):
            if self._next_seq() != first:   # batches written meanwhile by another process
                first = self._next_seq()
                rows = self._batch_rows(first, groups)
            for row, group in zip(rows, groups):
                self._write_one(row, group)
                failpoints.hit("batcher.before_commit")
        for group in groups:
            for e in group:
                self._first_seen.pop(e.entry, None)
        return [row[0] for row in rows]

    def _next_seq(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM batches").fetchone()[0]

    def _batch_rows(self, first: int, groups: list[list[EntryLines]]) -> list[tuple]:
        """The `batches` row of each group, numbered from `first`."""
        rows = []
        for seq, group in enumerate(groups, first):
            payload = build_payload(
                gateway_id=self.gateway_id, seq=seq, period=group[0].period,
                currency=self.currency, decimals=self.decimals, entries=group,
                summarize=self.summarize, created_at=self.wall())
            debit = sum(r[3] for e in group for r in e.lines)
            rows.append((seq, payload["batch_id"], payload["period"], payload["created_at"],
                         json.dumps(payload, separators=(",", ":")), debit, debit))
        return rows

    def _write_one(self, row: tuple, group: list[EntryLines]) -> None:
        seq = row[0]
        self.conn.execute(
            "INSERT INTO batches(seq, batch_id, period, created_at, payload, debit, credit) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        lines = [r[0] for e in group for r in e.lines]
        updated = 0
        # the table under the journal_lines view (an update through a view's trigger
        # counts no rows), by runs of consecutive line numbers: the lines of a batch
        # are one run unless a held entry or another period sits between them
        for first, last in _runs(lines):
            updated += self.conn.execute(
                "UPDATE journal_line_ids SET batch_seq = ? WHERE line BETWEEN ? AND ? "
                "AND batch_seq IS NULL", (seq, first, last)).rowcount
        if updated != len(lines):
            # Someone else batched some of these lines meanwhile: write nothing.
            raise RuntimeError(f"batch {seq}: {len(lines) - updated} lines were already batched")


def _runs(lines: list[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive numbers in ascending `lines`."""
    runs: list[tuple[int, int]] = []
    first = prev = lines[0]
    for line in lines[1:]:
        if line != prev + 1:
            runs.append((first, prev))
            first = line
        prev = line
    runs.append((first, prev))
    return runs
