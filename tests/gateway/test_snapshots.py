"""Engine snapshots beside the journal: a restart replays only what follows the last good
one; a damaged or mismatched snapshot is refused, said so, and every event replayed."""

from __future__ import annotations

import sqlite3

import pytest

from costing.engine import Engine
from costing.snapshot import engine_state, state_differences
from gateway import snapshots
from gateway.config import load_config
from gateway.journal import Journal, JournalDiverged, Submission
from gateway.masterdata import load_master
from gateway.replay import replay_stored
from gateway.spill import spill_files
from tests.gateway.plant import ev, write_plant


@pytest.fixture
def master(tmp_path):
    return load_master(load_config(write_plant(tmp_path)))


def _events(start: int, n: int) -> list[Submission]:
    out = []
    for k in range(start, start + n):
        if k % 3 == 2:
            out.append(Submission(ev(f"s{k}", "shipment", item="A", qty=1, location="L1",
                                     unit_price=3.0)))
        else:
            out.append(Submission(ev(f"r{k}", "receipt", item="A", qty=2 + k % 5,
                                     location="L1", unit_price=1.0 + k % 4)))
    return out


def _filled(path, master, n=10, every=4) -> None:
    j = Journal(str(path), master, snapshot_every=every)
    for k in range(0, n, 3):
        assert all(r.status == "applied" for r in j.submit(_events(k, min(3, n - k))))
    j.close()


def _full_state(path, master):
    """The engine a replay of every stored event gives."""
    engine = Engine(master)
    conn = sqlite3.connect(path)
    try:
        for _ in replay_stored(conn, engine, outcomes=False):
            pass
    finally:
        conn.close()
    return engine_state(engine)


def test_snapshots_are_written_every_n_events_and_at_close(tmp_path, master):
    db = tmp_path / "j.db"
    j = Journal(str(db), master, snapshot_every=4)
    j.submit(_events(0, 3))
    assert j.snapshot_seq == 0
    j.submit(_events(3, 3))  # 6 events: past 4
    assert j.snapshot_seq == 6
    header, _ = snapshots.read_header(j.snapshot_path)
    assert header["mark"]["seq"] == 6 and header["mark"]["event_id"] == "s5"
    j.submit(_events(6, 1))
    j.close()  # a clean stop covers the last event too
    assert snapshots.read_header(j.snapshot_path)[0]["mark"]["seq"] == 7


def test_by_default_only_a_clean_stop_writes_one_and_the_next_start_uses_it(tmp_path,
                                                                           master):
    import msgspec

    from gateway.config import GatewaySection

    defaults = {f.name: f.default for f in msgspec.structs.fields(GatewaySection)
                if f.name in ("snapshots", "snapshot_every")}
    assert defaults == {"snapshots": True, "snapshot_every": 0}  # no pause while running
    db = tmp_path / "j.db"
    j = Journal(str(db), master, snapshot=True)
    for k in range(0, 9, 3):
        j.submit(_events(k, 3))
    assert j.snapshot_seq == 0  # nothing written while running
    j.close()
    again = Journal(str(db), master, snapshot=True)
    try:
        assert again.snapshot_seq == 9
    finally:
        again.close()


def test_a_restart_uses_the_snapshot_and_gets_the_full_replay_state(tmp_path, master,
                                                                     capsys):
    db = tmp_path / "j.db"
    _filled(db, master)
    j = Journal(str(db), master, snapshot_every=4)
    try:
        assert j.snapshot_seq == 10  # nothing replayed but what follows it
        assert state_differences(engine_state(j.engine), _full_state(db, master)) == []
        # the restored engine goes on: a reversal of an event before the snapshot
        [res] = j.submit([Submission(ev("x1", "reversal", reverses="r0"))])
        assert res.status == "applied"
        assert j.engine.lines_of("x1")
    finally:
        j.close()
    assert "snapshot" not in capsys.readouterr().err


def _flip_last_byte(path: str) -> None:
    with open(path, "r+b") as fh:
        fh.seek(-1, 2)
        byte = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([byte[0] ^ 0xFF]))


def test_a_damaged_snapshot_is_refused_and_the_whole_journal_replayed(tmp_path, master,
                                                                      capsys):
    db = tmp_path / "j.db"
    _filled(db, master)
    _flip_last_byte(snapshots.snapshot_path(str(db)))
    j = Journal(str(db), master, snapshot_every=4)
    try:
        err = capsys.readouterr().err
        assert "damaged (its checksum does not match); replaying the whole journal" in err
        assert j.snapshot_seq == 0
        assert state_differences(engine_state(j.engine), _full_state(db, master)) == []
    finally:
        j.close()


def test_a_snapshot_of_another_journal_is_refused(tmp_path, master, capsys):
    db = tmp_path / "j.db"
    _filled(db, master)
    conn = sqlite3.connect(db)  # the event the snapshot ends with, changed under it
    conn.execute("UPDATE events SET payload = replace(payload, '\"qty\":6.0', '\"qty\":7.0')"
                 " WHERE seq = 10")
    conn.commit()
    conn.close()
    # refused, the whole journal is replayed: the changed event posts other lines than
    # the stored ones, and the journal is not started on it
    with pytest.raises(JournalDiverged, match=r"stored event 'r9' \(seq 10\) does not rebuild"
                                              " as stored: its stored lines are not"):
        Journal(str(db), master, snapshot_every=4)
    err = capsys.readouterr().err
    assert "does not match the journal at seq 10" in err and "whole journal" in err


def test_replay_from_snapshot_verifies_it_and_finds_a_changed_event_before_it(tmp_path,
                                                                               master):
    db = tmp_path / "j.db"
    _filled(db, master)
    conn = sqlite3.connect(db)
    ok, message = snapshots.verify(snapshots.snapshot_path(str(db)), conn, master, 1 << 16,
                                   spill_files(tmp_path))
    assert ok, message
    assert message.startswith("snapshot at seq 10 verified")
    # a row before the snapshot changed: the start-up checks cannot see it, this can
    conn.execute("UPDATE events SET payload = replace(payload, '\"unit_price\":1.0',"
                 " '\"unit_price\":9.0') WHERE seq = 1")
    conn.commit()
    ok, message = snapshots.verify(snapshots.snapshot_path(str(db)), conn, master, 1 << 16,
                                   spill_files(tmp_path))
    conn.close()
    assert not ok
    assert "snapshot at seq 10 differs from a full replay of 10 events" in message
    assert "ledger.balance" in message


def test_a_snapshot_written_by_another_process_finds_every_old_event_id(tmp_path):
    """Python's str hash differs between processes; the id index's does not, so the
    index restored as it was written finds every id (a reversal of the oldest too)."""
    import os
    import subprocess
    import sys
    import textwrap

    cfg = write_plant(tmp_path)
    db = tmp_path / "j.db"
    script = textwrap.dedent(f"""
        from gateway.config import load_config
        from gateway.journal import Journal
        from gateway.masterdata import load_master
        from tests.gateway.test_snapshots import _events
        j = Journal({str(db)!r}, load_master(load_config({str(cfg)!r})), spill_block=4,
                    snapshot=True)
        for k in range(0, 60, 6):
            assert all(r.status == "applied" for r in j.submit(_events(k, 6)))
        j.close()
        """)
    env = {**os.environ, "PYTHONHASHSEED": "1", "PYTHONPATH": os.getcwd()}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=os.getcwd())
    j = Journal(str(db), load_master(load_config(cfg)), spill_block=4, snapshot=True)
    try:
        assert j.snapshot_seq == 60
        assert len(j.engine.records.index.keys) > 0  # ids in the hashed arrays
        ids = [s.raw["id"] for s in _events(0, 60)]
        assert j.engine.records.contains_many(ids) == [True] * 60
        [res] = j.submit([Submission(ev("x1", "reversal", reverses="r0"))])
        assert res.status == "applied", res.reason
    finally:
        j.close()
