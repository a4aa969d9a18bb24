"""Three `gateway run` processes -> one JetStream stream -> two `gateway consolidate`
processes on one durable consumer -> PostgreSQL, every part real, with the faults of a plant:

- the NATS server is stopped and started again while line1 and line2 are publishing;
- line3 is killed (SIGKILL) right after its 3rd publish, before it recorded the PubAck,
  and started again: it re-sends that batch, which JetStream drops as a duplicate;
- one consolidator is killed mid-transaction (batch and lines inserted, not committed)
  and replaced, so two share the durable consumer again.

Afterwards the plant trial balance (`gateway plant trial-balance`) equals each gateway's
own `gateway trial-balance` to the cent, account by account, and the plant holds every
batch of every outbox exactly once. Each gateway's journal is filled by `gateway ingest`
before it runs; their uplink is slowed by a failpoint (`outbox.before_send=sleep`) so
that the restart falls in the middle of their publishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import subprocess
import sys
import time

import psycopg
import pytest

from gateway.money import to_str
from tests.e2e.plant_state import applied, consumer_idle
from tests.e2e.procs import journal_rows, reaped
from tests.gateway.consolidation.plant_toml import write_plant_toml
from tests.gateway.plant import GATEWAY_TOML, ROOT, ev, write_events, write_plant
from tests.gateway.upstream.nats_stream import stream_messages
from tests.support.nats_server import nats_server_auth  # noqa: F401 (fixture)
from tests.support.postgres import pg_cluster, postgres_dsn  # noqa: F401 (fixtures)

LINES = ("line1", "line2", "line3")
EVENTS = 90          # receipts per gateway: about 45 batches each at 6 lines a batch
SLOW_UPLINK = "outbox.before_send=sleep:0.2"   # about 9 s of publishing each

UPSTREAM = """
[upstream]
sink = "nats"
url = "{url}"
stream = "GL"
plant = "plant1"
create_stream = true
user_env = "T_NATS_USER"
password_env = "T_NATS_PASSWORD"
batch_max_lines = 6
batch_max_seconds = 0.2
backoff_max_s = 0.5
"""

CONSUMER = """\
user_env = "T_NATS_USER"
password_env = "T_NATS_PASSWORD"
ack_wait_s = 2
gap_wait_s = 20
gap_retry_s = 0.2
fetch_batch = 3
"""


def _q(db: str, sql: str) -> list:
    return journal_rows(db, sql)


def _line(tmp_path, server, n: int) -> tuple[str, str, str]:
    """Gateway line<n>: its own folder, config and journal; a day of receipts to ingest."""
    name = LINES[n]
    folder = tmp_path / name
    folder.mkdir()
    toml = GATEWAY_TOML.replace('id = "test-plant"', f'id = "{name}"')
    cfg = write_plant(folder, toml + UPSTREAM.format(url=server.url))
    items = [("S", 9.1), ("C", 0.45), ("B", 1.1), ("A", 2.05)]
    day = [ev(f"r{i}", "receipt", item=items[i % 4][0], qty=10 + 7 * n + i % 5, location="L2",
              unit_price=round(items[i % 4][1] + 0.01 * n, 2)) for i in range(EVENTS)]
    events = write_events(folder / "day.jsonl", day)
    return str(cfg), str(folder / "var" / "gateway.db"), str(events)


def _env(server, dsn: str, failpoints: str) -> dict:
    return {**os.environ, "T_NATS_USER": server.user, "T_NATS_PASSWORD": server.password,
            "PLANT_TEST_DSN": dsn, "GATEWAY_FAILPOINTS": failpoints}


def _spawn(args: list[str], env: dict, log: pathlib.Path,
           stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """`gateway <args>` with its log in a file (a pipe nobody reads could fill and stall it)."""
    with open(log, "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", *args], cwd=ROOT, env=env,
                                stdout=stdout, stderr=err, text=True)
    proc.log = log
    return proc


def _said(proc: subprocess.Popen) -> str:
    return f"{proc.args[3:5]} exited {proc.returncode}:\n{proc.log.read_text(errors='replace')}"


def _output(proc: subprocess.Popen) -> str:
    """What a report printed (the reports run side by side: each starts a Python)."""
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, _said(proc)
    return out


def _acked(db: str) -> int:
    return _q(db, "SELECT COUNT(*) FROM batches WHERE state = 'acked'")[0][0]


def _unsent(db: str) -> int:
    return _q(db, "SELECT COUNT(*) FROM batches WHERE state != 'acked'")[0][0] \
        + _q(db, "SELECT COUNT(*) FROM journal_lines WHERE batch_seq IS NULL")[0][0]


def _until(cond, what: str, alive: list[subprocess.Popen], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for proc in alive:
            assert proc.poll() is None, _said(proc)
        time.sleep(0.1)


def _killed(proc: subprocess.Popen) -> None:
    assert proc.wait(timeout=30) == -9, _said(proc)


def _stopped(proc: subprocess.Popen) -> None:
    proc.terminate()
    assert proc.wait(timeout=20) == 0, _said(proc)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_three_gateways_two_consolidators_survive_kills_and_a_nats_restart(
        tmp_path, nats_server_auth, postgres_dsn):
    server = nats_server_auth
    lines = [_line(tmp_path, server, n) for n in range(3)]
    cfgs, dbs = [cfg for cfg, _, _ in lines], [db for _, db, _ in lines]
    plant = str(write_plant_toml(tmp_path, servers=[server.url], gateways=LINES,
                                 subject="gl.plant1.*", extra_nats=CONSUMER))
    logs = iter(tmp_path / f"{i}.log" for i in range(100))

    def start(*args: str, failpoints: str = "", stdout=subprocess.DEVNULL) -> subprocess.Popen:
        return _spawn(list(args), _env(server, postgres_dsn, failpoints), next(logs), stdout)

    ingests = [start("ingest", "-c", cfg, events) for cfg, _, events in lines]
    for proc in ingests:
        assert proc.wait(timeout=60) == 0, _said(proc)

    run = [start("run", "-c", cfg, failpoints=SLOW_UPLINK) for cfg in cfgs[:2]]
    doomed_line = start("run", "-c", cfgs[2], failpoints=SLOW_UPLINK + ",outbox.after_send=kill@3")
    with contextlib.ExitStack() as procs:
        for proc in run + [doomed_line]:
            procs.enter_context(reaped(proc))
        # The stream exists once a gateway has published into it; then the consolidators.
        _until(lambda: _acked(dbs[0]) >= 1, "line1's first batch in the stream", run)
        steady = procs.enter_context(reaped(start("consolidate", "-c", plant)))
        doomed = procs.enter_context(reaped(start("consolidate", "-c", plant,
                                                  failpoints="plant.before_commit=kill@4")))
        _until(lambda: all("consolidating" in c.log.read_text() for c in (steady, doomed)),
               "both consolidators on the durable consumer", run + [steady])

        # The restart falls while line1 and line2 still have batches to send.
        _until(lambda: all(_acked(db) >= 4 for db in dbs[:2]), "4 batches acked each",
               run + [steady])
        unsent = [_unsent(db) for db in dbs[:2]]
        server.restart(downtime=1.0)
        assert all(unsent), f"nothing left to publish at the restart: {unsent}"

        _killed(doomed_line)     # right after its 3rd publish, before recording the PubAck
        assert _q(dbs[2], "SELECT state FROM batches WHERE seq = 3") == [("pending",)]
        run.append(procs.enter_context(reaped(start("run", "-c", cfgs[2]))))  # full speed now
        _killed(doomed)          # mid-transaction: its batch comes back after ack_wait_s
        consolidators = [steady, procs.enter_context(reaped(start("consolidate", "-c", plant)))]
        _until(lambda: not any(_unsent(db) for db in dbs), "every batch acked",
               run + consolidators, timeout=40)
        last = {g: _q(db, "SELECT MAX(seq) FROM batches")[0][0] for g, db in zip(LINES, dbs)}
        _until(lambda: applied(postgres_dsn) == last and asyncio.run(consumer_idle(
                   server.url, user=server.user, password=server.password)),
               f"the plant to apply {last}", run + consolidators, timeout=40)
        for proc in run + consolidators:
            _stopped(proc)

    # No batch missing, none twice: the plant holds exactly the batches of the outboxes,
    # with their lines and amounts; the stream holds each once.
    sent = {}
    for g, db in zip(LINES, dbs):
        for batch_id, payload, debit in _q(db, "SELECT batch_id, payload, debit FROM batches"):
            sent[(g, batch_id)] = (len(json.loads(payload)["lines"]), debit)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        booked = conn.execute(
            "SELECT gateway, batch_id, n_lines, debit FROM plant_batches").fetchall()
        n_lines = conn.execute("SELECT count(*) FROM plant_lines").fetchone()[0]
        held = conn.execute("SELECT kind, batch_id, reason FROM plant_quarantine").fetchall()
    assert held == []
    assert len(booked) == len({(g, b) for g, b, _, _ in booked})
    assert {(g, b): (n, d) for g, b, n, d in booked} == sent
    assert n_lines == sum(n for n, _ in sent.values())
    ids = [m.headers["Nats-Msg-Id"] for m in asyncio.run(stream_messages(server, "GL"))]
    assert sorted(ids) == sorted(b for _, b in sent)
    assert _q(dbs[2], "SELECT ack_detail FROM batches WHERE seq = 3")[0][0].endswith(" duplicate")
    for db in dbs[:2]:   # the restart was felt: a publish failed and was made again
        assert _q(db, "SELECT MAX(attempts) FROM batches")[0][0] >= 2, db

    # The plant's trial balance is the three gateways' own, account by account, to the cent.
    reports = [start("plant", "trial-balance", "-c", plant, "--format", "json",
                     stdout=subprocess.PIPE)] + [
        start("trial-balance", "-c", cfg, "--format", "json", stdout=subprocess.PIPE)
        for cfg in cfgs]
    tb, *own_tbs = [json.loads(_output(proc)) for proc in reports]
    plant_tb = {g["gateway"]: g for g in tb["gateways"]}
    total_minor = 0
    for g, own in zip(LINES, own_tbs):
        assert own["debit"] == own["credit"] and own["debit"] != "0.00"
        assert (plant_tb[g]["debit"], plant_tb[g]["credit"]) == (own["debit"], own["credit"]), g
        assert {a["account"]: (a["debit"], a["credit"]) for a in plant_tb[g]["accounts"]} == {
            a["account"]: (a["debit"], a["credit"]) for a in own["accounts"]}, g
        total_minor += int(own["debit"].replace(".", ""))
    assert (tb["debit"], tb["credit"]) == (to_str(total_minor, 2),) * 2
