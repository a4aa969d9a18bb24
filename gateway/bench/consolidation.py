"""The `consolidate` bench stage: N gateways' GL batches through JetStream into PostgreSQL.

Everything is real and private to the stage: a `nats-server -js` and a PostgreSQL
cluster (`initdb` in the bench folder, the test cluster's settings: fsync off), the
gateways' own payload builder and NATS sink, and `gateway consolidate` processes
sharing one durable consumer. Two phases:

  drain   every gateway's backlog is in the stream before the consolidators start; GL
          lines/s and batches/s are every line over the time from the start of the
          first consolidating transaction (its `applied_at`, PostgreSQL's clock) to the
          poll, every 20 ms, that found the last batch committed (the same machine's
          wall clock). A small backlog may drain between two polls, so the first
          commit a poll sees is no usable start.
  steady  the gateways publish at half the drained rate for a few seconds, each batch
          stamped `created_at` when it is published; the end-to-end lag of a batch is
          its `applied_at - created_at` (one clock: the same machine)
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import subprocess
import sys
import time

from gateway.upstream.batcher import EntryLines, _utc_now, build_payload
from gateway.upstream.sink import Ack, Retry

__all__ = ["GOAL_LINES_PER_S", "run_stage"]

GOAL_LINES_PER_S = 200_000.0
_PLANT = "bench"
_STREAM = "GL"


def _entries(gateway: str, seq: int, lines: int) -> list[EntryLines]:
    """Balanced entries of two lines each (an issue of material to a work order)."""
    out = []
    for i in range(lines // 2):
        e = seq * 10_000 + i
        minor = 100 + (e * 7919) % 250_000
        ev = f"ev-{gateway}-{e}"
        out.append(EntryLines(e, "2024-05", [
            (2 * e, e, ev, minor, 0, "1400", "WC1", f"WO{i % 50}", f"F{i % 20}", "issue", "2024-05"),
            (2 * e + 1, e, ev, 0, minor, "1300", "WC1", f"WO{i % 50}", f"A{i % 200}", "issue", "2024-05")]))
    return out


def _payload(gateway: str, seq: int, lines: int) -> dict:
    return build_payload(gateway_id=gateway, seq=seq, period="2024-05", currency="EUR",
                         decimals=2, entries=_entries(gateway, seq, lines), summarize=False,
                         created_at=_utc_now())


def _plant_toml(folder: pathlib.Path, url: str, gateways: list[str]) -> pathlib.Path:
    path = folder / "plant.toml"
    path.write_text(
        f'[plant]\nid = "{_PLANT}"\ncurrency = "EUR"\ngateways = {gateways!r}\n\n'.replace("'", '"')
        + f'[nats]\nservers = ["{url}"]\nstream = "{_STREAM}"\nsubject = "gl.{_PLANT}.>"\n'
        'durable = "bench-consolidator"\nfetch_batch = 50\n\n[postgres]\ndsn_env = "PLANT_DSN"\n')
    return path


def _sinks(url: str, gateways: list[str]):
    from gateway.upstream.nats_sink import NatsSink

    return [NatsSink([url], f"gl.{_PLANT}.{g}", _STREAM, stream_subjects=f"gl.{_PLANT}.>",
                     create_stream=True, name=g) for g in gateways]


async def _publish(sinks, docs_per_gateway: list[list[dict]], rate_batches_per_s: float | None) -> float:
    """Each gateway sends its batches in order (waiting for the PubAck, as the outbox does);
    at `rate` batches/s over all gateways, stamped when sent. Returns the seconds taken."""
    t0 = time.perf_counter()
    interval = len(sinks) / rate_batches_per_s if rate_batches_per_s else 0.0

    async def one(sink, docs: list[dict], offset: float) -> None:
        for k, doc in enumerate(docs):
            if interval:
                delay = t0 + offset + k * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                doc["created_at"] = _utc_now()
            for _ in range(20):   # a Retry is sent again, as the outbox does
                verdict = await sink.send(doc)
                if not isinstance(verdict, Retry):
                    break
                await asyncio.sleep(0.2)
            if not isinstance(verdict, Ack):
                raise RuntimeError(f"{sink}: {verdict}")

    await asyncio.gather(*(one(s, docs, i * interval / len(sinks))
                           for i, (s, docs) in enumerate(zip(sinks, docs_per_gateway))))
    return time.perf_counter() - t0


def _wait_applied(conn, total: int, procs: list[subprocess.Popen], timeout: float) -> list[tuple]:
    """Poll the ledger until `total` batches are in; the (wall time, batches, lines) seen."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        batches, lines = conn.execute(
            "SELECT coalesce(sum(batches), 0)::bigint, coalesce(sum(lines), 0)::bigint FROM plant_gateways").fetchone()
        seen.append((time.time(), batches, lines))
        if batches >= total:
            return seen
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"gateway consolidate exited {p.returncode}: "
                                   f"{p.stderr.read()[-2000:] if p.stderr else ''}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every batch was consolidated within {timeout:.0f} s")
        time.sleep(0.02)


def run_stage(folder: pathlib.Path, n_gateways: int, batches: int, lines: int,
              consolidators: int, steady_s: float, progress) -> dict:
    """Drain and steady-load figures; raises RuntimeError if a part does not start."""
    import psycopg

    from simulators.nats_server import NatsServer
    from simulators.postgres import Postgres

    folder.mkdir(parents=True, exist_ok=True)
    gateways = [f"line{i + 1}" for i in range(n_gateways)]
    nats_server = NatsServer(folder / "nats").start()
    pg = Postgres(folder / "pg")
    procs: list[subprocess.Popen] = []
    try:
        pg.start()
        toml = _plant_toml(folder, nats_server.url, gateways)
        progress(f"  building {n_gateways} x {batches} batches of {lines} lines")
        backlog = [[_payload(g, s, lines) for s in range(1, batches + 1)] for g in gateways]
        sinks = _sinks(nats_server.url, gateways)
        pub_s = asyncio.run(_publish_and_close(sinks, backlog, None))
        progress(f"  {n_gateways * batches} batches in the stream in {pub_s:.1f} s; "
                 f"{consolidators} consolidators draining")
        env = {**os.environ, "PLANT_DSN": pg.dsn}
        log = open(folder / "consolidate.log", "w")
        procs = [subprocess.Popen([sys.executable, "-m", "gateway", "consolidate", "-c", str(toml)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=log)
                 for _ in range(consolidators)]
        with psycopg.connect(pg.dsn, autocommit=True, connect_timeout=10) as conn:
            _wait_for_schema(conn, procs)
            seen = _wait_applied(conn, n_gateways * batches, procs, timeout=300)
            first = conn.execute("SELECT extract(epoch FROM min(applied_at))::float8 "
                                 "FROM plant_batches").fetchone()[0]
            drain = _drain_rate(first, seen)
            rate = max(drain["lines_per_s"] / 2, float(lines)) / lines   # batches/s, half the drain
            n = max(2, int(rate * steady_s / n_gateways))
            steady = [[_payload(g, s, lines) for s in range(batches + 1, batches + n + 1)]
                      for g in gateways]
            progress(f"  steady load: {rate * lines:,.0f} lines/s for {n * n_gateways / rate:.1f} s")
            sent_s = asyncio.run(_publish_and_close(_sinks(nats_server.url, gateways), steady, rate))
            _wait_applied(conn, n_gateways * (batches + n), procs, timeout=120)
            p50, p99 = conn.execute(
                "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY "
                "extract(epoch FROM applied_at - created_at)) FROM plant_batches WHERE seq > %s",
                (batches,)).fetchone()[0]
            held = conn.execute("SELECT count(*) FROM plant_quarantine").fetchone()[0]
        return {"gateways": n_gateways, "batches": n_gateways * batches, "lines_per_batch": lines,
                "consolidators": consolidators, **drain,
                "offered_lines_per_s": round(rate * lines),
                "achieved_offered_lines_per_s": round(n * n_gateways * lines / sent_s),
                "lag_p50_ms": round(p50 * 1000, 1), "lag_p99_ms": round(p99 * 1000, 1),
                "quarantined": held, "goal_lines_per_s": GOAL_LINES_PER_S,
                "goal_met": drain["lines_per_s"] >= GOAL_LINES_PER_S}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        pg.close()
        nats_server.stop()


async def _publish_and_close(sinks, docs, rate) -> float:
    try:
        return await _publish(sinks, docs, rate)
    finally:
        for s in sinks:
            await s.close()


def _wait_for_schema(conn, procs, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("SELECT 1 FROM plant_gateways LIMIT 1")
            return
        except psycopg.errors.UndefinedTable:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("gateway consolidate did not create the plant tables") from None
            time.sleep(0.1)


def _drain_rate(first_started: float, seen: list[tuple]) -> dict:
    """Committed lines and batches per second: every line, from the start of the first
    consolidating transaction to the poll that found them all (both wall clock)."""
    t1, b1, l1 = seen[-1]
    seconds = max(t1 - first_started, 1e-3)
    return {"drain_s": round(seconds, 3), "lines": int(l1),
            "lines_per_s": round(l1 / seconds), "batches_per_s": round(b1 / seconds, 1)}
