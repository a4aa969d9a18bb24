"""The journal over a real SQLite file: exactly once, bad input kept, all or nothing."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from gateway import failpoints
from gateway.commands.replay import replay
from gateway.config import load_config
from gateway.journal import Journal, JournalBusy, JournalFull, SideEffects, Submission
from gateway.masterdata import load_master
from tests.gateway.plant import ev, gateway, write_events, write_plant


@pytest.fixture
def plant(tmp_path):
    cfg = load_config(write_plant(tmp_path))
    return cfg, load_master(cfg)


@pytest.fixture
def journal(plant, tmp_path):
    cfg, master = plant
    j = Journal(str(tmp_path / "j.db"), master)
    yield j
    j.close()


def _one(journal: Journal, raw, source="test") -> object:
    [res] = journal.submit([Submission(raw, source=source)])
    return res


RECEIPT = ev("r1", "receipt", item="A", qty=10, location="L1", unit_price=2.0)


@pytest.mark.parametrize("raw, field, words", [
    (ev("b1", "receipt", item="ZZ", qty=1, location="L1", unit_price=1), "item", "'ZZ'"),
    (ev("b2", "receipt", item="A", qty=1, location="MOON", unit_price=1), "location", "'MOON'"),
    (ev("b3", "receipt", item="A", qty=0, location="L1", unit_price=1), "qty", "> 0"),
    (ev("b4", "issue", work_order="WO-404", item="A", qty=1), "work_order", "WO-404"),
    (ev("b5", "receipt", item="A", location="L1", unit_price=1), "qty", "missing"),
    (ev("b6", "receipt", item="A", qty="ten", location="L1", unit_price=1), "qty", "'ten'"),
    (ev("b7", "teleport", item="A"), "type", "'teleport'"),
    (ev("b8", "receipt", item="A", qty=1, location="L1", unit_price=1, colour="red"),
     "colour", "unknown field"),
    ({**ev("b9", "wo_close", work_order="W"), "ts": "yesterday"}, "ts", "'yesterday'"),
    ('{"id": "b10", "type": ', None, "malformed JSON"),
])
def test_bad_input_is_rejected_naming_field_and_value_and_kept_verbatim(journal, raw, field,
                                                                        words):
    text = raw if isinstance(raw, str) else json.dumps(raw)
    res = _one(journal, text, source="file.jsonl:7")
    assert res.status == "rejected"
    assert res.field == field
    assert words in res.reason
    row = journal.conn.execute("SELECT kind, source, field, reason, raw FROM exceptions"
                               ).fetchone()
    assert row == ("rejected", "file.jsonl:7", field, res.reason, text)
    assert journal.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_a_bad_event_never_stops_the_rest_of_its_batch(journal):
    results = journal.submit([
        Submission(RECEIPT),
        Submission(ev("bad", "receipt", item="ZZ", qty=1, location="L1", unit_price=1)),
        Submission(ev("r2", "receipt", item="A", qty=5, location="L1", unit_price=2.2)),
    ])
    assert [r.status for r in results] == ["applied", "rejected", "applied"]
    assert [r.seq for r in results] == [1, None, 2]


def test_same_id_same_payload_is_acknowledged_other_payload_is_a_conflict(journal):
    assert _one(journal, RECEIPT).status == "applied"
    again = _one(journal, dict(RECEIPT))
    assert again.status == "duplicate" and again.accepted
    other = _one(journal, {**RECEIPT, "qty": 11})
    assert other.status == "rejected" and other.field == "id"
    assert "different payload" in other.reason
    assert journal.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
    assert journal.conn.execute("SELECT kind FROM exceptions").fetchall() == [("conflict",)]
    # ... and within one batch too
    res = journal.submit([Submission(ev("x", "wo_close", work_order="W")),
                          Submission({**RECEIPT, "id": "r9"}), Submission({**RECEIPT, "id": "r9"})])
    assert [r.status for r in res][1:] == ["applied", "duplicate"]


def test_disk_full_at_commit_applies_nothing_and_the_journal_recovers(journal):
    assert _one(journal, RECEIPT).status == "applied"
    failpoints.arm("journal.commit", "disk_full")
    try:
        with pytest.raises(JournalFull):
            journal.submit([Submission(ev("r2", "receipt", item="A", qty=5, location="L1",
                                          unit_price=2.2))],
                           side=SideEffects(counters=[("plc", "n", 0, 5)]))
    finally:
        failpoints.disarm()
    conn = journal.conn
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM counters").fetchone()[0] == 0
    # The engine was rebuilt from disk: the retried batch values from the stored state.
    res = journal.submit([Submission(ev("r2", "receipt", item="A", qty=5, location="L1",
                                        unit_price=2.2))])
    assert res[0].status == "applied"
    qty, value = conn.execute("SELECT qty, value FROM item_costs WHERE item='A'").fetchone()
    assert (qty, value) == (15.0, 3000)  # 15 kg at the 2.00 standard, not 20 kg


def test_lines_name_their_texts_by_id_and_a_failed_batch_leaves_no_stale_name(journal):
    """Account, item, order and memo are stored once each in `names`; the view shows the
    rows as text. A batch rolled back takes the names it added with it, and the journal
    does not keep handing out their ids."""
    assert _one(journal, RECEIPT).status == "applied"
    failpoints.arm("journal.commit", "disk_full")
    try:
        with pytest.raises(JournalFull):
            journal.submit([Submission(ev("s1", "shipment",
                                          item="A", qty=1, location="L1", unit_price=9.0,
                                          order="SO-GONE"))])
    finally:
        failpoints.disarm()
    # retried as a caller retries after JournalFull: the same memo text as before
    res = journal.submit([Submission(ev("s1", "shipment", item="A", qty=1, location="L1",
                                        unit_price=9.0, order="SO-GONE"))])
    assert res[0].status == "applied"
    conn = journal.conn
    texts = [r[0] for r in conn.execute("SELECT name FROM names")]
    assert len(texts) == len(set(texts))
    assert conn.execute("SELECT count(*) FROM journal_line_ids l LEFT JOIN names a"
                        " ON a.id = l.account WHERE a.id IS NULL").fetchone() == (0,)
    lines = conn.execute("SELECT event_id, account, item, memo FROM journal_lines"
                         " ORDER BY line").fetchall()
    assert {e for e, *_ in lines} == {RECEIPT["id"], "s1"}
    assert "shipment SO-GONE" in {m for *_, m in lines}
    assert all(isinstance(a, str) and a for _, a, _, _ in lines)
    assert ("A",) in {(i,) for _, _, i, _ in lines}


def _spill_day() -> list[list[Submission]]:
    """Batches of receipts and completions, then reversals of the first receipts: with
    a spill block of 8 rows the engine writes its spill file from the first batch on,
    and the reversals read the oldest lines back from it."""
    day = _big_day(60) + [ev(f"v{i}", "reversal", reverses=f"r{i}") for i in range(0, 9, 4)]
    return [[Submission(e) for e in day[k:k + 10]] for k in range(0, len(day), 10)]


def _books(j: Journal) -> tuple:
    q = j.conn.execute
    return (q("SELECT event_id, account, debit, credit, work_order, item, memo"
              " FROM journal_lines ORDER BY line").fetchall(),
            q("SELECT * FROM stock ORDER BY item, location, status, lot").fetchall(),
            q("SELECT * FROM item_costs ORDER BY item").fetchall(),
            q("SELECT id, payload FROM events ORDER BY seq").fetchall())


def test_a_full_disk_under_the_spill_file_is_waited_out_and_the_books_match_a_clean_run(
        plant, tmp_path):
    _, master = plant
    batches = _spill_day()
    clean = Journal(str(tmp_path / "clean.db"), master, spill_block=8)
    for batch in batches:
        assert all(r.status == "applied" for r in clean.submit(batch))
    full = Journal(str(tmp_path / "full.db"), master, spill_block=8)
    try:
        for batch in batches[:3]:
            full.submit(batch)
        stored = full.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        failpoints.arm("spill.write", "enospc")  # the disk fills up
        for _ in range(3):  # the gateway retries while it stays full: nothing applies
            with pytest.raises(JournalFull, match="No space left"):
                full.submit(batches[3])
        assert full.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == stored
        failpoints.disarm()  # space freed: the same batch goes through, and the rest
        for batch in batches[3:]:
            assert all(r.status == "applied" for r in full.submit(batch))
        assert _books(full) == _books(clean)
    finally:
        failpoints.disarm()
        full.close()
        clean.close()


def test_a_rebuild_that_fails_keeps_no_half_built_engine(plant, tmp_path):
    _, master = plant
    j = Journal(str(tmp_path / "j.db"), master, spill_block=8)
    try:
        for batch in _spill_day()[:3]:
            j.submit(batch)
        whole = j.engine
        failpoints.arm("spill.write", "enospc")
        with pytest.raises(OSError, match="No space left"):
            j._rebuild()
        assert j.engine is whole  # the engine being rebuilt was dropped, not swapped in
    finally:
        failpoints.disarm()
        j.close()


def test_replay_equals_live(journal, plant, tmp_path):
    _, master = plant
    journal.submit([Submission(e) for e in (
        RECEIPT, ev("w", "wo_release", work_order="WO", item="S", qty=5, line="WC1"),
        ev("c", "completion", work_order="WO", qty=3, location="L2"),
        ev("x", "wo_close", work_order="WO"))])
    for chunk in (1, 3, 5000):  # chunk edges inside, between and around the events
        out = replay(journal.path, master, str(tmp_path / f"re-{chunk}.db"), chunk=chunk)
        assert (out.events, out.not_applied, out.differences()) == (4, 0, [])
        assert out.summary()["journal_lines"] > 4


def test_a_scanned_start_is_an_event_that_replay_rebuilds(journal, plant, tmp_path):
    _, master = plant
    start = ev("scan-1", "wo_start", work_order="WO", line="WC2")
    results = journal.submit([Submission(e) for e in (
        RECEIPT, ev("w", "wo_release", work_order="WO", item="S", qty=5, line="WC1"),
        start, ev("ghost", "wo_start", work_order="WO-NONE", line="WC1"))])
    assert [r.status for r in results] == ["applied", "applied", "applied", "rejected"]
    assert results[3].field == "work_order" and "WO-NONE" in results[3].reason
    # the scan starts it on WC2 as well; a line runs one order, an order may run on two
    assert sorted(journal.active_orders()) == [("WC1", "WO"), ("WC2", "WO")]
    assert journal.engine.lines_of("scan-1") == ()  # it books nothing
    assert journal.submit([Submission(start)])[0].status == "duplicate"
    out = replay(journal.path, master, str(tmp_path / "re.db"), chunk=2)
    assert (out.events, out.not_applied, out.differences()) == (3, 0, [])
    journal.conn.execute("DELETE FROM active_orders")  # what a start outside the events left
    out = replay(journal.path, master, str(tmp_path / "re2.db"))
    assert out.differences()[0] == "active_orders: 0 live rows, 2 rebuilt; 0 only live," \
        " 2 only rebuilt"


def test_replay_names_each_line_that_differs_from_the_live_journal(journal, plant, tmp_path):
    _, master = plant
    journal.submit([Submission(e) for e in (
        RECEIPT, ev("r9", "receipt", item="A", qty=7, location="L1", unit_price=2.5))])
    # the live file edited behind the journal's back: one amount changed, one line gone
    journal.conn.execute("UPDATE journal_lines SET debit = debit + 1 WHERE line ="
                         " (SELECT min(line) FROM journal_lines WHERE debit > 0)")
    journal.conn.execute("DELETE FROM journal_lines WHERE line = (SELECT max(line)"
                         " FROM journal_lines)")
    total = journal.conn.execute("SELECT count(*) FROM journal_lines").fetchone()[0]
    out = replay(journal.path, master, str(tmp_path / "re.db"), chunk=1)
    diff = out.differences()
    assert diff[0] == (f"journal_lines: {total} live rows, {total + 1} rebuilt;"
                       " 1 only live, 2 only rebuilt"), diff
    assert sum(d.startswith("  live:") for d in diff) == 1
    assert sum(d.startswith("  rebuilt:") for d in diff) == 2
    assert out.summary()["identical"] is False


def test_replay_names_a_line_whose_names_or_period_were_edited(journal, plant, tmp_path):
    _, master = plant
    journal.submit([Submission(e) for e in (
        RECEIPT, ev("r9", "receipt", item="A", qty=7, location="L1", unit_price=2.5))])
    conn = journal.conn
    first, last = conn.execute("SELECT min(line), max(line) FROM journal_lines").fetchone()
    # the first line's memo now another name the journal holds; the last one's period
    # (its entry's, so that of each line of the last event)
    conn.execute("UPDATE journal_line_ids SET memo = (SELECT max(id) FROM names WHERE"
                 " id != journal_line_ids.memo) WHERE line = ?", (first,))
    conn.execute("UPDATE entries SET period = '1999-01' WHERE entry = (SELECT entry FROM"
                 " journal_line_ids WHERE line = ?)", (last,))
    n = conn.execute("SELECT count(*) FROM journal_lines WHERE event_id = 'r9'").fetchone()[0]
    out = replay(journal.path, master, str(tmp_path / "re.db"))
    diff = out.differences()
    assert diff[0].endswith(f"{1 + n} only live, {1 + n} only rebuilt"), diff
    assert any("1999-01" in d for d in diff if d.startswith("  live:")), diff
    # what replay rebuilt holds the projections and alerts, never a journal of its own
    rebuilt = sqlite3.connect(tmp_path / "re.db")
    assert rebuilt.execute("SELECT count(*) FROM journal_line_ids").fetchone() == (0,)
    assert rebuilt.execute("SELECT count(*) FROM stock").fetchone()[0] > 0
    rebuilt.close()


def test_replay_reads_past_a_gap_in_line_numbers_wider_than_a_read(journal, plant, tmp_path):
    _, master = plant
    journal.submit([Submission(e) for e in (
        RECEIPT, ev("r9", "receipt", item="A", qty=7, location="L1", unit_price=2.5),
        ev("r10", "receipt", item="A", qty=3, location="L1", unit_price=2.0))])
    conn = journal.conn
    # the last event's lines renumbered far past the others (2e18): in order, still its
    top = conn.execute("SELECT max(line) FROM journal_line_ids").fetchone()[0]
    conn.execute("UPDATE journal_line_ids SET line = line + 2000000000000000000 WHERE entry ="
                 " (SELECT max(entry) FROM entries)")
    for chunk in (1, 5000):
        out = replay(journal.path, master, str(tmp_path / f"re-{chunk}.db"), chunk=chunk)
        assert (out.events, out.differences()) == (3, []), out.differences()
        assert out.summary()["journal_lines"] == top
    # and one of them gone: named, however far it was
    conn.execute("DELETE FROM journal_line_ids WHERE line = (SELECT max(line) FROM"
                 " journal_line_ids)")
    out = replay(journal.path, master, str(tmp_path / "re-gone.db"), chunk=1)
    diff = out.differences()
    assert diff[0] == (f"journal_lines: {top - 1} live rows, {top} rebuilt;"
                       " 0 only live, 1 only rebuilt"), diff
    assert "r10" in diff[1], diff


def test_replay_names_a_line_whose_amount_was_edited_into_text(journal, plant, tmp_path):
    _, master = plant
    journal.submit([Submission(e) for e in (
        RECEIPT, ev("r9", "receipt", item="A", qty=7, location="L1", unit_price=2.5))])
    line = journal.conn.execute("SELECT min(line) FROM journal_lines WHERE debit > 0"
                                " AND event_id = 'r9'").fetchone()[0]
    journal.conn.execute("UPDATE journal_line_ids SET debit = '17.5 EUR' WHERE line = ?",
                         (line,))
    out = replay(journal.path, master, str(tmp_path / "re.db"))
    diff = out.differences()
    assert diff[0].endswith("1 only live, 1 only rebuilt"), diff
    assert any("'17.5 EUR'" in d and "r9" in d for d in diff if d.startswith("  live:")), diff


def _big_day(n_receipts: int) -> list[dict]:
    events = [ev("w", "wo_release", work_order="WO", item="S", qty=10**6, line="WC1")]
    for i in range(n_receipts):
        events.append(ev(f"r{i}", "receipt", item="A", qty=2 + i % 5, location="L1",
                         unit_price=2.0 + (i % 7) / 100))
        if i % 3 == 0:
            events.append(ev(f"c{i}", "completion", work_order="WO", qty=1, location="L2"))
    return events


@pytest.mark.slow
@pytest.mark.parametrize("written", ["by json.dumps", "canonical, claiming a source"])
def test_sigkill_mid_ingest_loses_nothing_acknowledged_and_applies_nothing_twice(
        tmp_path, written):
    day = _big_day(1500)
    if written != "by json.dumps":  # the resumed ingest finds its first chunks as stored runs
        from gateway.events import decode_event, encode_event

        day = [encode_event(decode_event(json.dumps({**e, "source": "erp"}))).decode()
               for e in day]
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    killed_dir.mkdir()
    clean_dir.mkdir()
    killed_cfg, clean_cfg = write_plant(killed_dir), write_plant(clean_dir)
    events = write_events(tmp_path / "day.jsonl", day)

    # Die right after the 3rd committed micro-batch of 200 lines (acknowledged work).
    proc = gateway("ingest", "-c", str(killed_cfg), str(events), "--batch", "200",
                   env={"GATEWAY_FAILPOINTS": "journal.after_commit=kill@3"})
    assert proc.returncode == -9
    db = killed_dir / "var" / "gateway.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 600

    again = gateway("ingest", "-c", str(killed_cfg), str(events), "--batch", "200")
    assert again.returncode == 0, again.stderr
    assert f"{len(day) - 600} applied, 600 duplicate, 0 rejected" in again.stderr
    gateway("ingest", "-c", str(clean_cfg), str(events), check=True)
    for cmd in (["trial-balance", "--format", "json"], ["stock", "--format", "json"],
                ["wip", "--format", "json"], ["journal", "--format", "csv"]):
        a = gateway(cmd[0], "-c", str(killed_cfg), *cmd[1:], check=True).stdout
        b = gateway(cmd[0], "-c", str(clean_cfg), *cmd[1:], check=True).stdout
        assert a == b, cmd[0]


def test_the_same_bad_message_delivered_twice_is_one_open_exception(journal):
    bad = json.dumps(ev("b1", "receipt", item="ZZ", qty=1, location="L1", unit_price=1))
    assert [r.status for r in journal.submit([Submission(bad), Submission(bad)])] == \
        ["rejected", "rejected"]
    assert _one(journal, bad).status == "rejected"
    assert journal.conn.execute("SELECT COUNT(*) FROM exceptions").fetchone()[0] == 1


def test_one_writer_per_journal(plant, tmp_path):
    _, master = plant
    first = Journal(str(tmp_path / "w.db"), master)
    try:
        with pytest.raises(JournalBusy, match=f"pid {os.getpid()}"):
            Journal(str(tmp_path / "w.db"), master)
    finally:
        first.close()
    Journal(str(tmp_path / "w.db"), master).close()  # free again once the first closed


def test_ingest_beside_a_running_writer_is_refused_and_changes_nothing(plant, tmp_path):
    cfg, master = plant
    holder = Journal(cfg.gateway.db, master)
    try:
        events = write_events(tmp_path / "e.jsonl", [RECEIPT])
        proc = gateway("ingest", "-c", cfg.file, str(events))
        assert proc.returncode == 1 and "is being written by pid" in proc.stderr
        assert holder.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    finally:
        holder.close()


def test_a_predecoded_submission_is_stored_exactly_as_a_plain_one(plant, tmp_path):
    from gateway.events import encode_event
    from gateway.journal import predecode

    cfg, master = plant
    good = ev("p1", "receipt", item="A", qty=10, location="L1", unit_price=2.0)
    bad_shape = ev("p2", "receipt", item="A", qty=0, location="L1", unit_price=1)
    bad_state = ev("p3", "receipt", item="ZZ", qty=1, location="L1", unit_price=1)
    reading = {"device": "mqtt", "kind": "event", "value": 1.5, "attrs": {"topic": "t"}}
    assert predecode(bad_shape, "mqtt") == (None, None)  # left for submit to reject
    # bound to its channel as submit binds it: submit keeps these bytes
    bound, canon = predecode({**good, "source": "erp"}, "mqtt")
    assert (bound.source, bound.claimed_source) == (None, "erp")
    assert canon == encode_event(bound)
    dumps = []
    for name, pre in (("plain", False), ("pre", True)):
        j = Journal(str(tmp_path / f"{name}.db"), master)
        subs = []
        for raw in (good, bad_shape, bad_state, good):
            event, canon = predecode(raw, "mqtt") if pre else (None, None)
            subs.append(Submission(raw, source="mqtt", reading=reading, event=event,
                                   canon=canon))
        results = j.submit(subs)
        dumps.append((
            [(r.status, r.event_id, r.field, r.reason) for r in results],
            j.conn.execute("SELECT seq, id, type, payload, reading FROM events").fetchall(),
            j.conn.execute("SELECT kind, event_id, field, reason, raw FROM exceptions"
                           " ORDER BY id").fetchall(),
            j.conn.execute("SELECT * FROM journal_lines ORDER BY line").fetchall()))
        j.close()
    assert dumps[0] == dumps[1]
    statuses, events, exceptions, lines = dumps[1]
    assert [s[0] for s in statuses] == ["applied", "rejected", "rejected", "duplicate"]
    assert [e[1] for e in events] == ["p1"] and json.loads(events[0][4]) == reading
    assert [(x[0], x[1]) for x in exceptions] == [("rejected", "p2"), ("rejected", "p3")]
    assert lines


def test_a_lazy_journal_builds_its_engine_only_when_a_batch_needs_valuing(plant, tmp_path):
    _, master = plant
    path = str(tmp_path / "lazy.db")
    first = Journal(path, master)
    first.submit([Submission(RECEIPT)])
    first.close()
    lazy = Journal(path, master, lazy=True)
    try:
        assert [r.status for r in lazy.submit([Submission(RECEIPT)])] == ["duplicate"]
        assert lazy._engine is None  # duplicates only: the stored events were not replayed
        more = ev("r2", "receipt", item="A", qty=5, location="L1", unit_price=2.2)
        assert lazy.submit([Submission(more)])[0].status == "applied"
        # valued on the rebuilt state: 15 kg at the 2.00 standard, not 5
        assert lazy.conn.execute("SELECT qty, value FROM item_costs WHERE item='A'"
                                 ).fetchone() == (15.0, 3000)
    finally:
        lazy.close()
