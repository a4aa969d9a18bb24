"""`gateway bench [--quick] [--format table|json]`: the performance figures (see docs/performance.md).

Stages, in order: kernels (numba vs reference), replay (engine only: 1M events from an
SQLite journal; 100k with --quick), history (`gateway ingest`, re-ingest and `gateway
replay` of 1M events through the command line, each in its own process; 20k with
--quick), fifo_peer (a FIFO receipt/shipment stream valued by a plain-Python FIFO, by
the engine and by `gateway ingest`: 200k movements, 20k with --quick), ingest (MQTT
through a real Mosquitto into committed entries), cold start,
peak RSS of the replay process, and consolidate (N gateways' GL batches through a real
nats-server into PostgreSQL by `gateway consolidate` processes). A progress line per stage
goes to stderr; the result goes to stdout as a table or as the §10 JSON object.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile
import time

STAGES = ("kernels", "replay", "history", "fifo_peer", "ingest", "coldstart", "consolidate")

# Full sizes; --quick divides the event counts (and the plant) by ten.
FULL = {"items": 2000, "depth": 5, "events": 1_000_000, "orders": 20_000,
        "offered": 5000, "fixed": 50_000, "flood": 100_000, "history": 1_000_000,
        "burst": 75_000, "plant_gateways": 8, "plant_batches": 100, "plant_lines": 500,
        "plant_consolidators": 2, "plant_steady_s": 10.0,
        "fifo_peer": 200_000}


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true", help="sizes / 10: a CI smoke run")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--stages", default=",".join(STAGES),
                   help=f"comma-separated subset of {', '.join(STAGES)}")
    p.add_argument("--events", type=int, default=None,
                   help="events to replay and to value in the kernels (default 1,000,000;"
                        " 100,000 with --quick)")
    p.add_argument("--history-events", type=int, default=None,
                   help="events ingested and replayed through the command line (default"
                        " 1,000,000; 20,000 with --quick)")
    p.add_argument("--fifo-movements", type=int, default=None,
                   help="receipts and shipments of the fifo_peer stage (default 200,000;"
                        " 20,000 with --quick)")
    p.add_argument("--items", type=int, default=None,
                   help="items in the synthetic plant (default 2,000; 200 with --quick)")
    p.add_argument("--depth", type=int, default=None,
                   help="BOM levels above raw material (default 5)")
    p.add_argument("--offered", type=float, default=None,
                   help="readings/s offered in the ingest latency phase (default 5,000)")
    p.add_argument("--ingest-readings", type=int, default=None,
                   help="readings published in each ingest phase (default 5,000/s x 10 s"
                        " then 100,000; a tenth with --quick)")


def sizes_for(args) -> dict:
    s = dict(FULL)
    if args.quick:
        s = {**s, "items": 200, "events": 100_000, "orders": 2_000, "fixed": 5_000,
             "flood": 10_000, "history": 20_000, "burst": 7_500, "plant_gateways": 4,
             "plant_batches": 25, "plant_steady_s": 3.0, "fifo_peer": 20_000}
    if args.events is not None:
        s["events"] = args.events
    if args.history_events is not None:
        s["history"] = args.history_events
    if args.fifo_movements is not None:
        s["fifo_peer"] = args.fifo_movements
    for key in ("items", "depth"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    if args.offered is not None:
        s["offered"] = args.offered
    if args.ingest_readings is not None:
        s["fixed"] = s["flood"] = args.ingest_readings
    s["quick"] = bool(args.quick)
    return s


def _progress(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(args) -> int:
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        print(f"gateway bench: --stages: unknown stage {unknown[0]!r} "
              f"(choose from {', '.join(STAGES)})", file=sys.stderr)
        return 2
    sz = sizes_for(args)
    if sz["depth"] < 1 or sz["items"] < 4 * (sz["depth"] + 1):
        print(f"gateway bench: --items: {sz['items']} is too few for a BOM {sz['depth']} "
              f"levels deep (need at least {4 * (max(sz['depth'], 1) + 1)})", file=sys.stderr)
        return 2
    result: dict = {"kernels": None, "replay": None, "history": None, "fifo_peer": None,
                    "ingest": None, "ingest_stock": None, "ingest_devices": None,
                    "ingest_devices_stock": None, "burst": None, "cold_start_s": None,
                    "peak_rss_mb": None, "consolidate": None, "sizes": sz}
    t_all = time.perf_counter()
    try:
        _run_stages(stages, sz, result)
    except StageFailed as exc:
        print(f"gateway bench: {exc}", file=sys.stderr)
        return 1
    result["seconds"] = round(time.perf_counter() - t_all, 1)
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        from gateway.bench.report import render
        sys.stdout.write(render(result))
    return 0


def _run_stages(stages: list[str], sz: dict, result: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        folder = pathlib.Path(tmp)
        if "kernels" in stages:
            result["kernels"] = _stage("kernels", lambda: _kernels(sz))
        if "replay" in stages:
            rp = _stage("replay (engine only)", lambda: _replay(sz))
            result["peak_rss_mb"] = rp.pop("peak_rss_mb")
            result["replay"] = rp
        if "history" in stages:
            from gateway.bench import history
            result["history"] = _stage("history", lambda: history.run_stage(
                folder, sz["history"], sz["items"], sz["depth"], _progress))
        if "fifo_peer" in stages:
            from gateway.bench import fifo_peer
            result["fifo_peer"] = _stage("fifo_peer", lambda: fifo_peer.run_stage(
                folder, sz["fifo_peer"], 200, _progress))
        if "ingest" in stages or "coldstart" in stages:
            _broker_stages(stages, sz, result, folder)
        if "consolidate" in stages:
            from gateway.bench import consolidation
            result["consolidate"] = _stage("consolidate", lambda: consolidation.run_stage(
                folder / "plant", sz["plant_gateways"], sz["plant_batches"], sz["plant_lines"],
                sz["plant_consolidators"], sz["plant_steady_s"], _progress))


def _broker_stages(stages: list[str], sz: dict, result: dict, folder: pathlib.Path) -> None:
    """Live ingest on two real brokers side by side: one with the delivery settings of
    config/mosquitto.conf ("site") and one as the Debian package ships it ("stock": 20
    in flight, 1000 queued), then a burst at full speed on the stock one, counted in
    the journal. Cold start runs on the site broker."""
    from gateway.bench import ingest
    from simulators.mosquitto import Mosquitto, MosquittoMissing

    brokers = {}
    try:
        # the burst gets a broker of its own: the sessions the ingest runs leave behind
        # would queue (and a stock broker drop) the burst's messages for gateways gone
        for name, limits in (("site", "site"), ("stock", "stock"), ("burst", "stock")):
            try:
                brokers[name] = Mosquitto(folder / f"broker-{name}", limits=limits,
                                          username="bench")
                brokers[name].start()
            except (MosquittoMissing, RuntimeError) as exc:
                raise StageFailed(f"broker: {exc}") from exc
        if "ingest" in stages:
            for limits, kind, key in INGEST_RUNS:
                result[key] = _stage(f"ingest ({kind}, {limits} broker)",
                                     lambda: ingest.run_stage(
                    folder / f"site-{limits}-{kind}", brokers[limits], sz["items"],
                    sz["depth"], sz["offered"], sz["fixed"], sz["flood"], kind=kind))
                result[key]["broker"] = limits
            result["burst"] = _stage("burst (stock broker)", lambda: ingest.run_stage(
                folder / "burst", brokers["burst"], sz["items"], sz["depth"], sz["offered"],
                0, sz["burst"]))
        if "coldstart" in stages:
            from gateway.bench import coldstart
            cs = _stage("cold start", lambda: coldstart.run_stage(
                folder / "site", brokers["site"], sz["items"], sz["depth"]))
            result["cold_start_s"] = cs["cold_start_s"]
    finally:
        for broker in brokers.values():
            broker.stop()


# (broker, kind of message, result key): canonical events on the events topic and device
# readings on device topics, each on the site broker and on the stock one
INGEST_RUNS = (("site", "events", "ingest"), ("stock", "events", "ingest_stock"),
               ("site", "devices", "ingest_devices"),
               ("stock", "devices", "ingest_devices_stock"))


class StageFailed(RuntimeError):
    pass


def _stage(name: str, fn):
    _progress(f"{name} ...")
    t0 = time.perf_counter()
    try:
        out = fn()
    except (RuntimeError, AssertionError, OSError, ValueError) as exc:
        raise StageFailed(f"{name}: {exc}") from exc
    _progress(f"{name} done in {time.perf_counter() - t0:.1f} s")
    return out


def _kernels(sz: dict) -> list[dict]:
    from costing.plant import Plant
    from gateway.bench.kernels import bench_kernels
    from gateway.bench.synth import make_master

    return bench_kernels(Plant(make_master(sz["items"], sz["depth"])), sz["events"],
                         sz["orders"])


def _replay(sz: dict) -> dict:
    from gateway.bench.replay import stored_journal, warm_up
    from gateway.bench.synth import make_master

    # Compile the batch kernel into the numba cache here, so the replay process's peak
    # RSS is the replay's and not a one-time compilation's (docs/performance.md).
    warm_up(make_master(sz["items"], sz["depth"]))

    t0 = time.perf_counter()
    db = stored_journal(sz["events"], sz["items"], sz["depth"])
    _progress(f"  journal of {sz['events']:,} events ready in {time.perf_counter() - t0:.1f} s"
              f" ({db})")
    # Its own process, so that peak RSS is the replay's and nothing else's.
    proc = subprocess.run([sys.executable, "-m", "gateway.bench.replay", db,
                           str(sz["items"]), str(sz["depth"])],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"replay process failed: {proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    # the same journal opened as the gateway opens it: full replay, then from a snapshot
    proc = subprocess.run([sys.executable, "-m", "gateway.bench.startup", db,
                           str(sz["items"]), str(sz["depth"])],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"start-up process failed: {proc.stderr[-3000:]}")
    out["startup"] = json.loads(proc.stdout)
    return out
