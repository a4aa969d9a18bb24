"""`gateway ingest` of a file: read in blocks, duplicates found in bulk, progress on a tty."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest

from gateway.commands.ingest import ids_of, read_lines
from tests.gateway.plant import ev, gateway, gateway_on_tty, write_events, write_plant

DAY = [ev(f"r{i}", "receipt", item="A", qty=1 + i % 4, location="L1", unit_price=2.0)
       for i in range(30)]


@pytest.mark.parametrize("block", [1, 3, 7, 64, 1 << 22])
@pytest.mark.parametrize("batch", [1, 4, 100])
def test_lines_come_out_whole_numbered_and_batched_whatever_the_block_size(block, batch):
    text = b'{"a":1}\n\n  {"b":22}\r\n{"c":333}\n\n\n{"d":4444}'  # no newline at the end
    want = [(n, line.strip()) for n, line in enumerate(text.split(b"\n"), start=1)
            if line.strip()]
    got, sizes = [], []
    for chunk, done in read_lines(io.BytesIO(text), batch, block):
        assert 0 < len(chunk) <= batch
        got += chunk
        sizes.append(done)
    assert got == want
    assert sizes == sorted(sizes) and sizes[-1] == len(text) + 1  # as if newline-ended


def test_ids_are_read_in_one_call_or_line_by_line_when_a_line_is_not_an_event():
    good = [b'{"id":"a","type":"receipt"}', b'{"type":"x","id":"b"}']
    assert ids_of(good) == ["a", "b"]
    mixed = [*good, b'{"id": 5}', b'{"id":"c", ', b'[1]', b'{"type":"receipt"}',
             b'{"id":"d"}']
    assert ids_of(mixed) == ["a", "b", None, None, None, None, "d"]


@pytest.fixture
def ingested(tmp_path):
    cfg = write_plant(tmp_path)
    events = write_events(tmp_path / "day.jsonl", DAY)
    first = gateway("ingest", "-c", str(cfg), str(events))
    assert first.returncode == 0, first.stderr
    assert "30 applied, 0 duplicate, 0 rejected" in first.stderr
    return cfg, tmp_path / "var" / "gateway.db"


def _table(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_the_journal_written_back_is_all_duplicates_and_a_changed_payload_still_a_conflict(
        ingested, tmp_path):
    cfg, db = ingested
    before = _table(db, "SELECT * FROM journal_lines ORDER BY line")
    stored = [p for (p,) in _table(db, "SELECT payload FROM events ORDER BY seq")]
    changed = json.loads(stored[7])
    changed["qty"] = 99.0
    lines = [*stored, json.dumps(changed), stored[3]]  # canonical bytes, then the odd ones
    again = tmp_path / "again.jsonl"
    again.write_text("\n".join(lines))
    proc = gateway("ingest", "-c", str(cfg), str(again), "--batch", "8")
    assert proc.returncode == 1
    assert "0 applied, 31 duplicate, 1 rejected" in proc.stderr, proc.stderr
    assert f"again.jsonl:31: rejected: id: event 'r7' was already journaled" in proc.stderr
    assert _table(db, "SELECT * FROM journal_lines ORDER BY line") == before
    assert _table(db, "SELECT kind, event_id, raw FROM exceptions") == \
        [("conflict", "r7", json.dumps(changed))]


def test_ingest_shows_its_progress_on_a_terminal(tmp_path):
    cfg = write_plant(tmp_path)
    events = write_events(tmp_path / "day.jsonl", DAY)
    status, _, tty = gateway_on_tty("ingest", "-c", str(cfg), str(events), "--batch", "10")
    assert status == 0
    assert "ingest: 10 of 30 events (33 %)" in tty, tty
    assert "30 applied, 0 duplicate, 0 rejected" in tty
