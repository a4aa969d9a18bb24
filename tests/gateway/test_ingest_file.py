"""`gateway ingest` of a file: read in blocks, duplicates found in bulk, progress on a tty."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest

from gateway.commands.ingest import events_of, numbered, read_lines, split_known
from tests.gateway.plant import ev, gateway, gateway_on_tty, write_events, write_plant

DAY = [ev(f"r{i}", "receipt", item="A", qty=1 + i % 4, location="L1", unit_price=2.0)
       for i in range(30)]


def _r(id_: str, qty: float = 2.0, **extra) -> dict:
    return ev(id_, "receipt", item="A", qty=qty, location="L1", unit_price=2.0, **extra)


@pytest.mark.parametrize("block", [1, 3, 7, 64, 1 << 22])
@pytest.mark.parametrize("batch", [1, 4, 100])
@pytest.mark.parametrize("end", [b"", b"\n"])
def test_lines_come_out_whole_numbered_and_batched_whatever_the_block_size(block, batch, end):
    text = b'{"a":1}\n\n  {"b":22}\r\n{"c":333}\n\n\n{"d":4444}' + end
    physical = text.split(b"\n")[:-1] if end else text.split(b"\n")
    want = [(n, line.strip()) for n, line in enumerate(physical, start=1) if line.strip()]
    got, sizes, firsts, seen = [], [], [], []
    for first, lines, done in read_lines(io.BytesIO(text), batch, block):
        assert 0 < len(lines) <= batch
        firsts.append(first)
        seen += lines
        got += numbered(first, lines)
        sizes.append(done)
    assert seen == physical  # every line as it is in the file, blank ones too
    assert got == want
    assert firsts == list(range(1, len(physical) + 1, batch))
    # each chunk ends where its last line's newline is (as if the file ended with one)
    ends = [sum(len(line) + 1 for line in physical[:k]) for k in range(1, len(physical) + 1)]
    assert sizes == ends[batch - 1::batch] + ([ends[-1]] if len(physical) % batch else [])
    assert sizes[-1] == len(text) + (not end)


def test_events_are_decoded_in_one_call_or_line_by_line_when_a_line_is_not_one():
    good = [json.dumps(_r("a")).encode(), json.dumps(_r("b", source="erp")).encode()]
    assert [e.id for e in events_of(good)] == ["a", "b"]
    mixed = [*good, b'{"id": 5}', b'{"id":"c", ', b'[1]', b'{"type":"receipt"}',
             json.dumps(_r("d")).encode()]
    got = events_of(mixed)
    assert [e.id if e is not None else None for e in got] == \
        ["a", "b", None, None, None, None, "d"]


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


def test_duplicates_and_conflicts_are_found_across_chunk_boundaries(tmp_path):
    cfg = write_plant(tmp_path)
    echo = json.dumps(_r("r4"), indent=1).replace("\n", "")  # same event, other bytes
    lines = [_r("r0"), _r("r1"), _r("r2"), _r("r3"),                 # chunk 1 (batch 4)
             _r("r3"), _r("r3", qty=9.0), _r("r4"), echo,              # chunk 2
             _r("r4", qty=9.0), _r("r6"), _r("r7"), _r("r5", source="erp"),  # chunk 3
             _r("r5", source="erp")]                                  # chunk 4
    events = write_events(tmp_path / "edges.jsonl", lines)
    first = gateway("ingest", "-c", str(cfg), str(events), "--batch", "4")
    assert first.returncode == 1
    assert "8 applied, 3 duplicate, 2 rejected" in first.stderr, first.stderr
    assert "edges.jsonl:6: rejected: id: event 'r3' was already journaled" in first.stderr
    assert "edges.jsonl:9: rejected: id: event 'r4' was already journaled" in first.stderr
    db = tmp_path / "var" / "gateway.db"
    assert _table(db, "SELECT id FROM events ORDER BY seq") == \
        [(i,) for i in ("r0", "r1", "r2", "r3", "r4", "r6", "r7", "r5")]
    again = gateway("ingest", "-c", str(cfg), str(events), "--batch", "4")
    assert "0 applied, 11 duplicate, 2 rejected" in again.stderr, again.stderr
    assert _table(db, "SELECT kind, event_id FROM exceptions ORDER BY id") == \
        [("conflict", "r3"), ("conflict", "r4")]  # a conflict sent again is one problem


def test_a_line_bound_to_its_channel_as_the_journal_would_is_a_duplicate_before_it():
    from gateway.events import decode_event, encode_event
    from gateway.provenance import bind, file_source

    raw = [json.dumps(_r(f"r{i}", source="erp")).encode() for i in range(3)]
    stored = {f"r{i}": encode_event(bind(decode_event(raw[i]), file_source("f", i + 1)))
              for i in (0, 1)}
    stored["r1"] = stored["r1"].replace(b'"qty":2.0', b'"qty":3.0')  # journaled otherwise
    chunk = [(n, line) for n, line in enumerate(raw, start=1)]
    events = events_of(raw)
    assert [(n, line) for n, line, _ in split_known(chunk, events, stored, "f", 1 << 20)] \
        == [(2, raw[1]), (3, raw[2])]
    over = split_known(chunk, events, stored, "f", 10)  # over the limit: the journal's
    assert [(n, line) for n, line, _ in over] == chunk
    assert [e for _, _, e in over] == [None] * 3  # to be decoded, and refused, there


def test_a_chunk_as_the_journal_holds_it_is_all_duplicates_without_a_line_decoded(tmp_path):
    from gateway.commands.ingest import journaled_run
    from gateway.config import load_config
    from gateway.events import decode_event, encode_event
    from gateway.journal import Journal, Submission
    from gateway.masterdata import load_master
    from gateway.provenance import file_source

    journal = Journal(str(tmp_path / "j.db"), load_master(load_config(write_plant(tmp_path))))
    lines = [encode_event(decode_event(json.dumps(_r(f"r{i}", source="erp")).encode()))
             for i in range(6)]  # canonical, as the bench and the journal write them
    journal.submit([Submission(raw, source=file_source("f", n))
                    for n, raw in enumerate(lines, start=1)])
    limit = journal.limits.max_payload_bytes
    mes = [encode_event(decode_event(json.dumps(_r(f"m{i}", source="mes")).encode()))
           for i in range(3)]  # a second channel's claim, journaled after them
    journal.submit([Submission(raw, source=file_source("f", n))
                    for n, raw in enumerate(mes, start=7)])
    stored = journal.stored_run("r0", 6).split(b"\n")
    assert len(stored) == 6 and stored[0] != lines[0]  # bound: "erp" is a claim there
    assert journal.stored_run("nope", 6) is None
    verdicts = {
        "the file again": (lines, True),
        "a run from its middle": (lines[2:5], True),
        "read back from the journal": (stored, True),
        "half read back, half as written": ([*stored[:3], *lines[3:]], True),
        "two claimed sources": ([*lines, *mes], True),
        "two claimed sources, read back": (journal.stored_run("r0", 9).split(b"\n"), True),
        "the second source's lines claiming the first": (
            [*lines, *(x.replace(b'"mes"', b'"erp"') for x in mes)], False),
        "lines claiming one source and naming another": (  # not what binding undoes
            [*lines, *(x.replace(b'"source":null,', b'"source":"erp",')
                       for x in journal.stored_run("m0", 3).split(b"\n"))], False),
        "another order": (lines[::-1], False),
        "past the journal's end": ([*lines, lines[0]], False),
        "a changed event": ([*lines[:3], lines[3].replace(b'"qty":2.0', b'"qty":3.0'),
                             *lines[4:]], False),
        "another claimed source": ([x.replace(b'"erp"', b'"mes"') for x in lines], False),
        "a claim like a channel": ([x.replace(b'"erp"', b'"file:f:1 user:u"') for x in lines],
                                   False),
        "the same events, other bytes": ([json.dumps(json.loads(x)).encode() for x in lines],
                                         False),
        "not an id": ([b'{"id": 5}', *lines[1:]], False),
    }
    for what, (chunk, want) in verdicts.items():
        assert journaled_run(journal, chunk, limit) is want, what
        if want:  # the slow way finds the same: nothing for the journal to see
            numbered = list(enumerate(chunk, start=1))
            assert split_known(numbered, events_of(chunk), journal.stored_payloads(
                [e.id for e in events_of(chunk)]), "f", limit) == [], what
    assert not journaled_run(journal, lines, 10)  # over max_payload_bytes: the journal's
    # a stored payload without the key (written by an older gateway, say): not a run, no error
    journal.conn.execute("UPDATE events SET payload = replace(payload, '\"claimed_source\":"
                         "\"erp\",', '') WHERE id = 'r5'")
    assert b"claimed_source" not in journal.stored_run("r5", 1)
    assert not journaled_run(journal, lines, limit)
    journal.close()


def _ingest_loads_the_engine(cfg, path) -> tuple[bool, str]:
    """`gateway ingest` in a process of its own: whether it loaded the cost engine's
    kernels (numba), and what it said."""
    import subprocess
    import sys

    from tests.gateway.plant import ROOT

    probe = ("import sys\nfrom gateway.cli import main\n"
             f"rc = main(['ingest', '-c', {str(cfg)!r}, {str(path)!r}])\n"
             "print('numba' in sys.modules)\nsys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1] == "True", proc.stderr


def test_a_file_already_in_the_journal_is_checked_without_loading_the_cost_engine(
        ingested, tmp_path):
    cfg, db = ingested
    again = write_events(tmp_path / "again.jsonl", DAY)  # as first written
    stored = tmp_path / "stored.jsonl"  # as the journal holds it
    stored.write_text("\n".join(p for (p,) in _table(db, "SELECT payload FROM events")))
    for path in (again, stored):
        loaded, said = _ingest_loads_the_engine(cfg, path)
        assert "0 applied, 30 duplicate, 0 rejected" in said, said
        assert not loaded, f"{path.name}: the cost engine was loaded for duplicates only"
    new = write_events(tmp_path / "new.jsonl", [*DAY, _r("r-new")])
    loaded, said = _ingest_loads_the_engine(cfg, new)  # one new event: valued, so loaded
    assert "1 applied, 30 duplicate, 0 rejected" in said, said
    assert loaded
