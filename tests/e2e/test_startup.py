"""Start-up failures an operator meets on the console: one sentence naming the cause and
the fix, exit status 2, no traceback, nothing left behind."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys

from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from gateway.config import load_config
from gateway.users import UserStore
from simulators.ports import free_port
from tests.gateway.plant import GATEWAY_TOML, ROOT, ev, gateway, write_plant


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", free_port()))
    sock.listen()
    return sock


def _plant(tmp_path, port: int):
    toml = GATEWAY_TOML + f"""
[upstream]
sink = "file"
path = "var/upstream.jsonl"

[dashboard]
listen = "127.0.0.1:{port}"
users_file = "users.toml"
"""
    cfg = write_plant(tmp_path, toml)
    users = UserStore(tmp_path / "users.toml")
    users.add("maria", "supervisor", "a-long-password")
    return cfg


def _one_sentence(proc: subprocess.CompletedProcess, *words: str) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, err)
    assert "Traceback" not in err and "never awaited" not in err, err
    last = err.splitlines()[-1]
    for word in words:
        assert word in last, last
    return last


def test_run_with_its_dashboard_port_in_use_says_so_in_one_sentence(tmp_path):
    with _listening() as sock:
        port = sock.getsockname()[1]
        cfg = _plant(tmp_path, port)
        proc = gateway("run", "-c", str(cfg), timeout=60)
    line = _one_sentence(proc, f"127.0.0.1:{port} is already in use", "[dashboard] listen")
    assert line.startswith("gateway run: the dashboard cannot listen")
    assert proc.stderr.strip().splitlines() == [line]
    # the journal it opened was released: another writer may open it now
    master = load_master(load_config(cfg))
    Journal(str(tmp_path / "var" / "gateway.db"), master).close()


def test_run_on_a_journal_another_process_writes_exits_2(tmp_path):
    cfg = _plant(tmp_path, free_port())
    master = load_master(load_config(cfg))
    holder = Journal(str(tmp_path / "var" / "gateway.db"), master)
    try:
        proc = gateway("run", "-c", str(cfg), timeout=60)
    finally:
        holder.close()
    _one_sentence(proc, "is being written by", "stop it first")


def test_run_with_an_unreadable_users_file_exits_2(tmp_path):
    cfg = _plant(tmp_path, free_port())
    (tmp_path / "users.toml").write_text("[[users]\nname = ")
    proc = gateway("run", "-c", str(cfg), timeout=60)
    _one_sentence(proc, f"users file {tmp_path / 'users.toml'} cannot be read",
                  "gateway user add")


def test_run_with_a_master_data_file_missing_exits_2(tmp_path):
    cfg = _plant(tmp_path, free_port())
    (tmp_path / "master" / "routings.csv").unlink()
    proc = gateway("run", "-c", str(cfg), timeout=60)
    _one_sentence(proc, "master data not found: routings.csv in " + str(tmp_path / "master"),
                  "gateway check")
    assert not (tmp_path / "var" / "gateway.db").exists()


def test_run_on_a_journal_that_does_not_rebuild_as_stored_exits_2(tmp_path):
    cfg = _plant(tmp_path, free_port())
    db = tmp_path / "var" / "gateway.db"
    j = Journal(str(db), load_master(load_config(cfg)))
    try:
        assert j.submit([Submission(ev("r1", "receipt", item="A", qty=10, location="L1",
                                       unit_price=2.0))])[0].status == "applied"
    finally:
        j.close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE journal_lines SET credit = credit + 5 WHERE credit > 0")
    proc = gateway("run", "-c", str(cfg), timeout=60)
    line = _one_sentence(proc, "stored event 'r1' (seq 1) does not rebuild as stored",
                         "restore the journal from a backup")
    assert proc.stderr.strip().splitlines() == [line]


def test_demo_on_a_port_in_use_exits_2_and_leaves_no_scratch_folder(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with _listening() as sock:
        port = sock.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "gateway", "demo", "--port", str(port)],
                              cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)},
                              capture_output=True, text=True, timeout=90)
    _one_sentence(proc, f"127.0.0.1:{port} is already in use", "--port")
    assert os.listdir(scratch) == []
