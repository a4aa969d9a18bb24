"""`gateway bench --quick` as CI runs it, shrunk further: every stage, the §10 JSON shape.

The run is real end to end (numba kernels against their references, a generated SQLite
journal replayed in its own process, a Mosquitto broker on a free port, the MQTT driver
and the Gateway runtime in a child process); the assertions are on shape and sanity,
never on speed — performance is measured by the benchmark, not gated by tests.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gateway.bench.kernels import KernelMismatch, _same
from tests.gateway.plant import gateway

KERNELS = {"rollup", "explode", "std_through", "value", "variance", "post", "minor"}


# One whole quick bench (every stage, real brokers, nats-server, PostgreSQL) runs in the
# first test that asks for it: ~60 s here, more on a busy machine, and the consolidation
# stage can wait out a held sequence gap (docs/performance.md).
pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def quick_run():
    proc = gateway("bench", "--quick", "--format", "json", "--events", "20000",
                   "--ingest-readings", "1500", "--history-events", "4000",
                   "--fifo-movements", "3000",
                   timeout=400)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def _finite_positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_json_has_every_figure(quick_run):
    result, _ = quick_run
    assert {"kernels", "replay", "ingest", "cold_start_s", "peak_rss_mb"} <= set(result)
    assert {k["name"] for k in result["kernels"]} == KERNELS
    for k in result["kernels"]:
        assert set(k) == {"name", "events", "numba_s", "reference_s", "ratio"}
        assert k["events"] > 0 and _finite_positive(k["numba_s"]), k
        assert _finite_positive(k["reference_s"]) and _finite_positive(k["ratio"]), k
        assert k["ratio"] == pytest.approx(k["reference_s"] / k["numba_s"], rel=0.02, abs=0.1)
    assert {"events", "seconds", "events_per_s"} <= set(result["replay"])
    assert {"offered_per_s", "readings_per_s", "p50_ms", "p99_ms"} <= set(result["ingest"])


def test_replay_applies_every_stored_event_and_balances(quick_run):
    replay = quick_run[0]["replay"]
    assert replay["events"] == 20000
    assert replay["rejected"] == 0
    assert replay["ledger_imbalance"] == 0
    assert replay["journal_lines"] > 2 * replay["events"]
    assert replay["events_per_s"] == pytest.approx(replay["events"] / replay["seconds"],
                                                   rel=0.01)


RUNS = {"ingest": ("site", "events"), "ingest_stock": ("stock", "events"),
        "ingest_devices": ("site", "devices"), "ingest_devices_stock": ("stock", "devices")}


@pytest.mark.parametrize("key", RUNS)
def test_ingest_committed_every_published_reading(quick_run, key):
    ingest = quick_run[0][key]
    assert (ingest["broker"], ingest["kind"]) == RUNS[key]
    assert ingest["applied"] == 3000 and ingest["rejected"] == 0 and ingest["duplicate"] == 0
    assert (ingest["published"], ingest["journaled"], ingest["lost"]) == (3000, 3000, 0)
    assert ingest["offered_per_s"] == 5000
    assert _finite_positive(ingest["readings_per_s"])
    assert 0 < ingest["p50_ms"] <= ingest["p99_ms"] <= ingest["max_ms"]
    assert ingest["p99_ms"] < 60_000  # publish → commit stays within the run
    # the publisher's own flood rate is reported, to tell a slow publisher from the gateway
    assert _finite_positive(ingest["flood_offered_per_s"])
    assert _finite_positive(ingest["gateway_cpu_us_per_reading"])
    if ingest["kind"] == "devices":  # readings booked against orders with their material
        assert "negative_stock" not in ingest["exceptions"], ingest["exceptions"]


def test_the_burst_on_the_stock_broker_is_counted_in_the_journal(quick_run):
    burst = quick_run[0]["burst"]
    assert burst["published"] == 7500 and burst["fixed_rate_readings"] == 0
    assert burst["journaled"] + burst["lost"] == 7500
    assert burst["lost"] == 0  # MQTT 5: the gateway's own Receive Maximum, not the broker's 20


def test_history_runs_each_journal_command_over_the_whole_file(quick_run):
    history = quick_run[0]["history"]
    assert history["events"] == 4000
    for key in ("ingest", "reingest", "replay"):
        fig = history[key]
        assert fig["events"] == 4000 and _finite_positive(fig["seconds"]), key
        assert fig["events_per_s"] == pytest.approx(4000 / fig["seconds"], rel=0.01), key
        assert 30 < fig["peak_rss_mb"] < 4000, key
    assert history["replay"]["journal_lines"] > 2 * 4000
    assert history["bytes_per_event"] == pytest.approx(history["journal_bytes"] / 4000,
                                                       abs=0.1)
    by_table = history["bytes_per_event_by_table"]
    assert {"events", "journal_line_ids"} <= set(by_table)  # lines by id (schema 6)
    assert sum(by_table.values()) <= history["bytes_per_event"] + 0.1


def test_fifo_peer_values_one_stream_three_ways_to_the_same_cent(quick_run):
    peer = quick_run[0]["fifo_peer"]
    assert peer["movements"] == 3000 and peer["items"] == 200
    assert peer["values_agree"] and peer["ending_value_cents"] > 0
    for key in ("plain_per_s", "engine_per_s", "ingest_per_s"):
        assert _finite_positive(peer[key]), key
    assert peer["engine_ratio"] == pytest.approx(peer["engine_per_s"] / peer["plain_per_s"],
                                                 rel=0.02, abs=0.06)  # one decimal


def test_the_plain_fifo_takes_the_oldest_layers_first():
    from gateway.bench.fifo_peer import PlainFifo
    from gateway.events import Receipt, Shipment

    ts = "2026-01-05T06:00:00Z"
    fifo = PlainFifo()
    fifo.apply([Receipt(id="a", ts=ts, item="X", qty=10.0, location="RM", unit_price=2.0),
                Receipt(id="b", ts=ts, item="X", qty=5.0, location="RM", unit_price=3.0),
                Shipment(id="c", ts=ts, item="X", qty=12.0, location="RM", unit_price=9.0)])
    assert fifo.layers["X"] == [[3.0, 3.0]]
    assert fifo.outgoing == 10 * 2.0 + 2 * 3.0
    assert fifo.values() == {"X": 900}


def test_cold_start_and_memory_are_plausible(quick_run):
    result, stderr = quick_run
    assert 0.05 < result["cold_start_s"] < 30
    assert 30 < result["peak_rss_mb"] < 4000
    for stage in ("kernels", "replay (engine only)", "history", "fifo_peer",
                  "ingest (events, site broker)", "ingest (events, stock broker)",
                  "ingest (devices, site broker)", "ingest (devices, stock broker)",
                  "burst (stock broker)",
                  "cold start"):
        assert f"bench: {stage} done in" in stderr  # one progress line per stage


def test_table_format_names_each_stage_and_target():
    proc = gateway("bench", "--quick", "--stages", "kernels", "--events", "2000", timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "kernels (numba vs plain-Python reference" in out
    for name in KERNELS:
        assert f"\n{name} " in out
    assert "target ≥ 30×" in out


def test_unknown_stage_is_refused_by_name():
    proc = gateway("bench", "--stages", "kernels,warp")
    assert proc.returncode == 2
    assert "unknown stage 'warp'" in proc.stderr


def test_a_kernel_that_disagrees_with_its_reference_is_reported():
    _same("value", (np.array([100, 200]),), ([100, 200],))
    with pytest.raises(KernelMismatch, match="value: output 1 differs"):
        _same("value", (np.array([1]), np.array([100, 201])), ([1], [100, 200]))


def test_a_commit_that_fails_in_the_gateway_stops_the_run_naming_it():
    proc = gateway("bench", "--quick", "--stages", "ingest", "--ingest-readings", "200",
                   env={"GATEWAY_FAILPOINTS": "journal.before_commit=raise"}, timeout=60)
    assert proc.returncode == 1
    assert ("gateway bench: ingest (events, site broker): gateway child exited 1: RuntimeError: a commit failed: "
            "commit failed: journal cannot commit (FailpointError: journal.before_commit)"
            ) in proc.stderr


class _Recorder:
    """Stands in for the engine: keeps what it was fed, in order."""

    def __init__(self):
        self.fed: list = []

    def apply(self, events):
        self.fed.extend(events)
        return [e.id for e in events]


def test_bulk_replay_reads_the_journal_in_seq_order_in_chunks(tmp_path):
    import sqlite3

    from gateway.bench.replay import stored_journal
    from gateway.events import decode_event
    from gateway.replay import replay_stored

    db = stored_journal(2500, 40, 3, folder=str(tmp_path))
    conn = sqlite3.connect(db)
    engine = _Recorder()
    chunks = list(replay_stored(conn, engine, chunk=1000))
    assert [len(seqs) for seqs, _ in chunks] == [1000, 1000, 500]
    assert [s for seqs, _ in chunks for s in seqs] == list(range(1, 2501))
    one_by_one = [decode_event(p) for (p,) in
                  conn.execute("SELECT payload FROM events ORDER BY seq")]
    assert engine.fed == one_by_one


def test_bulk_replay_of_a_bad_stored_payload_names_the_field(tmp_path):
    import sqlite3

    from gateway.bench.replay import stored_journal
    from gateway.events import EventError
    from gateway.replay import replay_stored

    db = stored_journal(300, 40, 3, folder=str(tmp_path))
    conn = sqlite3.connect(db)
    payload = conn.execute("SELECT payload FROM events WHERE seq = 7").fetchone()[0]
    conn.execute("UPDATE events SET payload = ? WHERE seq = 7",
                 (payload.replace('"ts":', '"qty":-1,"ts":', 1),))
    with pytest.raises(EventError, match="qty"):
        list(replay_stored(conn, _Recorder(), chunk=100))


def test_the_stored_journal_holds_its_lines_and_the_gateway_starts_on_it(tmp_path):
    import sqlite3

    from gateway.bench.replay import stored_journal
    from gateway.bench.synth import make_master
    from gateway.journal import Journal

    db = stored_journal(300, 40, 3, folder=str(tmp_path))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM journal_lines").fetchone()[0] > 300
    Journal(db, make_master(40, 3)).close()  # rebuilt, and the lines are what it posts


def test_site_brokers_run_the_shipped_delivery_settings_and_stock_ones_none(tmp_path):
    from simulators.mosquitto import DELIVERY_SETTINGS, SITE_CONF, Mosquitto, site_settings

    shipped = site_settings(SITE_CONF)
    assert {line.split()[0] for line in shipped} == set(DELIVERY_SETTINGS)
    site = Mosquitto(tmp_path / "site").config.read_text().splitlines()
    stock = Mosquitto(tmp_path / "stock", limits="stock").config.read_text().splitlines()
    assert all(line in site for line in shipped)
    assert [ln for ln in stock if ln.split(" ", 1)[0] in DELIVERY_SETTINGS] == ["persistence true"]


def test_consolidate_stage_reports_throughput_lag_and_the_goal(quick_run):
    result, _ = quick_run
    c = result["consolidate"]
    assert c["lines"] == c["batches"] * c["lines_per_batch"]   # every batch in the ledger
    assert c["quarantined"] == 0
    assert _finite_positive(c["lines_per_s"]) and _finite_positive(c["batches_per_s"])
    assert 0 < c["lag_p50_ms"] <= c["lag_p99_ms"]
    assert c["goal_lines_per_s"] == 200_000 and c["goal_met"] == (c["lines_per_s"] >= 200_000)


def test_the_batcher_measure_batches_every_line_of_its_journal():
    from gateway.bench.batcher import measure

    out = measure(200)                        # 1,200 lines: 3 batches of at most 500
    assert (out["lines"], out["batches"], out["unbatched"]) == (1200, 3, 0)
    assert out["lines_per_s"] > 0 and out["cpu_us_per_line"] > 0


def test_the_commit_measure_applies_every_event_it_times_and_times_its_parts():
    from gateway.bench.commit import run

    out = run(50, 2600, parts=True)  # 600 timed after the 2,000 of warm-up
    assert out["events"] == 600 and sum(out["statuses"].values()) == 600
    assert out["statuses"].get("applied", 0) >= 550, out["statuses"]  # the mix refuses a few
    assert 0 < out["engine_us_per_event"] < out["cpu_us_per_event"]
    assert 0 < out["stock_projection_us_per_event"] < out["cpu_us_per_event"]
    from costing.engine import Engine
    assert Engine.post_many.__qualname__ == "Engine.post_many"  # the timers put back
