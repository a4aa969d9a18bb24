"""A journal written by the previous schema version opens, migrates once, reads the same."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from gateway import schema
from gateway.schema import SCHEMA_VERSION
from gateway.config import load_config
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from tests.gateway.plant import ROOT, ev, gateway, write_plant

# The day of tests/gateway/test_cli_scenario.py, ingested by the schema-1 gateway (its
# journal lines still carried their entry's ts); kept as the file that gateway wrote.
V1 = ROOT / "tests" / "gateway" / "data" / "journal-v1.db"
READS = (["journal", "--format", "csv"], ["trial-balance", "--format", "json"],
         ["stock", "--format", "json"], ["wip", "--format", "json"])


@pytest.fixture
def old_site(tmp_path):
    cfg = write_plant(tmp_path)
    (tmp_path / "var").mkdir()
    shutil.copy(V1, tmp_path / "var" / "gateway.db")
    return cfg, tmp_path / "var" / "gateway.db"


def _version_and_columns(db):
    with sqlite3.connect(db) as conn:
        return (conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0],
                {r[1] for r in conn.execute("PRAGMA table_info(journal_lines)")})


def test_the_v1_file_is_what_it_claims():
    version, columns = _version_and_columns(V1)
    assert version == "1" and "ts" in columns


def test_a_v1_journal_reads_the_same_before_and_after_its_migration(old_site):
    cfg, db = old_site
    before = [gateway(cmd[0], "-c", str(cfg), *cmd[1:], check=True).stdout for cmd in READS]
    assert "2026-11-20T08:00:00Z" in before[0]  # each line's ts, read from its entry now
    c = load_config(cfg)
    j = Journal(str(db), load_master(c))  # a writer opens it: migrated here
    try:
        version, columns = _version_and_columns(db)
        assert version == str(SCHEMA_VERSION) and "ts" not in columns and "period" in columns
        with sqlite3.connect(db) as conn:  # schema 5: the line is the rowid, kept once
            assert [r[2] for r in conn.execute(
                "PRAGMA index_info(journal_line_ids_unbatched)")] == ["batch_seq"]
            # schema 8: ... and over the unbatched lines only
            assert conn.execute("SELECT sql FROM sqlite_master WHERE name ="
                                " 'journal_line_ids_unbatched'").fetchone()[0].endswith(
                "WHERE batch_seq IS NULL")
            # schema 6: the lines name their account (...) by an id; a view shows the text
            assert conn.execute("SELECT type FROM sqlite_master WHERE"
                                " name = 'journal_lines'").fetchone() == ("view",)
            assert conn.execute("SELECT count(*) FROM journal_line_ids WHERE"
                                " typeof(account) != 'integer'").fetchone() == (0,)
        res = j.submit([Submission(ev("n1", "receipt", item="A", qty=5, location="L1",
                                      unit_price=2.0))])
        assert res[0].status == "applied"
    finally:
        j.close()
    after = [gateway(cmd[0], "-c", str(cfg), *cmd[1:], check=True).stdout for cmd in READS]
    old_lines = before[0].splitlines()
    assert after[0].splitlines()[:len(old_lines)] == old_lines  # old lines unchanged
    assert "n1" in after[0] and len(after[0].splitlines()) > len(old_lines)
    replay = gateway("replay", "-c", str(cfg))
    assert replay.returncode == 0 and "replay identical" in replay.stdout, replay.stdout


def test_opening_twice_migrates_once_and_a_newer_journal_is_refused(old_site, tmp_path):
    _, db = old_site
    conn = sqlite3.connect(db, isolation_level=None)
    schema.create(conn)
    schema.create(conn)
    assert schema.version(conn) == schema.SCHEMA_VERSION
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(schema.SchemaError, match="schema_version: the journal is at version"
                                                 f" 99, this gateway reads up to {SCHEMA_VERSION}"):
        schema.create(conn)
    conn.close()


# A small journal written by the schema-5 gateway, the last before master data was
# journaled (tests/gateway/data/make_journal_v5.py wrote it; run at that schema).
V5 = ROOT / "tests" / "gateway" / "data" / "journal-v5.db"


def _tables(db) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_the_v5_file_is_what_it_claims():
    version, _ = _version_and_columns(V5)
    assert version == "5" and "master_versions" not in _tables(V5)
    assert V5.stat().st_size < 64 * 1024


def _opened_by_a_writer(tmp_path, old_file) -> tuple:
    """`old_file` as this plant's journal: the reports read from it as it was, then a
    writer opens it (migrated here). Returns (config file, db, the reports before)."""
    cfg = write_plant(tmp_path)
    (tmp_path / "var").mkdir()
    db = tmp_path / "var" / "gateway.db"
    shutil.copy(old_file, db)
    before = [gateway(cmd[0], "-c", str(cfg), *cmd[1:], check=True).stdout for cmd in READS]
    Journal(str(db), load_master(load_config(cfg))).close()
    return cfg, db, before


def _reads_and_replays_the_same(cfg, before: list[str]) -> None:
    after = [gateway(cmd[0], "-c", str(cfg), *cmd[1:], check=True).stdout for cmd in READS]
    assert after == before
    replay = gateway("replay", "-c", str(cfg))
    assert replay.returncode == 0 and "replay identical" in replay.stdout, replay.stdout


def test_a_v5_journal_is_migrated_keeps_its_data_and_replays_identical(tmp_path):
    cfg, db, before = _opened_by_a_writer(tmp_path, V5)
    assert "v5-c2" in before[0]
    with sqlite3.connect(db) as conn:
        assert schema.version(conn) == SCHEMA_VERSION == 9
        # the master data of the first open values every event stored before
        assert conn.execute("SELECT version, from_seq FROM master_versions").fetchall() == [
            (1, 1)]
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 9
        assert conn.execute("SELECT count(*) FROM journal_lines").fetchone()[0] == 27
    _reads_and_replays_the_same(cfg, before)
    # and it goes on: a new standard for A is version 2, the old events keep theirs
    items = tmp_path / "master" / "items.csv"
    items.write_text(items.read_text().replace("A,Steel,kg,raw,standard,2.00",
                                               "A,Steel,kg,raw,standard,2.40"))
    j = Journal(str(db), load_master(load_config(cfg)))
    try:
        res = j.submit([Submission(ev("n1", "receipt", item="A", qty=5, location="L1",
                                      unit_price=2.0))])
        assert res[0].status == "applied"
        assert ("1310", 1200, 0, "A", None, None, "receipt") in j.engine.lines_of("n1")
    finally:
        j.close()
    replay = gateway("replay", "-c", str(cfg))
    assert replay.returncode == 0 and "replay identical" in replay.stdout, replay.stdout
    old_lines = before[0].splitlines()
    now = gateway("journal", "-c", str(cfg), "--format", "csv", check=True).stdout.splitlines()
    assert now[:len(old_lines)] == old_lines and len(now) > len(old_lines)


# A small journal written by the schema-6 gateway (master data journaled as versions,
# lines still stored as text); tests/gateway/data/make_journal_v6.py wrote it at that
# schema, with a change of A's standard between its two halves.
V6 = ROOT / "tests" / "gateway" / "data" / "journal-v6.db"


def test_the_v6_file_is_what_it_claims():
    version, _ = _version_and_columns(V6)
    with sqlite3.connect(V6) as conn:
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name='journal_lines'"
                            ).fetchone()[0]
        versions = conn.execute("SELECT version, from_seq FROM master_versions").fetchall()
    assert version == "6" and kind == "table" and versions == [(1, 1), (2, 10)]
    assert "journal_line_ids" not in _tables(V6) and V6.stat().st_size < 64 * 1024


def test_a_v6_journal_is_migrated_keeps_its_versions_and_replays_identical(tmp_path):
    cfg, db, before = _opened_by_a_writer(tmp_path, V6)
    assert "v6-r4" in before[0]
    with sqlite3.connect(db) as conn:
        assert schema.version(conn) == SCHEMA_VERSION == 9
        # the versions it recorded stay in force for its events; this plant's master data
        # (A back at 2.00) is a third
        versions = conn.execute("SELECT version, from_seq FROM master_versions").fetchall()
        assert versions[:2] == [(1, 1), (2, 10)] and len(versions) == 3
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 10
        assert conn.execute("SELECT count(*) FROM journal_lines").fetchone()[0] == 30
    _reads_and_replays_the_same(cfg, before)


# A small journal written by the schema-8 gateway, the last whose lines repeat their
# entry's event id and period; most of its lines batched, the last ones not
# (tests/gateway/data/make_journal_v8.py wrote it at that schema).
V8 = ROOT / "tests" / "gateway" / "data" / "journal-v8.db"


def _line_columns(conn) -> set[str]:
    return {r[1] for r in conn.execute("PRAGMA table_info(journal_line_ids)")}


def _view_rows(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT * FROM journal_lines"))


def _lines_schema(conn) -> list[tuple]:
    """The table of lines, its indexes and the view over it, as SQLite keeps them."""
    return conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN"
                        " ('journal_line_ids', 'journal_lines') ORDER BY name").fetchall()


def test_the_v8_file_is_what_it_claims():
    with sqlite3.connect(V8) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        columns = _line_columns(conn)
        batched, unbatched = conn.execute("SELECT count(batch_seq), count(*) - count(batch_seq)"
                                          " FROM journal_line_ids").fetchone()
        periods = conn.execute("SELECT count(DISTINCT period) FROM entries").fetchone()[0]
    assert version == ("8",) and {"event_id", "period"} <= columns
    assert batched and unbatched and periods == 2 and V8.stat().st_size < 64 * 1024


def test_a_v8_journal_is_migrated_keeps_every_line_and_replays_identical(tmp_path):
    lines = _view_rows(V8)
    cfg, db, before = _opened_by_a_writer(tmp_path, V8)
    # every line as the view showed it: number, entry, event id, period, names, batch
    assert _view_rows(db) == lines
    fresh = sqlite3.connect(tmp_path / "fresh.db")
    schema.create(fresh)
    with sqlite3.connect(db) as conn:
        assert schema.version(conn) == SCHEMA_VERSION == 9
        assert not {"event_id", "period"} & _line_columns(conn)
        # the table, its two indexes (the unbatched one partial) and the view, as made new
        assert _lines_schema(conn) == _lines_schema(fresh)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]  # indexes too
    fresh.close()
    _reads_and_replays_the_same(cfg, before)


def test_a_fresh_journal_keeps_its_event_ids_and_periods_in_its_entries_only(tmp_path):
    conn = sqlite3.connect(tmp_path / "j.db")
    schema.create(conn)
    assert _line_columns(conn) == {"line", "entry", "account", "debit", "credit", "work_order",
                                   "item", "work_center", "memo", "batch_seq"}
    conn.close()


def test_a_v8_line_at_odds_with_its_entry_leaves_the_journal_at_8(tmp_path):
    db = tmp_path / "gateway.db"
    shutil.copy(V8, db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE journal_line_ids SET period = '1999-01' WHERE line = 3")
    with pytest.raises(schema.SchemaError, match="journal line 3: its event_id or period is"
                                                 " not its entry's"):
        schema.create(conn)
    assert schema.version(conn) == 8 and "period" in _line_columns(conn)
    conn.close()


def test_a_line_written_through_the_view_names_its_entrys_event_and_period(tmp_path):
    conn = sqlite3.connect(tmp_path / "j.db", isolation_level=None)
    schema.create(conn)
    conn.execute("INSERT INTO entries(entry, event_seq, event_id, ts, period)"
                 " VALUES (1, 1, 'e1', '2026-11-20T08:00:00Z', '2026-11')")
    line = ("INSERT INTO journal_lines(entry, event_id, period, account, debit, credit, memo)"
            " VALUES (1, ?, ?, '1400', 5, 0, '')")
    conn.execute(line, ("e1", "2026-11"))
    for other in (("e2", "2026-11"), ("e1", "2026-12")):
        with pytest.raises(sqlite3.IntegrityError, match="a line's event_id and period are"
                                                         " its entry's"):
            conn.execute(line, other)
    with pytest.raises(sqlite3.IntegrityError, match="its entry's"):
        conn.execute("UPDATE journal_lines SET period = '2026-12'")
    conn.execute("UPDATE journal_lines SET debit = 7")
    assert conn.execute("SELECT entry, event_id, period, account, debit FROM journal_lines"
                        ).fetchall() == [(1, "e1", "2026-11", "1400", 7)]
    conn.close()
