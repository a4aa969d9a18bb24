"""Batching rules (see docs/architecture.md): size, age, period, whole entries, summary vs detail, balance."""

import hashlib
import itertools
import json
import random
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import failpoints
from gateway.upstream.batcher import Batcher, BatchUnbalanced, EntryLines, build_payload

from .ledger import journal_totals, labor, open_db, post


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def batches(conn):
    return [json.loads(p) for (p,) in conn.execute("SELECT payload FROM batches ORDER BY seq")]


def make(conn, clock=None, **kw):
    kw.setdefault("max_lines", 500)
    kw.setdefault("max_seconds", 5)
    return Batcher(conn, "plant1", "EUR", 2, clock=clock or FakeClock(),
                   wall=lambda: "2026-11-22T04:00:00.000Z", **kw)


def test_size_closes_a_batch_and_a_young_remainder_waits(conn):
    for cents in (100, 200, 300, 400, 500):
        labor(conn, cents)                           # 5 entries x 2 lines
    b = make(conn, max_lines=4)
    assert b.run_once() == [1, 2]                    # 4 + 4 lines; the last 2 lines are young
    assert [len(x["entries"]) for x in batches(conn)] == [2, 2]
    assert conn.execute("SELECT COUNT(*) FROM journal_lines WHERE batch_seq IS NULL").fetchone()[0] == 2


def test_age_from_first_sight_on_the_injected_monotonic_clock(conn):
    clock = FakeClock()
    b = make(conn, clock, max_seconds=5)
    labor(conn, 100)
    assert b.run_once() == []                        # seen at t=1000
    clock.t += 4.9
    labor(conn, 200)
    assert b.run_once() == []
    clock.t += 0.1                                   # oldest line is 5 s old now
    assert b.run_once() == [1]
    assert batches(conn)[0]["entries"] == [1, 2]


def test_wall_clock_stepping_back_changes_nothing(conn):
    walls = iter(["2026-11-22T04:00:00.000Z", "2026-11-21T23:00:00.000Z"])
    clock = FakeClock()
    b = Batcher(conn, "plant1", "EUR", 2, max_seconds=5, clock=clock, wall=lambda: next(walls))
    labor(conn, 100)
    b.run_once()
    clock.t += 5
    assert b.run_once() == [1]
    labor(conn, 200)
    b.run_once()
    clock.t += 5
    assert b.run_once() == [2]                       # created_at went back; seq and content did not
    got = batches(conn)
    assert [x["seq"] for x in got] == [1, 2]
    assert [x["created_at"] for x in got] == ["2026-11-22T04:00:00.000Z", "2026-11-21T23:00:00.000Z"]


def test_never_across_a_period(conn):
    labor(conn, 100, period="2026-10")
    labor(conn, 200, period="2026-10")
    labor(conn, 300, period="2026-11")
    b = make(conn)
    # The October batch can never grow again: it goes at once; November waits for age.
    assert b.run_once() == [1]
    assert b.run_once(force=True) == [2]
    got = batches(conn)
    assert [(x["period"], x["entries"]) for x in got] == [("2026-10", [1, 2]), ("2026-11", [3])]


def test_whole_entries_only_even_when_an_entry_is_larger_than_max_lines(conn):
    post(conn, [("1400", 300, 0), ("1310", 0, 100), ("1320", 0, 200)])           # 3 lines
    post(conn, [("1400", 600, 0)] + [("1310", 0, 100)] * 6)                      # 7 lines
    post(conn, [("1400", 50, 0), ("5100", 0, 50)])                                # 2 lines
    b = make(conn, max_lines=4)
    b.run_once(force=True)
    got = batches(conn)
    assert [x["entries"] for x in got] == [[1], [2], [3]]
    for seq, entry in ((1, 1), (2, 2), (3, 3)):
        lines = conn.execute("SELECT DISTINCT batch_seq FROM journal_lines WHERE entry = ?", (entry,)).fetchall()
        assert lines == [(seq,)]


def test_summarized_keeps_debit_and_credit_apart_per_account_and_work_center(conn):
    post(conn, [("1400", 1000, 0, "WC-A"), ("5100", 0, 1000, "WC-A")])
    post(conn, [("1400", 230, 0, "WC-A"), ("5100", 0, 230, "WC-A")])
    post(conn, [("5100", 500, 0, "WC-A"), ("1400", 0, 500, "WC-A")])   # a reversal-like entry
    post(conn, [("1400", 5, 0, "WC-B"), ("5100", 0, 5, "WC-B")])
    make(conn).run_once(force=True)
    (batch,) = batches(conn)
    assert batch["lines"] == [
        {"account": "1400", "work_center": "WC-A", "debit": "12.30", "credit": "5.00"},
        {"account": "1400", "work_center": "WC-B", "debit": "0.05", "credit": "0.00"},
        {"account": "5100", "work_center": "WC-A", "debit": "5.00", "credit": "12.30"},
        {"account": "5100", "work_center": "WC-B", "debit": "0.00", "credit": "0.05"},
    ]
    assert batch["totals"] == {"debit": "17.35", "credit": "17.35"}
    assert {k: batch[k] for k in ("batch_id", "seq", "period", "currency", "entries")} == {
        "batch_id": "plant1-1", "seq": 1, "period": "2026-11", "currency": "EUR", "entries": [1, 2, 3, 4]}


def test_detail_mode_one_line_per_journal_line(conn):
    post(conn, [("1400", 1230, 0, "WC-A", "WO-1", "FG-1", "completion"),
                ("1330", 0, 1230, None, "WO-1", "FG-1", "")])
    make(conn, summarize=False).run_once(force=True)
    (batch,) = batches(conn)
    assert batch["lines"] == [
        {"account": "1400", "debit": "12.30", "credit": "0.00", "work_center": "WC-A",
         "work_order": "WO-1", "item": "FG-1", "memo": "completion", "entry": 1},
        {"account": "1330", "debit": "0.00", "credit": "12.30", "work_center": None,
         "work_order": "WO-1", "item": "FG-1", "memo": "", "entry": 1},
    ]


def test_an_unbalanced_entry_is_held_out_and_reported_once(conn):
    labor(conn, 100)
    bad = post(conn, [("1400", 100, 0), ("5100", 0, 99)])
    labor(conn, 300)
    b = make(conn)
    assert b.run_once(force=True) == [1]
    assert b.run_once(force=True) == []
    assert batches(conn)[0]["entries"] == [1, 3]
    rows = conn.execute("SELECT kind, source, field, reason, raw FROM exceptions").fetchall()
    assert len(rows) == 1
    kind, source, field, reason, raw = rows[0]
    assert (kind, source, field) == ("unbalanced_entry", f"entry:{bad}", "entry")
    assert "debit 100 != credit 99" in reason
    assert [r["credit"] for r in json.loads(raw)] == [0, 99]
    # A restarted batcher remembers the hold (from the exceptions table).
    assert make(conn).held_entries == {bad}


def test_batch_row_and_line_marks_commit_together(conn):
    labor(conn, 100)
    failpoints.arm("batcher.before_commit", "raise")
    with pytest.raises(failpoints.FailpointError):
        make(conn).run_once(force=True)
    assert conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM journal_lines WHERE batch_seq IS NULL").fetchone()[0] == 2
    failpoints.disarm()
    assert make(conn).run_once(force=True) == [1]


def test_the_batches_of_one_round_commit_together(conn):
    for cents in (100, 200, 300):
        labor(conn, cents)
    failpoints.arm("batcher.before_commit", "raise", 2)     # after batch 2 of the round
    with pytest.raises(failpoints.FailpointError):
        make(conn, max_lines=2).run_once(force=True)
    assert conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM journal_lines WHERE batch_seq IS NULL").fetchone()[0] == 6
    failpoints.disarm()
    assert make(conn, max_lines=2).run_once(force=True) == [1, 2, 3]


def test_names_first_written_after_a_round_are_read_with_their_lines(conn):
    b = make(conn, summarize=False)
    labor(conn, 100)
    assert b.run_once(force=True) == [1]
    post(conn, [("1400", 50, 0, "WC-NEW", "WO-NEW", "FG-NEW", "new memo"), ("5100", 0, 50, "WC-ASSY")])
    assert b.run_once(force=True) == [2]
    first = batches(conn)[1]["lines"][0]
    assert (first["work_center"], first["work_order"], first["item"], first["memo"]) == \
        ("WC-NEW", "WO-NEW", "FG-NEW", "new memo")
    assert batches(conn)[1]["lines"][1]["work_order"] is None


def test_bad_limits_are_named(conn):
    with pytest.raises(ValueError, match="max_lines must be >= 1 \\(got 0\\)"):
        make(conn, max_lines=0)


entry_st = st.tuples(
    st.sampled_from(["2026-10", "2026-11", "2026-12"]),
    st.lists(st.tuples(st.sampled_from(["1310", "1400", "5100", "6000"]),
                       st.sampled_from([None, "WC-A", "WC-B"]),
                       st.integers(1, 10**7)), min_size=1, max_size=4))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(entry_st, min_size=1, max_size=12), max_lines=st.integers(1, 9),
       summarize=st.booleans())
def test_property_every_line_in_exactly_one_balanced_period_pure_batch(entries, max_lines, summarize):
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "g.db", "NORMAL")   # many tiny files: skip the fsyncs
        try:
            for period, debits in entries:
                # each debit line is offset by a credit line on another account
                lines = [(a, amt, 0, wc) for a, wc, amt in debits]
                lines += [("2100", 0, amt, wc) for _, wc, amt in debits]
                post(conn, lines, period)
            Batcher(conn, "g", "EUR", 2, max_lines=max_lines, summarize=summarize).run_once(force=True)
            _check_batches(conn, max_lines)
        finally:
            conn.close()


def _check_batches(conn: sqlite3.Connection, max_lines: int) -> None:
    assert conn.execute("SELECT COUNT(*) FROM journal_lines WHERE batch_seq IS NULL").fetchone()[0] == 0
    seen_entries = []
    applied: dict[str, list[int]] = {}
    for seq, (payload,) in enumerate(conn.execute("SELECT payload FROM batches ORDER BY seq"), 1):
        b = json.loads(payload)
        assert b["seq"] == seq and b["batch_id"] == f"g-{seq}"
        assert b["totals"]["debit"] == b["totals"]["credit"]
        rows = conn.execute("SELECT entry, period FROM journal_lines WHERE batch_seq = ?", (seq,)).fetchall()
        assert {p for _, p in rows} == {b["period"]}
        assert sorted({e for e, _ in rows}) == b["entries"]
        assert len(rows) <= max_lines or len(b["entries"]) == 1
        seen_entries += b["entries"]
        for line in b["lines"]:
            acc = applied.setdefault(line["account"], [0, 0])
            acc[0] += int(line["debit"].replace(".", ""))
            acc[1] += int(line["credit"].replace(".", ""))
    assert seen_entries == sorted(seen_entries)          # line order kept, no entry twice
    assert {a: tuple(v) for a, v in applied.items()} == journal_totals(conn)


def test_a_large_backlog_is_read_in_bounded_rounds_of_whole_entries(conn):
    for i in range(7):
        post(conn, [("1400", 300 + i, 0), ("1310", 0, 100), ("1320", 0, 200 + i)])   # 3 lines each
    b = make(conn, max_lines=6, read_limit=7)     # 7 lines = 2 whole entries + 1 cut entry
    assert b.run_once(force=True) == [1]          # entries 1-2; entry 3 waits for the next round
    assert b.run_once(force=True) == [2]
    assert b.run_once(force=True) == [3]
    assert b.run_once(force=True) == [4]          # entry 7 alone
    assert b.run_once(force=True) == []
    assert [x["entries"] for x in batches(conn)] == [[1, 2], [3, 4], [5, 6], [7]]


def test_an_entry_longer_than_the_read_limit_is_read_whole(conn):
    post(conn, [("1400", 900, 0)] + [("1310", 0, 100)] * 9)                          # 10 lines
    assert make(conn, max_lines=4, read_limit=3).run_once(force=True) == [1]
    assert conn.execute("SELECT COUNT(*) FROM journal_lines WHERE batch_seq = 1").fetchone()[0] == 10


def test_held_lines_do_not_fill_the_read_window(conn):
    post(conn, [("1400", 100, 0), ("5100", 0, 99)] * 2)          # 4 lines that do not balance
    b = make(conn, max_lines=4, read_limit=4)
    assert b.run_once(force=True) == []
    labor(conn, 100)
    assert b.run_once(force=True) == [1]                          # read past the held lines


def test_batches_another_process_wrote_meanwhile_are_seen(conn, db_path):
    for cents in (100, 200, 300):
        labor(conn, cents)
    ours = make(conn, max_lines=4)
    assert ours.run_once() == [1]                 # entries 1-2; entry 3 waits, young
    labor(conn, 400)
    other = open_db(db_path)
    try:
        assert make(other, max_lines=4).run_once(force=True) == [2]   # takes entries 3-4
    finally:
        other.close()
    labor(conn, 500)
    assert ours.run_once(force=True) == [3]       # not entry 3 again: it reads anew
    assert [x["entries"] for x in batches(conn)] == [[1, 2], [3, 4], [5]]


def test_build_payload_refuses_an_unbalanced_batch():
    e = EntryLines(1, "2026-11", [(1, 1, "ev-1", 100, 0, "1400", None, None, None, "", "2026-11"),
                                      (2, 1, "ev-1", 0, 99, "5100", None, None, None, "", "2026-11")])
    with pytest.raises(BatchUnbalanced, match="batch g-1: debit 100 != credit 99"):
        build_payload(gateway_id="g", seq=1, period="2026-11", currency="EUR", decimals=2,
                      entries=[e], summarize=True, created_at="x")


# The digest of the batches a fixed journal gives, batched in rounds as the forwarder does,
# restarted once (made before the batcher read names as ids and only the lines above those
# it had read); by (summarize, read_limit): a small read_limit cuts most rounds (and comes
# without held entries: their lines filled it, and the code before batched nothing more).
FIXED_JOURNAL_DIGESTS = {
    (True, None): "3cb8c4f2d149df5c412d7f0466ba048abb321ba47663be602d620a18d3644965",
    (False, None): "71872976998a2b5ca74b388e7b4543acaec86fab7a8d52db59ed56482f553358",
    (True, 14): "002f489d7da1c6a3d7fb637ea0e7555b318f456adeb263405c11374dca470529",
    (False, 14): "f237f59241a52a9c40fad3785c4ec1e8cb085abde6e1d6d24daacca357bdd91f",
}


@pytest.mark.parametrize("summarize, read_limit", list(FIXED_JOURNAL_DIGESTS))
def test_the_batches_of_a_fixed_journal_stay_the_same_bytes(conn, summarize, read_limit):
    """Payloads, seqs, which line went in which batch and the held entries' exceptions: a
    change to any of them (a key's order, an amount's text, a batch's bounds) shows."""
    assert _fixed_journal_digest(conn, summarize, read_limit) == \
        FIXED_JOURNAL_DIGESTS[summarize, read_limit]


def _fixed_journal_digest(conn: sqlite3.Connection, summarize: bool, read_limit: int | None) -> str:
    rng = random.Random(7)
    clock = FakeClock()
    walls = itertools.count()
    start = lambda: Batcher(conn, "plant1", "EUR", 2, max_lines=12, max_seconds=1,  # noqa: E731
                            summarize=summarize, clock=clock, read_limit=read_limit,
                            wall=lambda: f"2026-11-22T04:{next(walls):05d}.000Z")
    batcher = start()
    rounds = []
    for n in range(60):
        for _ in range(rng.randrange(4)):
            lines = []
            for _ in range(rng.choice([1, 1, 2, 8])):
                cents = rng.randrange(1, 10**6)
                wc = rng.choice([None, "WC-A", "WC-B", f"WC-{n}"])
                lines += [("1400", cents, 0, wc, rng.choice([None, "WO-1"]), "FG-1", "completion"),
                          (rng.choice(["1310", "5100"]), 0, cents, wc)]
            if rng.random() < 0.05 and read_limit is None:
                lines.append(("6000", 1, 0))                    # does not balance: held
            post(conn, lines, "2026-11" if n < 40 else "2026-12", f"ev-{n}-{len(rounds)}-{rng.random()}")
        if n == 30:
            batcher = start()
        rounds.append((batcher.run_once(force=n % 17 == 16), batcher.backlog))
        clock.t += 0.2
    while written := batcher.run_once(force=True):
        rounds.append(written)
    digest = hashlib.sha256(repr(rounds).encode())
    for query in ("SELECT * FROM batches ORDER BY seq", "SELECT line, batch_seq FROM journal_lines ORDER BY line",
                  "SELECT source, event_id, reason, raw FROM exceptions ORDER BY id"):
        digest.update(repr(conn.execute(query).fetchall()).encode())
    return digest.hexdigest()


def test_a_line_naming_an_id_names_does_not_hold_is_said_to_be_a_damaged_journal(tmp_path):
    from gateway.upstream.batcher import _Names

    names = _Names({None: None, 1: "1100"})
    assert names[1] == "1100" and names[None] is None
    with pytest.raises(RuntimeError, match="a line names id 7, which `names` does not hold"):
        names[7]
