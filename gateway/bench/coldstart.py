"""Cold-start stage: process start → first reading committed, numba cache warm on disk.

A gateway restarts with a reading already waiting for it at the broker (its persistent
session holds it), as after a power cut. Each run starts a fresh `python -m
gateway.bench.ingest serve` process on an empty journal and stops the clock when the
transaction holding that reading committed. One untimed run warms the numba cache
first; the figure is the median of the timed runs.
"""

from __future__ import annotations

import pathlib
import statistics
import sys
import time
from datetime import datetime, timezone

import numpy as np

from gateway.bench.ingest import (TOPIC, site_env, start_gateway, wait_line,
                                  write_site)

# Not the ingest stage's id: its MQTT session may still hold readings that stage left
# unacknowledged when it stopped, and they would be delivered here too.
COLD_ID = "bench-cold"


def _queue_one(broker, event_id: str) -> None:
    """Leave one reading queued for the gateway's session (created first if needed)."""
    import paho.mqtt.client as mqtt

    from gateway.events import Receipt, encode_event

    host, port = "127.0.0.1", broker.port
    session = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{COLD_ID}-events",
                          clean_session=False)
    session.username_pw_set(broker.username, broker.password)
    session.connect(host, port)
    session.loop_start()
    session.subscribe(TOPIC, qos=1)  # the broker keeps the filter with the session
    time.sleep(0.1)
    session.disconnect()
    session.loop_stop()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-cold-{event_id}")
    pub.username_pw_set(broker.username, broker.password)
    pub.connect(host, port)
    pub.loop_start()
    ts = datetime.now(timezone.utc).isoformat()
    info = pub.publish(TOPIC, encode_event(Receipt(
        id=event_id, ts=ts, item="R0-00000", qty=10.0, location="RM", unit_price=1.0)), qos=1)
    info.wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()


def run_stage(folder: pathlib.Path, broker, items: int, depth: int, runs: int = 3) -> dict:
    config = write_site(folder, items, depth, broker.url, db="var/coldstart.db",
                        gateway_id=COLD_ID)
    env = site_env(broker.username, broker.password)
    record = folder / "coldstart-record.npz"
    times = []
    for k in range(runs + 1):
        for suffix in ("", "-wal", "-shm"):
            pathlib.Path(folder / "var" / f"coldstart.db{suffix}").unlink(missing_ok=True)
        _queue_one(broker, f"cold-{time.time_ns()}-{k}")
        t0 = time.time()
        gw = start_gateway(config, env, 1, record, 60)
        try:
            wait_line(gw, "ready", 60)
            _, err = gw.communicate(timeout=60)
        finally:
            if gw.poll() is None:
                gw.kill()
                gw.wait()
        if gw.returncode:
            raise RuntimeError(f"cold-start gateway exited {gw.returncode}: {err[-3000:]}")
        committed = np.load(record)["committed"]
        if len(committed) != 1:
            raise RuntimeError(f"cold start: {len(committed)} readings committed, expected 1")
        if k:  # run 0 only warms caches
            times.append(float(committed[0]) - t0)
        print(f"bench:   cold start run {k}: {float(committed[0]) - t0:.2f} s"
              f"{' (warm-up)' if k == 0 else ''}", file=sys.stderr)
    return {"cold_start_s": round(statistics.median(times), 3), "runs_s": [round(t, 3)
                                                                           for t in times]}
