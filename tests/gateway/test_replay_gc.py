"""replay_stored turns the cyclic GC off only while it decodes and applies a chunk."""

from __future__ import annotations

import gc
import sqlite3

import pytest

from costing.engine import Engine
from gateway.bench.replay import stored_journal
from gateway.bench.synth import make_master
from gateway.events import EventError
from gateway.replay import replay_stored


@pytest.mark.parametrize("outcomes", [True, False])
def test_the_gc_is_on_whenever_control_is_outside_replay_and_the_result_stands(
        tmp_path, outcomes):
    db = stored_journal(700, 40, 3, folder=str(tmp_path))
    conn = sqlite3.connect(db)
    engine, alone = Engine(make_master(40, 3)), Engine(make_master(40, 3))
    assert gc.isenabled()
    for _seqs, _ in replay_stored(conn, engine, chunk=200, outcomes=outcomes):
        assert gc.isenabled()
    assert gc.isenabled()
    from gateway.events import decode_event
    alone.apply([decode_event(p) for (p,) in
                 conn.execute("SELECT payload FROM events ORDER BY seq")])
    assert engine.snapshot() == alone.snapshot()


def test_a_caller_that_turned_the_gc_off_finds_it_off_and_a_bad_row_leaves_it_on(tmp_path):
    db = stored_journal(300, 40, 3, folder=str(tmp_path))
    conn = sqlite3.connect(db)
    gc.disable()
    try:
        list(replay_stored(conn, Engine(make_master(40, 3)), chunk=100, outcomes=False))
        assert not gc.isenabled()
    finally:
        gc.enable()
    payload = conn.execute("SELECT payload FROM events WHERE seq = 7").fetchone()[0]
    conn.execute("UPDATE events SET payload = ? WHERE seq = 7",
                 (payload.replace('"ts":', '"qty":-1,"ts":', 1),))
    with pytest.raises(EventError):
        list(replay_stored(conn, Engine(make_master(40, 3)), chunk=100, outcomes=False))
    assert gc.isenabled()
