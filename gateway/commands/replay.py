"""`gateway replay -c FILE`: value the stored events again, from the events alone, and report
every difference from what the journal stores (exit 1 if any).

The replay streams: stored events are read a chunk at a time and fed straight to a fresh
engine (its batch path, each against the master data version in force at its seq); the
journal lines the chunk posted, as the engine's id columns, are compared there and then
with the stored lines of the same events read as integer columns of `names` ids
(numpy: equal chunks build no row objects; a chunk that differs is compared row by row
by text, to name each line). The projections (stock, item costs, work orders, active
orders) and the alerts, which the alert book judges chunk by chunk as the live writer
does, are written into a file of projections only (no events, no lines: `--keep` keeps
it) and compared at the end: as large as the plant, not its history. What stays in
memory is the engine's state and one chunk, whatever the journal's length. Progress
goes to a terminal; `--format json` gives the summary as one JSON object.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field

import msgspec
import numpy as np

from gateway.commands._common import add_config, load_plant, open_readonly
from gateway.commands.progress import Progress
from gateway.journal import connect

# What must come out identical beside the lines, and the order that makes rows comparable.
PROJECTIONS = {
    "stock": "SELECT item, location, status, lot, round(qty, 9), value FROM stock"
             " ORDER BY item, location, status, lot",
    "item_costs": "SELECT item, method, round(qty, 9), value, round(unit_cost, 9)"
                  " FROM item_costs ORDER BY item",
    "work_orders": "SELECT work_order, item, line, planned, status, good, scrap, wip,"
                   " material_usage, material_price, labor_efficiency, overhead_efficiency"
                   " FROM work_orders ORDER BY work_order",
    "active_orders": "SELECT line, work_order FROM active_orders ORDER BY line",
    # what the rules judged from the events; acknowledgements, hand resolutions and the
    # timer's stalled alerts are people's and the clock's, not the events'
    "alerts": "SELECT key, rule, severity, round(observed, 6), round(expected, 6),"
              " round(threshold, 6), message, first_seen, last_seen,"
              " CASE WHEN state = 'resolved' THEN resolution ELSE 'open' END FROM alerts"
              " WHERE rule != 'stalled' AND (resolved_by IS NULL OR resolved_by = 'gateway')"
              " ORDER BY key, first_seen",
}
CHUNK = 5000
EXAMPLES = 5  # rows shown per side and table; the counts cover every row


def add_arguments(p) -> None:
    add_config(p)
    p.add_argument("--keep", metavar="PATH",
                   help="keep the rebuilt projections and alerts at PATH")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--chunk", type=int, default=CHUNK,
                   help=f"events read, applied and compared at a time (default {CHUNK:,})")
    p.add_argument("--from-snapshot", action="store_true",
                   help="verify the journal's engine snapshot against a full replay instead")


@dataclass
class TableDiff:
    """Differences of one table, counted over every chunk, a few rows kept as examples."""

    name: str
    live: int = 0
    rebuilt: int = 0
    only_live: int = 0
    only_rebuilt: int = 0
    reordered: bool = False
    live_examples: list[tuple] = field(default_factory=list)
    rebuilt_examples: list[tuple] = field(default_factory=list)

    def add(self, a: list[tuple], b: list[tuple]) -> None:
        self.live += len(a)
        self.rebuilt += len(b)
        if a == b:
            return
        sa, sb = set(a), set(b)
        only_a, only_b = [r for r in a if r not in sb], [r for r in b if r not in sa]
        if not only_a and not only_b:
            self.reordered = True
        self.only_live += len(only_a)
        self.only_rebuilt += len(only_b)
        self.live_examples += only_a[:EXAMPLES - len(self.live_examples)]
        self.rebuilt_examples += only_b[:EXAMPLES - len(self.rebuilt_examples)]

    @property
    def same(self) -> bool:
        return not (self.only_live or self.only_rebuilt or self.reordered
                    or self.live != self.rebuilt)

    def report(self) -> list[str]:
        if self.same:
            return []
        out = [f"{self.name}: {self.live} live rows, {self.rebuilt} rebuilt; {self.only_live}"
               f" only live, {self.only_rebuilt} only rebuilt",
               *(f"  live:    {r}" for r in self.live_examples),
               *(f"  rebuilt: {r}" for r in self.rebuilt_examples)]
        if self.reordered and not (self.only_live or self.only_rebuilt):
            out.append("  same rows in a different order")
        return out


@dataclass
class Replayed:
    events: int = 0
    not_applied: int = 0
    seconds: float = 0.0
    tables: list[TableDiff] = field(default_factory=list)
    unapplied: list[str] = field(default_factory=list)  # the first few, with their reason

    def differences(self) -> list[str]:
        out = []
        if self.not_applied:
            out.append(f"events: {self.not_applied} stored events no longer apply")
            out += [f"  {u}" for u in self.unapplied]
        for t in self.tables:
            out += t.report()
        return out

    def summary(self) -> dict:
        rate = self.events / self.seconds if self.seconds else 0.0
        diff = self.differences()
        return {"events": self.events, "not_applied": self.not_applied,
                "journal_lines": self.tables[0].live if self.tables else 0,
                "seconds": round(self.seconds, 3), "events_per_s": round(rate, 1),
                "identical": not diff, "differences": diff}


# The stored lines of a range of line numbers, in line order: how many, and each integer
# column joined into one text (NULL dimensions as 0); the seqs, event ids and periods of
# their entries apart (a join per line costs more than reading the entries' rows). A
# range of the primary key, aggregated as it is scanned: no subquery sorting and
# limiting the rows first (a third of the query's time).
_INTS = ("l.line", "e.event_seq", "l.account", "l.debit", "l.credit", "l.work_order", "l.item",
         "l.work_center", "l.memo")
_NULLABLE = ("l.work_order", "l.item", "l.work_center")  # the others NOT NULL (and a NULL
# would leave its column short: read row by row below)
_STORED_SQL = (
    "SELECT count(*), " + ", ".join(f"group_concat(coalesce({c}, 0))" if c in _NULLABLE
                                    else f"group_concat({c})" for c in _INTS).replace(
        "e.event_seq", "l.entry")
    + " FROM journal_line_ids l WHERE l.line > ?1 AND l.line <= ?1 + ?2")
_ENTRIES_SQL = ("SELECT group_concat(entry), group_concat(event_seq), json_group_array(event_id),"
                " json_group_array(period) FROM (SELECT entry, event_seq, event_id, period"
                " FROM entries WHERE entry BETWEEN ? AND ? ORDER BY entry)")
_ROWS_SQL = (f"SELECT {', '.join(_INTS)}, e.event_id, e.period FROM journal_line_ids l"
             " JOIN entries e ON e.entry = l.entry WHERE l.line > ?1 AND l.line <= ?1 + ?2"
             " ORDER BY l.line")


def _ints(text: str | None) -> np.ndarray:
    """A column joined by group_concat as integers; one that is not integers throughout
    (a value edited into text) as no integers, so that its rows are read one by one."""
    if text is None:
        return np.zeros(0, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, and stops, at what is no integer
        try:
            return np.fromstring(text, np.int64, sep=",")  # noqa: NPY201
        except (ValueError, DeprecationWarning):
            return np.zeros(0, np.int64)


class _Stored:
    """The live journal lines in line order, handed out by the seq of their event: the
    integer columns as a (9, lines) array, a row per column (line, seq, account, debit,
    credit, work order, item, work center, memo; the named ones as their ids into
    `names`), the event ids and periods as lists."""

    def __init__(self, conn):
        self.conn, self.line = conn, 0
        self.top = conn.execute("SELECT max(line) FROM journal_line_ids").fetchone()[0] or 0

    def through(self, seq: int, expect: int) -> tuple[np.ndarray, list, list]:
        """The lines of every event up to `seq` not handed out yet (`expect`: about how
        many there are)."""
        parts, span = [], max(expect + 256, 4096)
        while True:
            ints, eids, periods = self._read(span)
            past = ints[1] > seq
            cut = int(np.argmax(past)) if past.any() else ints.shape[1]
            parts.append((ints[:, :cut], eids[:cut], periods[:cut]))
            if cut < ints.shape[1]:
                self.line = int(ints[0, cut]) - 1
                break
            self.line += span
            if self.line >= self.top:
                break
            if not ints.shape[1]:  # past a gap in the numbers, however wide, at once
                self.line = max(self.line, self.conn.execute(
                    "SELECT min(line) FROM journal_line_ids WHERE line > ?",
                    (self.line,)).fetchone()[0] - 1)
        if len(parts) == 1:
            return parts[0]
        return (np.concatenate([p[0] for p in parts], axis=1),
                [e for p in parts for e in p[1]], [q for p in parts for q in p[2]])

    def _read(self, span: int) -> tuple[np.ndarray, list, list]:
        """The lines numbered past self.line, up to self.line + span: their columns
        (lines of no entry are read and left out)."""
        n, *texts = self.conn.execute(_STORED_SQL, (self.line, span)).fetchone()
        cols = [_ints(t) for t in texts]
        if all(len(c) == n for c in cols) and (np.diff(cols[0]) > 0).all():
            ints = np.stack(cols)
            if not n:
                return ints, [], []
            entry, seq, eids, periods = self.conn.execute(
                _ENTRIES_SQL, (int(ints[1].min()), int(ints[1].max()))).fetchone()
            entry, seq = _ints(entry), _ints(seq)
            if len(entry) == len(seq) and (np.diff(entry) > 0).all():
                at = np.minimum(np.searchsorted(entry, ints[1]), max(len(entry) - 1, 0))
                found = entry[at] == ints[1] if len(entry) else np.zeros(n, bool)
                if not found.all():  # a line of no entry: not a line of any event
                    ints, at = ints[:, found], at[found]
                ints[1] = seq[at]
                # each line's event id and period, its entry's
                eids = np.array(msgspec.json.decode(eids), object)[at].tolist()
                periods = np.array(msgspec.json.decode(periods), object)[at].tolist()
                return ints, eids, periods
        # not integers throughout (a value edited into text or a real), or group_concat
        # in another order: the same rows one by one, compared as they are
        rows = self.conn.execute(_ROWS_SQL, (self.line, span)).fetchall()
        ints = np.empty((len(_INTS), len(rows)), object)
        if rows:
            ints[:] = np.array([[0 if v is None else v for v in r[:len(_INTS)]] for r in rows],
                               object).T
        return ints, [r[-2] for r in rows], [r[-1] for r in rows]


class _Ids:
    """The live journal's `names` ids of the engine's accounts and names (-1: a text
    the live journal has no id for), and the texts of both sides' ids."""

    def __init__(self, live):
        self.text = dict(live.execute("SELECT id, name FROM names"))
        self.text[0] = None  # no dimension
        self.id = {name: i for i, name in self.text.items() if name is not None}
        self.ledger, self.accounts, self.names = None, np.zeros(0, np.int64), np.zeros(1, np.int64)

    def of(self, ledger) -> tuple[np.ndarray, np.ndarray]:
        if ledger is not self.ledger or len(self.accounts) != len(ledger.codes):
            self.ledger = ledger
            self.accounts = np.array([self.id.get(c, -1) for c in ledger.codes], np.int64)
            self.names = np.zeros(1, np.int64)
        if len(self.names) < len(ledger.names):
            new = [self.id.get(t, -1) for t in ledger.names[len(self.names):]]
            self.names = np.concatenate([self.names, np.array(new, np.int64)])
        return self.accounts, self.names


def _stored_rows(ints, eids, periods, text) -> list[tuple]:
    """Stored lines as compared rows: (event id, period, account, debit, credit, work
    order, item, work center, memo), names as their text."""
    return [(e, p, text.get(a), d, c, text.get(w), text.get(i), text.get(wc), text.get(m))
            for (_, _, a, d, c, w, i, wc, m), e, p in zip(ints.T.tolist(), eids, periods)]


def _rebuilt_rows(block, eids, periods, ledger) -> list[tuple]:
    codes, names = ledger.codes, ledger.names
    return [(e, p, codes[a], max(x, 0), max(-x, 0), names[w], names[i], names[wc], names[m])
            for (a, x, i, w, wc, m), e, p in zip(block.T.tolist(), eids, periods)]


_TRACKED = ("wo_release", "wo_start", "wo_close")


def replay(live_db: str, master, target: str, *, chunk: int = CHUNK,
           progress: Progress | None = None, alerts=None) -> Replayed:
    """Replay every stored event, in sequence order, through a fresh engine, comparing
    as it goes: each chunk's journal lines with the stored ones, and at the end the
    projections, which are written into a file of projections only at `target`
    (no events, no lines). `alerts` (an AlertsSection) judges the events as the live
    gateway did, into that file."""
    from costing.engine import Engine
    from gateway import gc_policy, projections, schema
    from gateway.alerts import AlertBook
    from gateway.master_versions import Masters
    from gateway.replay import stored_chunks
    from gateway.spill import spill_files

    live = connect(live_db, readonly=True)
    live.execute("BEGIN")  # one snapshot of the live journal for the whole comparison
    # each event valued against the master data it was committed with (none recorded:
    # a journal of an older schema, valued against `master`)
    masters = Masters(live)
    starts = [v.from_seq for v in masters.versions[1:]]
    rebuilt = connect(target, "NORMAL")
    rebuilt.execute("PRAGMA synchronous=OFF")
    schema.create(rebuilt)
    spill = tempfile.TemporaryDirectory(prefix="gateway-replay-")
    out = Replayed(tables=[TableDiff("journal_lines")])
    lines, stored = out.tables[0], _Stored(live)
    ids = _Ids(live)

    def bad(seq: int, event_id: str, why: str) -> None:
        out.events += 1
        out.not_applied += 1
        if len(out.unapplied) < EXAMPLES:
            out.unapplied.append(f"seq {seq} ({event_id}): rejected: {why}")

    t0 = time.perf_counter()
    last_seq = 0
    try:
        engine = Engine(masters.first() if masters.versions else master, 1 << 16,
                        spill_files(spill.name))
        book = None if alerts is None else AlertBook(alerts, engine.master)
        current = masters.at(1)
        while True:
            version = masters.at(last_seq + 1)
            if version is not None and version != current:
                engine = masters.switch(engine, version)
                if book is not None:
                    book.use_master(engine.master)
                current = version
            limit = min([chunk] + [f - last_seq - 1 for f in starts if f > last_seq + 1])
            before = out.events
            got = next(stored_chunks(live, chunk=limit, after=last_seq, bad=bad), None)
            if got is None:
                break
            last_seq, seqs, events = got
            # the cyclic GC off for the chunk (gc_policy.paused: the engine, the
            # alert book and the projections build no cycles that outlive it), then one
            # collection of what the chunk left, the youngest generation only: the
            # collections its allocations would trigger, some of them of every object
            # (the engine's state grows with the plant), were ~7 % of a 100k replay
            with gc_policy.paused():
                _chunk(live, rebuilt, engine, book, seqs, events, out, lines, stored, ids,
                       last_seq, projections)
            gc.collect(0)
            if progress is not None:
                progress.advance(out.events - before)
        ints, eids, periods = stored.through(2 ** 62, 0)  # lines of no stored event
        lines.add(_stored_rows(ints, eids, periods, ids.text), [])
        out.seconds = time.perf_counter() - t0
        for name, query in PROJECTIONS.items():
            t = TableDiff(name)
            t.add(live.execute(query).fetchall(), rebuilt.execute(query).fetchall())
            out.tables.append(t)
    finally:
        rebuilt.close()
        live.close()
        spill.cleanup()
    return out


def _chunk(live, rebuilt, engine, book, seqs, events, out, lines, stored, ids, last_seq,
           projections) -> None:
    """One chunk of stored events through the engine: not applied counted, their lines
    compared with the stored ones, their projections (and alerts) written to `rebuilt`."""
    from gateway.alerts.book import moved_per_event

    out.events += len(events)
    posted = engine.post_many(events)
    refused = posted.refused()
    for k in refused:
        out.not_applied += 1
        if len(out.unapplied) < EXAMPLES:
            out.unapplied.append(f"seq {seqs[k]} ({events[k].id}): rejected:"
                                 f" {posted.refusal(k).reason}")
    if refused:
        no = set(refused)
        ok = [k for k in range(len(events)) if k not in no]
        applied, applied_seqs = [events[k] for k in ok], [seqs[k] for k in ok]
    else:
        ok, applied, applied_seqs = range(len(events)), events, seqs
    counts, block = posted.line_counts(), posted.line_block()
    # the lines, compared as integer columns of the live journal's ids, column by column
    accounts, names = ids.of(engine.ledger)
    amount = block[1]
    mine = (np.repeat(np.array(seqs, np.int64), counts), accounts[block[0]],
            np.maximum(amount, 0), np.maximum(-amount, 0), names[block[3]], names[block[2]],
            names[block[4]], names[block[5]])
    posting = np.flatnonzero(counts)
    per = counts[posting]
    heads = [events[k] for k in posting.tolist()]
    eids = np.repeat(np.array([e.id for e in heads], object), per).tolist()
    periods = np.repeat(np.array([e.ts[:7] for e in heads], object), per).tolist()
    s_ints, s_eids, s_periods = stored.through(last_seq, block.shape[1])
    if (s_ints.shape[1] == block.shape[1] and s_eids == eids and s_periods == periods
            and all((s_ints[j] == col).all() for j, col in enumerate(mine, 1))):
        lines.live += block.shape[1]
        lines.rebuilt += block.shape[1]
    else:
        lines.add(_stored_rows(s_ints, s_eids, s_periods, ids.text),
                  _rebuilt_rows(block, eids, periods, engine.ledger))
    # the projections, and the alerts judged as the live journal's writer judges them
    moves = posted.moves()
    marks: dict[str, dict[str, int]] = {}
    orders: set[str] = set()
    rebuilt.execute("BEGIN")
    if book is not None:
        book.begin(rebuilt)
        _reversed_targets(live, rebuilt, applied)
        moved = moved_per_event(moves, engine.inv.row_keys)
        ledger, line_end, line0 = engine.ledger, posted.line_end, posted.line0
    for seq, event in zip(applied_seqs, applied):
        if event.type in _TRACKED:
            projections.track(rebuilt, seq, event, marks)
        order = getattr(event, "work_order", None)
        if order:
            orders.add(order)
    if book is not None:  # the chunk at once, as the live writer judges its batch
        book.judge_batch(applied, moved if not refused else
                         {j: moved[k] for j, k in enumerate(ok) if k in moved},
                         lambda j: ledger.amounts(line_end[ok[j] - 1] if ok[j] else line0,
                                                  line_end[ok[j]]))
        book.flush()  # before the projections: it reads them as they stood
    items, orders = projections.touched(engine, orders, block, moves[1])
    if items:
        projections.project_items(rebuilt, engine, items)
    if orders:
        projections.project_orders(rebuilt, engine, orders, marks)
    rebuilt.execute("COMMIT")


def _reversed_targets(live, rebuilt, events) -> None:
    """The stored events reversed in this chunk, for the alert book to read back."""
    targets = [e.reverses for e in events if e.type == "reversal"]
    if targets:
        rebuilt.executemany(
            "INSERT OR IGNORE INTO events(seq, id, type, ts, source, payload, received_at,"
            " reading) VALUES (?,?,?,?,?,?,?,?)",
            [row for t in targets for row in live.execute(
                "SELECT seq, id, type, ts, source, payload, received_at, reading FROM events"
                " WHERE id = ?", (t,))])


def run(args) -> int:
    plant = load_plant(args)
    if args.from_snapshot:
        return verify_snapshot(plant)
    live = open_readonly(plant)
    total = live.execute("SELECT count(*) FROM events").fetchone()[0]
    live.close()
    progress = Progress("replay", total)
    from gateway.master_versions import VersionError
    with tempfile.TemporaryDirectory(prefix="gateway-replay-") as tmp:
        target = args.keep or os.path.join(tmp, "replay.db")
        for path in (target, target + "-wal", target + "-shm"):
            if os.path.exists(path):
                os.remove(path)
        try:
            result = replay(plant.db, plant.master, target, chunk=max(1, args.chunk),
                            progress=progress, alerts=plant.config.alerts)
        except VersionError as exc:
            progress.done()
            print(f"replay cannot value the events from seq {exc.seq}: {exc}")
            return 1
    progress.done()
    summary = result.summary()
    diff = summary["differences"]
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return 1 if diff else 0
    print(f"replayed {result.events:,} events in {result.seconds:.2f} s"
          f" ({summary['events_per_s']:,.0f} events/s), {summary['journal_lines']:,} journal"
          " lines compared", file=sys.stderr)
    if diff:
        print("\n".join(["replay differs from the live journal:", *diff]))
        return 1
    print("replay identical: journal, stock, item costs, work orders, active orders, alerts")
    return 0


def verify_snapshot(plant) -> int:
    """`--from-snapshot`: the engine restored from the snapshot and the events after it
    against a full replay; exit 1 when it is refused or differs."""
    from gateway import snapshots
    from gateway.spill import spill_files

    live = open_readonly(plant)
    try:
        with tempfile.TemporaryDirectory(prefix="gateway-replay-") as tmp:
            ok, message = snapshots.verify(snapshots.snapshot_path(plant.db), live,
                                           plant.master, 1 << 16, spill_files(tmp))
    finally:
        live.close()
    print(message)
    return 0 if ok else 1
