"""`gateway replay -c FILE`: rebuild journal and projections from the events alone, into a
scratch database, and report every difference from the live one (exit 1 if any).

The replay streams: stored events are read a chunk at a time, applied to the scratch
journal in one transaction per chunk, and the journal lines that chunk produced are
compared there and then with the live lines of the same events; the projections (stock,
item costs, work orders, active orders: as large as the plant, not its history) are
compared at the end. What stays in memory is the engine's state and one chunk, whatever
the journal's length. Progress goes to a terminal; `--format json` gives the summary as
one JSON object.
"""

from __future__ import annotations

import bisect
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from operator import itemgetter

import msgspec

from gateway.commands._common import add_config, load_plant, open_readonly
from gateway.commands.progress import Progress
from gateway.journal import Journal, Submission, connect
from gateway.replay import stored_list as _stored_list

LINE_COLUMNS = ("event_id, period, account, debit, credit, work_order, item, work_center,"
                " memo")
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
    p.add_argument("--keep", metavar="PATH", help="keep the rebuilt database at PATH")
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


class _Lines:
    """Live journal lines in line order, handed out by the seq of their event; named
    columns as their ids into `names` (gateway.schema), as stored."""

    def __init__(self, conn):
        self.cur = conn.execute(
            f"SELECT e.event_seq, {', '.join('l.' + c for c in LINE_COLUMNS.split(', '))}"
            " FROM journal_line_ids l JOIN entries e ON e.entry = l.entry ORDER BY l.line")
        self.buf: list[tuple] = []
        self.pos = 0

    def through(self, seq: int) -> list[tuple]:
        """The lines of every event up to `seq` not handed out yet (without the seq)."""
        out: list[tuple] = []
        while True:
            if self.pos == len(self.buf):
                self.buf, self.pos = self.cur.fetchmany(20000), 0
                if not self.buf:
                    return out
            end = bisect.bisect_right(self.buf, seq, lo=self.pos, key=itemgetter(0))
            out += [r[1:] for r in self.buf[self.pos:end]]
            self.pos = end
            if end < len(self.buf):
                return out


_NAMED = (2, 5, 6, 7, 8)  # account, work order, item, work center, memo in a line row


class _Names:
    """Lines of the two journals compared by their ids while the rebuilt journal numbers
    each name as the live one does (the same events in the same order name things in
    the same order); from the first name numbered otherwise on, by their text."""

    def __init__(self, live, scratch):
        self.live = dict(live.execute("SELECT id, name FROM names"))
        self.scratch, self.conn, self.by_id = {}, scratch, True

    def compared(self, a: list[tuple], b: list[tuple]) -> tuple[list[tuple], list[tuple]]:
        """The live rows `a` and rebuilt rows `b` in a form that is equal when they are."""
        top = max(self.scratch, default=0)
        new = self.conn.execute("SELECT id, name FROM names WHERE id > ?", (top,)).fetchall()
        self.scratch.update(new)
        if self.by_id and all(self.live.get(i) == name for i, name in new) and a == b:
            return a, b
        self.by_id = False
        return _text(a, self.live), _text(b, self.scratch)


def _text(rows: list[tuple], names: dict[int, str]) -> list[tuple]:
    out = []
    for r in rows:
        r = list(r)
        for k in _NAMED:
            r[k] = names.get(r[k])
        out.append(tuple(r))
    return out


def _submissions(rows: list[tuple], max_bytes: int) -> list[Submission]:
    """The stored events of a chunk as submissions, decoded in one msgspec call (a stored
    payload is canonical: it is its own canonical bytes); a chunk that does not decode
    as a whole, or a payload over the size limit, goes as text, so the journal names
    what is wrong with it."""
    try:
        events = _stored_list.decode("[" + ",".join([r[2] for r in rows]) + "]")
    except msgspec.DecodeError:
        return [Submission(p, source=s, reading=r) for _, _, p, s, r in rows]
    return [Submission(p, source=s, reading=r, event=e, canon=p.encode())
            if len(p) <= max_bytes else Submission(p, source=s, reading=r)
            for (_, _, p, s, r), e in zip(rows, events)]


def replay(live_db: str, master, target: str, *, chunk: int = CHUNK,
           progress: Progress | None = None, alerts=None) -> Replayed:
    """Replay every stored event, in sequence order, into a fresh journal at target,
    comparing as it goes; `alerts` (an AlertsSection) judges them as the live gateway did."""
    from gateway.alerts import AlertBook
    from gateway.master_versions import Masters
    live = connect(live_db, readonly=True)
    live.execute("BEGIN")  # one snapshot of the live journal for the whole comparison
    # each event valued against the master data it was committed with (none recorded:
    # a journal of an older schema, valued against `master`)
    masters = Masters(live)
    starts = [v.from_seq for v in masters.versions[1:]]
    # stored events were judged when they came in: a held PO line was confirmed by then
    scratch = Journal(target, masters.first() if masters.versions else master,
                      synchronous="NORMAL", rebuild=False, unknown_po="accept",
                      alerts=None if alerts is None else AlertBook(alerts, master))
    out = Replayed(tables=[TableDiff("journal_lines")])
    lines, live_lines = out.tables[0], _Lines(live)
    names = _Names(live, scratch.conn)
    t0 = time.perf_counter()
    last_seq = last_line = 0
    try:
        current = masters.at(1)
        while True:
            version = masters.at(last_seq + 1)
            if version is not None and version != current:
                scratch.use_master(masters.get(version))
                current = version
            limit = min([chunk] + [f - last_seq - 1 for f in starts if f > last_seq + 1])
            rows = live.execute("SELECT seq, id, payload, source, reading FROM events"
                                " WHERE seq > ? ORDER BY seq LIMIT ?",
                                (last_seq, limit)).fetchall()
            if not rows:
                break
            last_seq = rows[-1][0]
            results = scratch.submit(_submissions(rows, scratch.limits.max_payload_bytes))
            for (seq, eid, *_), res in zip(rows, results):
                if res.status != "applied":
                    out.not_applied += 1
                    if len(out.unapplied) < EXAMPLES:
                        out.unapplied.append(f"seq {seq} ({eid}): {res.status}: {res.reason}")
            new = scratch.conn.execute(f"SELECT line, {LINE_COLUMNS} FROM journal_line_ids"
                                       " WHERE line > ? ORDER BY line", (last_line,)).fetchall()
            if new:
                last_line = new[-1][0]
            lines.add(*names.compared(live_lines.through(last_seq), [r[1:] for r in new]))
            out.events += len(rows)
            if progress is not None:
                progress.advance(len(rows))
        lines.add(*names.compared(live_lines.through(2 ** 62), []))  # of no stored event
        out.seconds = time.perf_counter() - t0
        for name, query in PROJECTIONS.items():
            t = TableDiff(name)
            t.add(live.execute(query).fetchall(), scratch.conn.execute(query).fetchall())
            out.tables.append(t)
    finally:
        scratch.close()
        live.close()
    return out


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
