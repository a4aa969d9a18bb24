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
