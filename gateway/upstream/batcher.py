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

A round reads only the lines above the last one it read: the entries of the batch still
open stay in memory, and held entries are not read again. What it keeps is dropped (the
next round reads every unbatched line, as after a restart) when a round fails or another
process has written batches meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import groupby
from operator import itemgetter

from gateway import failpoints
from gateway.money import to_str

__all__ = ["Batcher", "BatchUnbalanced", "EntryLines", "build_payload", "transaction"]


class BatchUnbalanced(AssertionError):
    """A batch about to be written does not balance; it is refused, never written."""


@dataclass(slots=True)
class EntryLines:
    """One journal entry and its lines: the unit a batch never splits."""

    entry: int
    period: str
    lines: list[tuple] = field(default_factory=list)   # rows of _LINE_COLUMNS (or _SUMMARY_COLUMNS)

    @property
    def balanced(self) -> bool:
        return sum(map(_DEBIT, self.lines)) == sum(map(_CREDIT, self.lines))


_LINE_COLUMNS = "line, entry, event_id, debit, credit, account, work_center, work_order, item, memo, period"
# What a summarized batch needs of a line: what groups it (entry, period), balances and sums
# it (debit, credit by account and work center) and marks it batched (line). The columns
# keep their places in _LINE_COLUMNS, but for period, which takes event_id's.
_SUMMARY_COLUMNS = "line, entry, period, debit, credit, account, work_center"
_ENTRY, _DEBIT, _CREDIT = itemgetter(1), itemgetter(3), itemgetter(4)


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
    """The batch JSON (see docs/architecture.md) from whole entries whose rows hold their
    names as text; raises BatchUnbalanced if it does not balance."""
    return _build(gateway_id, seq, period, currency, decimals, entries, summarize, created_at,
                  None)[0]


def _build(gateway_id: str, seq: int, period: str, currency: str, decimals: int,
           entries: list[EntryLines], summarize: bool, created_at: str,
           names: Mapping[int | None, str | None] | None) -> tuple[dict, int]:
    """build_payload's batch and its debit total (the `batches` row keeps it as a number).
    `names` turns the rows' name ids into text (the batcher's rows); None: they are text."""
    rows = [r for e in entries for r in e.lines]
    zero = to_str(0, decimals)   # a line or a summed pair mostly moves one way: one amount is 0
    money = lambda minor: to_str(minor, decimals) if minor else zero  # noqa: E731
    if summarize:
        # Debit and credit stay separate per (account, work_center): upstream sees gross
        # movements, netting would hide them. Summed by id, named once a pair (a name and
        # its id go one to one, so the pairs are the same).
        sums: dict[tuple, list[int]] = {}
        for r in rows:
            key = (r[5], r[6])
            acc = sums.get(key)
            if acc is None:
                sums[key] = [r[3], r[4]]
            else:
                acc[0] += r[3]
                acc[1] += r[4]
        debit = sum(d for d, _ in sums.values())
        credit = sum(c for _, c in sums.values())
        _check_balance(gateway_id, seq, debit, credit)
        if names is not None:
            sums = {(names[a], names[wc]): dc for (a, wc), dc in sums.items()}
        lines = [
            {"account": a, "work_center": wc, "debit": money(d), "credit": money(c)}
            for (a, wc), (d, c) in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ]
    else:
        debit = sum(map(_DEBIT, rows))
        credit = sum(map(_CREDIT, rows))
        _check_balance(gateway_id, seq, debit, credit)
        if names is not None:
            rows = _named(rows, names)
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
    }, debit


def _check_balance(gateway_id: str, seq: int, debit: int, credit: int) -> None:
    if debit != credit:
        raise BatchUnbalanced(f"batch {gateway_id}-{seq}: debit {debit} != credit {credit}")


def _named(rows: list[tuple], names: Mapping[int | None, str | None]) -> list[tuple]:
    """Rows of _LINE_COLUMNS with their five names as text instead of ids."""
    return [(r[0], r[1], r[2], r[3], r[4], names[r[5]], names[r[6]], names[r[7]], names[r[8]],
             names[r[9]], r[10]) for r in rows]


class _Names(dict):
    """The `names` table as read so far (id -> text). Every name is committed before the
    lines that use it and read each round, so an id it does not hold is a damaged
    journal, said as such rather than as a bare KeyError."""

    def __missing__(self, key):
        raise RuntimeError(f"journal_line_ids: a line names id {key!r}, which `names` "
                           "does not hold")


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
        # Lines are read with their names as ids (`names`' ids: a name's id never changes),
        # only the columns the batch needs; text is looked up where a batch shows it.
        self._columns = _SUMMARY_COLUMNS if summarize else _LINE_COLUMNS
        self._period_at = 2 if summarize else 10
        # entry -> monotonic time the batcher first saw its lines (only entries still
        # unbatched; an entry's lines are committed together, so they are seen together)
        self._first_seen: dict[int, float] = {}
        self._names = _Names({None: None})   # names(id) -> text
        self._names_read = 0   # the highest id in _names
        self.backlog = False   # the last round read `read_limit` lines: more are waiting
        self._held: set[int] = self._load_held()
        # What earlier rounds read and did not batch yet (the open batch's entries, in line
        # order) and the highest line they read: a round reads only the lines above it.
        # Trusted while the batches table ends where this batcher left it (`_next`).
        self._pending: list[EntryLines] = []
        self._pending_lines = 0
        self._read_to = 0
        self._next: int | None = None

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
        try:
            return self._round(force)
        except BaseException:
            self._forget()   # what it read may be stale now (lines batched elsewhere, say)
            raise

    def _round(self, force: bool) -> list[int]:
        first = self._next_seq()
        if first != self._next or self._pending_lines >= self.read_limit:
            self._forget()   # another process wrote batches, or the window is all pending
        new = self._unbatched_entries()
        now = self.clock()
        first_seen = self._first_seen
        for e in new:
            first_seen.setdefault(e.entry, now)
        entries = self._pending + new if self._pending else new
        due_groups: list[list[EntryLines]] = []
        done = 0   # entries in due groups
        lines = self._pending_lines + sum(len(e.lines) for e in new)
        for group, size, closed in self._groups(entries):
            oldest = min(first_seen[e.entry] for e in group)
            due = closed or force or size >= self.max_lines or now - oldest >= self.max_seconds
            if not due:
                break  # later groups are younger: nothing behind an open group is due either
            due_groups.append(group)
            done += len(group)
            lines -= size
        # Kept for the next round, unless this one's read is not to be built on.
        self._pending, self._pending_lines = (entries[done:], lines) if self._read_to else ([], 0)
        written = self._write(first, due_groups) if due_groups else []
        # Renumbered batches mean another process wrote some meanwhile: read anew next round.
        self._next = first + len(written) if not written or written[0] == first else None
        return written

    def _forget(self) -> None:
        """Read every unbatched line anew next round (as after a restart)."""
        self._pending, self._pending_lines, self._read_to, self._next = [], 0, 0, None

    def _unbatched_entries(self) -> list[EntryLines]:
        """Whole unbatched entries above the last line read, in line order: with those
        pending, the first `read_limit` lines' worth."""
        limit = self.read_limit - self._pending_lines
        rows = self._rows(self._columns,
                          "WHERE line > ? AND batch_seq IS NULL ORDER BY line LIMIT ?",
                          (self._read_to, limit))
        self.backlog = len(rows) == limit
        if not rows:
            return []
        self._read_names()   # every name these lines use is committed by now
        entries: dict[int, EntryLines] = {}
        period_at = self._period_at
        split = False
        for entry, lines in groupby(rows, _ENTRY):
            e = entries.get(entry)
            if e is None:
                lines = list(lines)
                entries[entry] = EntryLines(entry, lines[0][period_at], lines)
            else:   # an entry's lines apart (the journal writes them together)
                e.lines.extend(lines)
                split = True
        read_to = rows[-1][0]
        if self.backlog:
            # The last entry may continue past the limit: leave it for the next round,
            # unless it is the only one (then read it whole).
            last = next(reversed(entries))
            if len(entries) > 1 or self._pending:
                read_to = entries.pop(last).lines[0][0] - 1
            else:
                lines = self._rows(self._columns,
                                   "WHERE batch_seq IS NULL AND entry = ? ORDER BY line", (last,))
                entries[last].lines = lines
                read_to = lines[-1][0]
        self._read_to = 0 if split else read_to   # split: the next round reads every line anew
        ready = []
        for e in entries.values():
            if e.entry in self._held:
                continue
            if not e.balanced:
                self._hold(e.entry)
                continue
            ready.append(e)
        return ready

    def _rows(self, columns: str, where: str, args: tuple) -> list[tuple]:
        """Rows of `columns` from journal_line_ids, the table under the journal_lines view
        (the view's five look-ups into `names` a line cost more than the rest of the batcher),
        with its entry's event id and period (`entry` is the line's: a USING column)."""
        return self.conn.execute(
            f"SELECT {columns} FROM journal_line_ids JOIN entries USING (entry) {where}",
            args).fetchall()

    def _read_names(self) -> None:
        """The names added since the last read. A name is committed before the lines that
        use it, its id is above every id before it, and it never changes."""
        new = self.conn.execute("SELECT id, name FROM names WHERE id > ?",
                                (self._names_read,)).fetchall()
        self._names.update(new)
        self._names_read = max((i for i, _ in new), default=self._names_read)

    def _hold(self, entry: int) -> None:
        rows = _named(self._rows(_LINE_COLUMNS,
                                 "WHERE batch_seq IS NULL AND entry = ? ORDER BY line", (entry,)),
                      self._names)
        raw = json.dumps([dict(zip([c.strip() for c in _LINE_COLUMNS.split(",")], r)) for r in rows])
        debit = sum(map(_DEBIT, rows))
        credit = sum(map(_CREDIT, rows))
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO exceptions(created_at, kind, source, event_id, field, reason, raw) "
                "VALUES (?, 'unbalanced_entry', ?, ?, 'entry', ?, ?)",
                (self.wall(), f"entry:{entry}", rows[0][2],
                 f"entry {entry} does not balance: debit {debit} != credit {credit}; "
                 "held out of upstream batches", raw))
        self._held.add(entry)

    def _groups(self, entries: list[EntryLines]):
        """Yield (entries, lines, closed): runs of whole entries of one period, at most
        max_lines source lines each (an entry larger than that travels alone). `closed` means
        nothing can join the group any more (the next entry would not fit or changes period)."""
        group: list[EntryLines] = []
        size = 0
        for e in entries:
            n = len(e.lines)
            if group and (e.period != group[0].period or size + n > self.max_lines):
                yield group, size, True
                group, size = [], 0
            group.append(e)
            size += n
        if group:
            yield group, size, False

    def _write(self, first: int, groups: list[list[EntryLines]]) -> list[int]:
        """Each group as a batch numbered from `first`, all in one transaction (one wait for
        the write lock and one sync for the round, not one a batch); returns their seqs. The
        payloads are built before the write lock is taken: the journal waits for none of that."""
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
            payload, debit = _build(self.gateway_id, seq, group[0].period, self.currency,
                                    self.decimals, group, self.summarize, self.wall(), self._names)
            rows.append((seq, payload["batch_id"], payload["period"], payload["created_at"],
                         json.dumps(payload, separators=(",", ":")), debit, debit))
        return rows

    def _write_one(self, row: tuple, group: list[EntryLines]) -> None:
        seq = row[0]
        self.conn.execute(
            "INSERT INTO batches(seq, batch_id, period, created_at, payload, debit, credit) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        lines = sum(len(e.lines) for e in group)
        updated = 0
        # the table under the journal_lines view (an update through a view's trigger
        # counts no rows), by runs of consecutive line numbers: the lines of a batch
        # are one run unless a held entry or another period sits between them
        for first, last in _runs(group):
            updated += self.conn.execute(
                "UPDATE journal_line_ids SET batch_seq = ? WHERE line BETWEEN ? AND ? "
                "AND batch_seq IS NULL", (seq, first, last)).rowcount
        if updated != lines:
            # Someone else batched some of these lines meanwhile: write nothing.
            raise RuntimeError(f"batch {seq}: {lines - updated} lines were already batched")


def _runs(entries: list[EntryLines]) -> list[list[int]]:
    """[first, last] of each run of consecutive line numbers of `entries`' lines (each
    entry's in ascending order): an entry by its ends when its lines are consecutive."""
    runs: list[list[int]] = []
    for e in entries:
        lines = e.lines
        first, last = lines[0][0], lines[-1][0]
        ends = [(first, last)] if last - first + 1 == len(lines) else [(r[0], r[0]) for r in lines]
        for first, last in ends:
            if runs and runs[-1][1] + 1 == first:
                runs[-1][1] = last
            else:
                runs.append([first, last])
    return runs
