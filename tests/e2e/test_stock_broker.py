"""`gateway run` on a stock Mosquitto (Debian defaults plus a password file: 20 messages in
flight, 1000 queued): a burst far beyond those limits is journaled whole over MQTT 5, and
the same burst over MQTT 3.1.1, which the broker does drop, is an alarm, not silence.

Counted in the journal, not inferred: every published id is an event or an exceptions
row, or it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time

import pytest

from gateway.bench.ingest import publish, site_env, write_site
from simulators.mosquitto import Mosquitto
from tests.e2e.procs import journal_rows, reaped
from tests.gateway.plant import ROOT

BURST = 3000  # 150 × Mosquitto's in-flight default, 3 × its queue default
ITEMS, DEPTH = 30, 3


def _count(db: str, sql: str) -> int:
    rows = journal_rows(db, sql)
    return rows[0][0] if rows else 0


def _journaled(db: str, prefix: str) -> int:
    """Published ids found in the journal: as events, or kept as exceptions."""
    return _count(db, f"SELECT count(*) FROM (SELECT id FROM events WHERE id LIKE '{prefix}%' "
                      f"UNION SELECT event_id FROM exceptions WHERE event_id LIKE '{prefix}%')")


@contextlib.asynccontextmanager
async def _burst(tmp_path, extra_mqtt: str, sys_interval: int | None = None,
                 restart_mid: bool = False, limits: str = "stock"):
    """A gateway on a stock broker, then BURST events at full speed (prefix b-; with
    `restart_mid`, half of them, a broker restart, and the other half as c-)."""
    broker = Mosquitto(tmp_path / "broker", limits=limits, sys_interval=sys_interval)
    broker.start()
    site = tmp_path / "site"
    cfg = write_site(site, ITEMS, DEPTH, broker.url)
    cfg.write_text(cfg.read_text() + extra_mqtt)
    db = str(site / "var" / "gateway.db")
    log = tmp_path / "gateway.log"
    env = site_env(broker.username, broker.password)
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(cfg)],
                                cwd=site, env=env, stdout=subprocess.DEVNULL, stderr=err)
    with reaped(proc):
        # Subscribed once (so the broker keeps a session for it) when a probe, the
        # stream's first receipt under an id of its own, is journaled.
        deadline = time.monotonic() + 120
        for n in itertools.count():
            if _journaled(db, "probe"):
                break
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "gateway never journaled the probe"
            publish(broker.url, broker.username, broker.password, ITEMS, DEPTH,
                    [(0.0, 1)], f"probe{n}-")
            await asyncio.sleep(0.3)
        # as fast as the socket goes; publish() returns once the broker PUBACKed them all
        if restart_mid:
            publish(broker.url, broker.username, broker.password, ITEMS, DEPTH,
                    [(0.0, BURST // 2)], "b-")
            # The gateway is held (SIGSTOP) across the restart and the second half, so it
            # is certainly offline while the broker queues that half for its session:
            # what a stock broker's queue limit then does is the test, not a race with
            # how fast the gateway reconnects.
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                broker.restart(downtime=0.5)  # persistence on: the gateway's session survives
                publish(broker.url, broker.username, broker.password, ITEMS, DEPTH,
                        [(0.0, BURST // 2)], "c-")
            finally:
                os.kill(proc.pid, signal.SIGCONT)
        else:
            publish(broker.url, broker.username, broker.password, ITEMS, DEPTH,
                    [(0.0, BURST)], "b-")
        done_at = time.monotonic()
        last, still = -1, 0
        while still < 5 and time.monotonic() - done_at < 90:  # until 2.5 s without progress
            now = _journaled(db, "b-") + _journaled(db, "c-")
            still = still + 1 if now == last else 0
            last = now
            await asyncio.sleep(0.5)
        try:
            yield dict(proc=proc, db=db, log=log, broker=broker, done_at=done_at,
                       journaled=last)
        finally:
            broker.stop()


@pytest.mark.timeout(240)
async def test_a_burst_on_a_stock_broker_is_journaled_whole_over_mqtt5(tmp_path):
    async with _burst(tmp_path, "") as run:
        assert run["journaled"] == BURST, (
            f"{BURST - run['journaled']} of {BURST} published events missing from the journal"
            f"\n{run['broker'].log()[-2000:]}")
        assert "dropped" not in run["broker"].log()
        assert _count(run["db"], "SELECT count(*) FROM exceptions "
                                 "WHERE kind IN ('broker_dropped', 'lost_readings')") == 0


@pytest.mark.timeout(240)
async def test_the_same_burst_over_mqtt311_is_dropped_by_the_broker_and_raises_the_alarm(tmp_path):
    # MQTT 3.1.1 gets the broker's 20 in flight and 1000 queued: it must lose, and say so.
    async with _burst(tmp_path, "protocol = 3\n", sys_interval=1) as run:
        assert run["journaled"] < BURST, "the stock broker did not drop: this test proves nothing"
        assert "dropped" in run["broker"].log()
        deadline = run["done_at"] + 10  # the alarm within 10 s of the loss
        while _count(run["db"], "SELECT count(*) FROM exceptions "
                                "WHERE kind='broker_dropped'") == 0:
            assert time.monotonic() < deadline, run["log"].read_text()[-3000:]
            await asyncio.sleep(0.2)
        text = run["log"].read_text()
        assert "ERROR" in text and "dropped" in text, text[-3000:]


@pytest.mark.timeout(240)
async def test_a_broker_restart_mid_burst_loses_nothing_on_a_site_broker(tmp_path):
    # What the broker takes while the gateway reconnects waits in its persistent session;
    # with config/mosquitto.conf's queue limit all of it fits.
    async with _burst(tmp_path, "", restart_mid=True, limits="site") as run:
        assert run["journaled"] == BURST, (
            f"{BURST - run['journaled']} of {BURST} missing after the broker restart\n"
            f"{run['log'].read_text()[-3000:]}")
        assert "dropped" not in run["broker"].log()


@pytest.mark.timeout(240)
async def test_a_broker_restart_mid_burst_on_a_stock_broker_drops_and_says_so(tmp_path):
    # A stock broker queues 1000 messages for a gateway that is reconnecting, then drops:
    # that is an alarm within 10 s, never silence (its counter restarts at 0 with it).
    async with _burst(tmp_path, "", sys_interval=1, restart_mid=True) as run:
        assert run["journaled"] < BURST, "the stock broker did not drop: this test proves nothing"
        deadline = run["done_at"] + 10
        while _count(run["db"], "SELECT count(*) FROM exceptions "
                                "WHERE kind='broker_dropped'") == 0:
            assert time.monotonic() < deadline, run["log"].read_text()[-3000:]
            await asyncio.sleep(0.2)
