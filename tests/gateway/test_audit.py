"""The audit log: append-only in the journal database, written by `gateway user`, read
back by `gateway audit` in each format — real SQLite file, the real command line."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from gateway import schema
from gateway.audit import AuditEntry, read, record
from gateway.cli import main
from gateway.journal import connect

from tests.gateway.plant import write_plant


@pytest.fixture
def plant_db(tmp_path):
    cfg = write_plant(tmp_path)
    db = tmp_path / "var" / "gateway.db"
    db.parent.mkdir(exist_ok=True)
    conn = connect(str(db))
    schema.create(conn)
    yield cfg, conn
    conn.close()


def test_entries_can_be_added_but_never_changed_or_removed(plant_db):
    _, conn = plant_db
    record(conn, AuditEntry("sam", "10.0.0.5", "dismiss", "exception 3", "noise"))
    for sql in ("UPDATE audit SET actor='eve'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="audit is append-only"):
            conn.execute(sql)
    assert [(r["actor"], r["action"], r["target"]) for r in read(conn)] == [
        ("sam", "dismiss", "exception 3")]


def test_user_changes_are_audited_and_exported_in_every_format(plant_db, monkeypatch, capsys):
    cfg, conn = plant_db
    monkeypatch.setattr("getpass.getuser", lambda: "ops")
    for password, extra in (("first-secret-1", []), ("second-secret-2", ["--replace"])):
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        assert main(["user", "add", "ann", "--role", "supervisor", "--password-stdin",
                     "-c", str(cfg), *extra]) == 0
    assert main(["user", "remove", "ann", "-c", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["audit", "-c", str(cfg), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["actor"], r["address"], r["action"], r["target"], r["detail"]) for r in rows] == [
        ("cli:ops", "cli", "user_remove", "user ann", ""),
        ("cli:ops", "cli", "user_replace", "user ann", "role supervisor, new password (was supervisor)"),
        ("cli:ops", "cli", "user_add", "user ann", "role supervisor, new password"),
    ]
    assert "secret" not in json.dumps(rows)
    assert main(["audit", "-c", str(cfg), "--format", "csv", "--limit", "1"]) == 0
    out = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["action"] for r in out] == ["user_remove"] and list(out[0]) == [
        "seq", "ts", "actor", "address", "action", "target", "detail"]
    assert main(["audit", "-c", str(cfg)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["seq", "ts", "actor", "address", "action", "target", "detail"]
    assert len(table) == 5 and "user_add" in table[-1]
