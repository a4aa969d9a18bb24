"""History stage: the journal commands over a plant's history, through the real CLI.

A file of `n` generated events of the plant mix (gateway.bench.synth) is ingested with
`gateway ingest` into a fresh journal, ingested again (every line a duplicate), and
replayed with `gateway replay`; each command runs in its own process under
`python -m gateway.bench.peak`, so its peak RSS is its own. Reported: events/s and
peak RSS of each, and the journal's bytes per event.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

from gateway.bench.synth import EventStream, make_master
from gateway.events import encode_event

CHUNK = 50_000


def write_events(path: pathlib.Path, n: int, items: int, depth: int) -> pathlib.Path:
    """A JSON-lines file of `n` canonical events that all apply, in order (cached by size)."""
    if path.exists():
        return path
    partial = path.with_suffix(f".{os.getpid()}.part")
    stream = EventStream(make_master(items, depth))
    done = 0
    with open(partial, "wb") as fh:
        while done < n:
            batch = stream.take(min(CHUNK, n - done))
            fh.write(b"".join(encode_event(ev) + b"\n" for ev in batch))
            done += len(batch)
    os.replace(partial, path)
    return path


def events_file(n: int, items: int, depth: int) -> pathlib.Path:
    from gateway.bench.replay import VERSION, cache_dir

    return write_events(pathlib.Path(cache_dir()) / f"history-v{VERSION}-{n}-{items}-{depth}"
                        ".jsonl", n, items, depth)


def _command(site: pathlib.Path, *args: str) -> tuple[dict, str, str]:
    """One `gateway` command in its own process: (its figures, stdout, stderr)."""
    record = site / "peak.json"
    proc = subprocess.run([sys.executable, "-m", "gateway.bench.peak", str(record), *args],
                          cwd=site, capture_output=True, text=True)
    if proc.returncode or not record.exists():
        raise RuntimeError(f"gateway {args[0]} failed: {proc.stderr[-3000:]}")
    figures = json.loads(record.read_text())
    record.unlink()
    return figures, proc.stdout, proc.stderr


def _ingest(site: pathlib.Path, cfg: pathlib.Path, events: pathlib.Path, n: int,
            expect: str) -> dict:
    figures, _, err = _command(site, "ingest", "-c", str(cfg), str(events))
    if figures["status"] != 0 or expect not in err:
        raise RuntimeError(f"gateway ingest: expected {expect!r}, got {err[-2000:]}")
    return _rate(figures, n)


def _rate(figures: dict, n: int) -> dict:
    s = figures["seconds"]
    return {"events": n, "seconds": s, "events_per_s": round(n / s, 1) if s else 0.0,
            "peak_rss_mb": figures["peak_rss_mb"]}


def journal_bytes(db: pathlib.Path) -> dict:
    """Bytes of the journal file and of its largest tables and indexes (SQLite's dbstat)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        parts = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"
                                  " ORDER BY 2 DESC LIMIT 8"))
    except sqlite3.OperationalError:  # an SQLite built without dbstat
        parts = {}
    conn.close()
    size = sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    return {"bytes": size, "by_table": parts}


def run_stage(folder: pathlib.Path, n: int, items: int, depth: int, progress=print) -> dict:
    """ingest, re-ingest and replay of `n` generated events through the command line."""
    from gateway.bench.ingest import write_site

    t0 = time.perf_counter()
    events = events_file(n, items, depth)
    progress(f"  {n:,} events in {events} ({time.perf_counter() - t0:.1f} s)")
    site = folder / "history"
    cfg = write_site(site, items, depth, "mqtt://127.0.0.1:1", db="var/history.db")
    db = site / "var" / "history.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    out = {"events": n}
    out["ingest"] = _ingest(site, cfg, events, n, f"{n} applied, 0 duplicate, 0 rejected")
    progress(f"  ingest {out['ingest']['events_per_s']:,.0f} events/s")
    out["reingest"] = _ingest(site, cfg, events, n, f"0 applied, {n} duplicate, 0 rejected")
    progress(f"  re-ingest {out['reingest']['events_per_s']:,.0f} events/s")
    figures, stdout, err = _command(site, "replay", "-c", str(cfg), "--format", "json")
    summary = json.loads(stdout) if stdout.strip() else {}
    if figures["status"] != 0 or not summary.get("identical") or summary.get("events") != n:
        raise RuntimeError(f"gateway replay: not identical: {stdout[-2000:]} {err[-2000:]}")
    out["replay"] = {**_rate(figures, n), "replay_events_per_s": summary["events_per_s"],
                     "journal_lines": summary["journal_lines"]}
    progress(f"  replay {out['replay']['events_per_s']:,.0f} events/s")
    stored = journal_bytes(db)
    out["journal_bytes"] = stored["bytes"]
    out["bytes_per_event"] = round(stored["bytes"] / n, 1)
    out["bytes_per_event_by_table"] = {k: round(v / n, 1) for k, v in stored["by_table"].items()}
    return out
