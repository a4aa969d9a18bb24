"""Three gateways -> one JetStream stream -> two consolidators on one durable consumer -> PostgreSQL.

Real nats-server -js, real PostgreSQL cluster, real `gateway consolidate` processes. One
consolidator is killed (SIGKILL) mid-transaction, its replacement is killed again right
after a commit and before the ack, and a third takes over; a batch is also re-sent after
JetStream's duplicate window would have forgotten it. Afterwards the plant ledger holds
every batch exactly once, and its trial balance equals the sum of what the gateways sent,
to the cent.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time

import nats
import nats.js.errors
import psycopg

from gateway.money import to_str
from tests.e2e.plant_state import applied, consumer_idle
from tests.e2e.procs import reaped
from tests.gateway.consolidation.batches import batch, body
from tests.gateway.consolidation.plant_toml import write_plant_toml
from tests.gateway.plant import ROOT, gateway
from tests.support.nats_server import nats_server  # noqa: F401 (fixture)
from tests.support.postgres import pg_cluster, postgres_dsn  # noqa: F401 (fixtures)

GATEWAYS = ("line1", "line2", "line3")
PER_GATEWAY = 40


def _batches() -> list[dict]:
    rng = random.Random(16)
    return [batch(g, seq, [rng.randint(1, 250_000) for _ in range(3)], summarize=False)
            for seq in range(1, PER_GATEWAY + 1) for g in GATEWAYS]   # interleaved, as on a plant


async def _publish(url: str, docs: list[dict], *, create: bool = False, msg_id: bool = True) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    if create:
        await js.add_stream(name="GL", subjects=["gl.plant1.>"], duplicate_window=120)
    for doc in docs:
        gw = doc["batch_id"].rsplit("-", 1)[0]
        headers = {"Nats-Msg-Id": doc["batch_id"]} if msg_id else None
        await js.publish(f"gl.plant1.{gw}", body(doc), headers=headers)
    await nc.close()


async def _consumers_waiting(url: str) -> int:
    """Pull requests waiting on the durable consumer: one per idle consolidator."""
    nc = await nats.connect(url)
    try:
        try:
            return (await nc.jetstream().consumer_info("GL", "plant1-consolidator")).num_waiting
        except nats.js.errors.NotFoundError:
            return 0
    finally:
        await nc.close()


def _consolidator(toml, dsn: str, failpoint: str = "", log=None) -> subprocess.Popen:
    """`log`: a file for its stderr (to see it subscribed), else a pipe."""
    env = {**os.environ, "PLANT_TEST_DSN": dsn, "GATEWAY_FAILPOINTS": failpoint}
    return subprocess.Popen([sys.executable, "-m", "gateway", "consolidate", "-c", str(toml)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE if log is None else log, text=True)


def test_two_consolidators_survive_kills_and_book_every_batch_once(tmp_path, nats_server, postgres_dsn):
    docs = _batches()
    first, rest = docs[: len(docs) // 2], docs[len(docs) // 2:]
    asyncio.run(_publish(nats_server.url, first, create=True))
    asyncio.run(_publish(nats_server.url, first[:6]))  # a resend inside the window: dropped by JetStream
    toml = write_plant_toml(tmp_path, servers=[nats_server.url], gateways=GATEWAYS, extra_nats=(
        "ack_wait_s = 2\ngap_wait_s = 8\ngap_retry_s = 0.2\nfetch_batch = 10\n"))

    with reaped(_consolidator(toml, postgres_dsn)) as steady, \
            reaped(_consolidator(toml, postgres_dsn, "plant.before_commit=kill@8")) as doomed:
        # Both are up on the consumer; the steady one is paused while the doomed ones work,
        # or it would take every message (a whole fetch per transaction is quick) and
        # leave them nothing to die on.
        deadline = time.monotonic() + 30
        while asyncio.run(_consumers_waiting(nats_server.url)) < 2:
            assert time.monotonic() < deadline, "the consolidators did not both subscribe"
            time.sleep(0.1)
        os.kill(steady.pid, signal.SIGSTOP)
        try:
            asyncio.run(_publish(nats_server.url, rest))
            asyncio.run(_publish(nats_server.url, [docs[4]], msg_id=False))  # a resend JetStream cannot know
            assert doomed.wait(timeout=30) == -9, doomed.stderr.read()
            with reaped(_consolidator(toml, postgres_dsn, "plant.after_commit=kill@5")) as again:
                assert again.wait(timeout=30) == -9, again.stderr.read()
        finally:
            os.kill(steady.pid, signal.SIGCONT)
        third_log = tmp_path / "third.log"
        with open(third_log, "w") as log, \
                reaped(_consolidator(toml, postgres_dsn, log=log)) as third:
            deadline = time.monotonic() + 40
            # up = its own line that it consumes (a count of pull requests waiting on the
            # consumer cannot tell: the steady one may hold two after its pause)
            while not (applied(postgres_dsn) == {g: PER_GATEWAY for g in GATEWAYS}
                       and asyncio.run(consumer_idle(nats_server.url))
                       and "consolidating" in third_log.read_text()):
                assert time.monotonic() < deadline, f"applied so far: {applied(postgres_dsn)}"
                assert steady.poll() is None, steady.stderr.read()
                time.sleep(0.3)
            third.terminate()
            assert third.wait(timeout=10) == 0, third_log.read_text()
        steady.terminate()
        assert steady.wait(timeout=10) == 0, steady.stderr.read()

    expected = {g: sum(int(x["debit"].replace(".", "")) for d in docs
                       if d["batch_id"].startswith(g + "-") for x in d["lines"]) for g in GATEWAYS}
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        booked = dict(conn.execute("SELECT gateway, sum(debit)::bigint FROM plant_lines GROUP BY 1"))
        ids = [r[0] for r in conn.execute("SELECT batch_id FROM plant_batches")]
        lines = conn.execute("SELECT count(*) FROM plant_lines").fetchone()[0]
        held = conn.execute("SELECT kind, batch_id, reason FROM plant_quarantine").fetchall()
    assert held == []
    assert sorted(ids) == sorted(d["batch_id"] for d in docs)       # none missing, none twice
    assert lines == sum(len(d["lines"]) for d in docs)
    assert booked == expected
    tb = json.loads(gateway("plant", "trial-balance", "-c", str(toml), "--format", "json",
                            env={"PLANT_TEST_DSN": postgres_dsn}, check=True).stdout)
    total = to_str(sum(expected.values()), 2)
    assert (tb["debit"], tb["credit"]) == (total, total)
    assert {g["gateway"]: g["debit"] for g in tb["gateways"]} == {
        g: to_str(v, 2) for g, v in expected.items()}
