"""Master data is journaled: a changed CSV is recorded as a new version at the next
start, every event is valued against the version it was committed with, on every
rebuild and replay; a journal that does not rebuild as stored is not started."""

from __future__ import annotations

import json
import sqlite3
import zlib

import pytest

from gateway.config import load_config
from gateway.journal import Journal, JournalDiverged, Submission
from gateway.masterdata import load_master
from gateway.startup import StartupError
from tests.gateway.plant import ev, gateway, write_events, write_plant

BEFORE = [
    ev("r1", "receipt", item="A", qty=10, location="L1", unit_price=2.0),
    ev("r2", "receipt", item="C", qty=30, location="L2", unit_price=0.5),
    ev("w1", "wo_release", work_order="WO-1", item="S", qty=5, line="WC1"),
    ev("c1", "completion", work_order="WO-1", qty=2, location="L2"),
]
AFTER = [
    ev("r3", "receipt", item="A", qty=10, location="L1", unit_price=2.0),
    ev("c2", "completion", work_order="WO-1", qty=3, location="L2"),
    ev("x1", "wo_close", work_order="WO-1"),
    ev("w2", "wo_release", work_order="WO-2", item="S", qty=1, line="WC1"),
    ev("c3", "completion", work_order="WO-2", qty=1, location="L2"),
]


def _open(cfg) -> Journal:
    return Journal(str(cfg.parent / "var" / "gateway.db"), load_master(load_config(cfg)))


def _ingest(cfg, events) -> None:
    """A run of the real `gateway ingest`: a start, the events, a stop."""
    path = write_events(cfg.parent / f"{events[0]['id']}.jsonl", events)
    out = gateway("ingest", "-c", str(cfg), str(path), check=True)
    assert f"{len(events)} applied" in out.stdout + out.stderr, out.stdout + out.stderr
    assert "replaying the whole journal" not in out.stderr  # its snapshot was good


def _edit(cfg, name, old, new) -> None:
    path = cfg.parent / "master" / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _stored_lines(db) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    with sqlite3.connect(db) as conn:
        for eid, *line in conn.execute(
                "SELECT event_id, account, debit, credit, item, work_order, work_center, memo"
                " FROM journal_lines ORDER BY line"):
            out.setdefault(eid, []).append(tuple(line))
    return out


@pytest.fixture
def site(tmp_path):
    cfg = write_plant(tmp_path)
    (tmp_path / "var").mkdir()
    _ingest(cfg, BEFORE)
    # the ERP exports a new standard for A (2.00 -> 2.50) and a new BOM (S takes 3 A)
    _edit(cfg, "items.csv", "A,Steel,kg,raw,standard,2.00", "A,Steel,kg,raw,standard,2.50")
    _edit(cfg, "boms.csv", "S,A,2,0,backflush,10", "S,A,3,0,backflush,10")
    _edit(cfg, "purchase_orders.csv", "PO-2,B,1.20\n", "PO-3,C,0.55\n")  # closed, opened
    _ingest(cfg, AFTER)  # a restart: the new version is recorded, then more events
    return cfg, tmp_path / "var" / "gateway.db"


def test_a_changed_csv_is_a_new_version_in_force_from_the_next_event(site):
    cfg, db = site
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT version, from_seq, changes FROM master_versions"
                            " ORDER BY version").fetchall()
    assert [(v, s) for v, s, _ in rows] == [(1, 1), (2, len(BEFORE) + 1)]
    changes = json.loads(rows[1][2])
    assert changes["items"] == {"changed": {"A": {"standard_cost": [2.0, 2.5]}}}
    assert changes["boms"] == {"changed": {"S/A/op 10": {"qty_per": [2.0, 3.0]}}}
    assert changes["purchase_orders"] == {"added": ["PO-3/C"], "removed": ["PO-2/B"]}
    assert set(changes) == {"items", "boms", "purchase_orders"}
    with sqlite3.connect(db) as conn:  # the dropped PO line is kept, at its position
        content = json.loads(zlib.decompress(conn.execute(
            "SELECT content FROM master_versions WHERE version = 2").fetchone()[0]))
    assert [(p["po"], p["sku"]) for p in content["purchase_orders"]] == [
        ("PO-1", "A"), ("PO-2", "B"), ("PO-3", "C")]
    lines = _stored_lines(db)
    assert ("1310", 2000, 0, "A", None, None, "receipt") in lines["r1"]  # 10 at 2.00
    assert ("1310", 2500, 0, "A", None, None, "receipt") in lines["r3"]  # 10 at 2.50
    _open(cfg).close()  # the same CSVs again: no new version
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM master_versions").fetchone()[0] == 2


def test_a_rebuild_reproduces_the_stored_lines_and_replay_is_identical(site):
    cfg, db = site
    stored = _stored_lines(db)
    j = _open(cfg)  # a start-up: every event valued again against its version
    try:
        for event in BEFORE + AFTER:
            rebuilt = [tuple(line) for line in j.engine.lines_of(event["id"])]
            assert rebuilt == stored.get(event["id"], []), event["id"]
    finally:
        j.close()
    replay = gateway("replay", "-c", str(cfg))
    assert replay.returncode == 0 and "replay identical" in replay.stdout, (
        replay.stdout + replay.stderr)
    # the snapshot (taken over version 2) and the events after it: a full replay's state
    verified = gateway("replay", "-c", str(cfg), "--from-snapshot")
    assert verified.returncode == 0 and "verified" in verified.stdout, verified.stdout


def test_without_versions_the_old_events_would_be_valued_against_the_new_csv(site):
    """What a rebuild did before master data was journaled: the check is not vacuous."""
    cfg, db = site
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM master_versions WHERE version = 1")
        conn.execute("UPDATE master_versions SET from_seq = 1")
    with pytest.raises(JournalDiverged, match=r"stored event 'r1' \(seq 1\) does not"
                                              " rebuild as stored: its stored lines"):
        _open(cfg)


def test_a_tampered_line_refuses_to_start_naming_the_event(site):
    cfg, db = site
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE journal_lines SET debit = debit + 1 WHERE event_id = 'r3'"
                     " AND debit > 0")
    with pytest.raises(JournalDiverged, match=r"stored event 'r3' \(seq 5\) does not"
                                              r" rebuild as stored: its stored lines are not"
                                              r" the rebuilt ones \(stored \[\('1310', 2501"):
        _open(cfg)  # no snapshot: every event valued again, every line compared
    replay = gateway("replay", "-c", str(cfg))  # compares every line, snapshot or not
    assert replay.returncode == 1 and "2501" in replay.stdout, replay.stdout
    more = write_events(cfg.parent / "more.jsonl",
                        [ev("r9", "receipt", item="B", qty=1, location="L1", unit_price=1.0)])
    (db.parent / "gateway.db.snapshot").unlink()  # its start values every event again
    run = gateway("ingest", "-c", str(cfg), str(more))
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith("gateway ingest: journal ") and "'r3' (seq 5)" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_tampered_line_after_the_snapshot_refuses_a_start_from_it(site):
    cfg, db = site
    j = Journal(str(db), load_master(load_config(cfg)), snapshot=False)  # writes none
    try:
        j.submit([Submission(ev("r8", "receipt", item="A", qty=1, location="L1",
                                unit_price=2.0))])
    finally:
        j.close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE journal_lines SET credit = credit - 1 WHERE event_id = 'r8'"
                     " AND credit > 0")
    more = write_events(cfg.parent / "more.jsonl",
                        [ev("r9", "receipt", item="B", qty=1, location="L1", unit_price=1.0)])
    run = gateway("ingest", "-c", str(cfg), str(more))
    assert run.returncode == 2 and "'r8' (seq 10)" in run.stderr, run.stdout + run.stderr
    assert "replaying the whole journal" not in run.stderr  # from the snapshot at seq 9


@pytest.mark.parametrize("content, why", [
    (b"", "its content cannot be read"),
    (zlib.compress(b'{"items": []}'), "its content's sha256"),
])
def test_a_missing_or_tampered_version_refuses_to_start_naming_its_first_event(
        site, content, why):
    cfg, db = site
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE master_versions SET content = ? WHERE version = 2", (content,))
    with pytest.raises(JournalDiverged, match=rf"stored event 'r3' \(seq 5\) does not rebuild"
                                              rf" as stored: master data version 2: {why}"):
        _open(cfg)


def test_a_stored_event_that_no_longer_applies_refuses_to_start_with_the_reason(site):
    cfg, db = site
    with sqlite3.connect(db) as conn:  # as if c2 had been booked on an order never released
        conn.execute("UPDATE events SET payload = replace(payload, 'WO-1', 'WO-404')"
                     " WHERE id = 'c2'")
    with pytest.raises(JournalDiverged, match=r"stored event 'c2' \(seq 6\) does not rebuild"
                                              r" as stored: it no longer applies \(.*WO-404"):
        _open(cfg)


def test_an_item_dropped_from_the_csv_is_refused_and_nothing_is_recorded(site):
    cfg, db = site
    _edit(cfg, "items.csv", "C,Screw,ea,raw,fifo,0.50,1,,\n", "")
    _edit(cfg, "boms.csv", "F,C,3,0,backflush,10\n", "")
    _edit(cfg, "purchase_orders.csv", "PO-3,C,0.55\n", "")
    with pytest.raises(StartupError, match="master data: item 'C' .position 2. is gone"):
        _open(cfg)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM master_versions").fetchone()[0] == 2
