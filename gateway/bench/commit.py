"""The journal's commit alone, at the batch sizes the live path hands it.

`python -m gateway.bench.commit [BATCH [EVENTS]]` writes the bench's site (200 items, BOM
depth 5) in the temp dir, opens its journal as `gateway run` opens it (synchronous FULL,
the alert book, the collector's policy), and submits EVENTS events of the synthetic
plant's mix (20,000 by default) as the event loop hands them over: each decoded ahead
with its canonical bytes, stamped now, BATCH a commit (50 by default, what a commit holds
at 5,000 readings/s). The first 2,000 are not timed. It prints one JSON object:
`cpu_us_per_event` (process CPU around the timed submits) and, with `--parts`, the CPU of
the parts a commit is made of (the alert book, the engine, the stock projection), each
per event, by timers around those calls.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import pathlib
import tempfile
import time

WARM = 2000
SOURCE = "mqtt:plant/events"  # the channel the events topic binds them to


def _events(master, n: int) -> list:
    import msgspec

    from gateway.bench.synth import EventStream
    from gateway.events import encode_event
    from gateway.journal import Submission, predecode

    now = datetime.datetime.now(datetime.timezone.utc)
    subs = []
    for k, ev in enumerate(EventStream(master, seed=23).take(n)):
        ts = (now + datetime.timedelta(microseconds=k)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        raw = encode_event(msgspec.structs.replace(ev, ts=ts))
        event, canon = predecode(raw, SOURCE)
        subs.append(Submission(raw, source=SOURCE, event=event, canon=canon))
    return subs


@contextlib.contextmanager
def _timers(parts: dict[str, float]):
    """Process CPU of each part, summed into `parts`, while the block runs (the calls
    wrapped, then put back)."""
    from costing.engine import Engine
    from gateway import projections
    from gateway.alerts.book import AlertBook

    wrapped = []

    def timed(owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def call(*args, **kwargs):
            t = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                parts[label] = parts.get(label, 0.0) + time.process_time() - t
        wrapped.append((owner, name, inner))
        setattr(owner, name, call)

    timed(AlertBook, "judge_batch", "alert_book_judge")
    timed(AlertBook, "flush", "alert_book_flush")
    timed(Engine, "post_many", "engine")
    timed(projections, "project_items", "stock_projection")
    timed(projections, "project_orders", "order_projection")
    try:
        yield
    finally:
        for owner, name, inner in wrapped:
            setattr(owner, name, inner)


def run(batch: int, n: int, parts: bool) -> dict:
    from gateway import gc_policy
    from gateway.bench.ingest import write_site
    from gateway.bench.synth import make_master
    from gateway.commands._common import load_plant, open_journal

    with tempfile.TemporaryDirectory(prefix="gateway-bench-commit-") as folder:
        cfg = write_site(pathlib.Path(folder) / "site", 200, 5, "mqtt://127.0.0.1:1",
                         db=str(pathlib.Path(folder) / "site" / "var" / "gateway.db"))
        plant = load_plant(argparse.Namespace(config=str(cfg)))
        subs = _events(make_master(200, 5), n)
        journal = open_journal(plant)
        gc_policy.tune()
        statuses: dict[str, int] = {}
        figures: dict[str, float] = {}
        try:
            for i in range(0, min(WARM, n), batch):
                journal.submit(subs[i:i + batch])
            with _timers(figures) if parts else contextlib.nullcontext():
                t = time.process_time()
                for i in range(WARM, n, batch):
                    for result in journal.submit(subs[i:i + batch]):
                        statuses[result.status] = statuses.get(result.status, 0) + 1
                cpu = time.process_time() - t
        finally:
            journal.close()
    timed = max(n - WARM, 1)
    return {"batch": batch, "events": n - WARM, "statuses": statuses,
            "cpu_us_per_event": round(cpu * 1e6 / timed, 1),
            **{f"{k}_us_per_event": round(v * 1e6 / timed, 1) for k, v in figures.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gateway.bench.commit")
    p.add_argument("batch", type=int, nargs="?", default=50)
    p.add_argument("events", type=int, nargs="?", default=20000)
    p.add_argument("--parts", action="store_true", help="time the parts of a commit too")
    args = p.parse_args(argv)
    print(json.dumps(run(args.batch, args.events, args.parts)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
