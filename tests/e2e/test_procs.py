"""The end-to-end tests' poll of a journal another process is writing."""

import sqlite3

import pytest

from tests.e2e.procs import journal_rows


def test_a_journal_not_there_yet_or_without_its_tables_has_no_rows(tmp_path):
    db = str(tmp_path / "gateway.db")
    assert journal_rows(db, "SELECT id FROM events") == []
    sqlite3.connect(db).close()  # the file exists, the tables not yet
    assert journal_rows(db, "SELECT id FROM events") == []
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (id TEXT)")
        conn.execute("INSERT INTO events VALUES ('w1')")
    conn.close()
    assert journal_rows(db, "SELECT id FROM events WHERE id = ?", "w1") == [("w1",)]


def test_any_other_error_is_raised(tmp_path):
    db = str(tmp_path / "gateway.db")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (id TEXT)")
    conn.close()
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        journal_rows(db, "SELECT nope FROM events")
