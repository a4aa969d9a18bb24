"""The bench result for people: one table per stage, each figure beside its target.

Targets (for a 2-core reference machine) are printed, never enforced: a missed
target is a finding to profile, not a failure of the run.
"""

from __future__ import annotations

from gateway.formats import table

TARGETS = {
    "kernel_ratio": 30.0,           # every kernel ≥ 30× its plain-Python reference
    "replay_events_per_s": 1_000_000.0,
    "ingest_readings_per_s": 20_000.0,
    "ingest_p99_ms": 50.0,          # at 5,000 readings/s offered
    "cold_start_s": 3.0,
    "startup_s": 3.0,               # the journal's engine ready from a snapshot, 1M events
    "peak_rss_mb": 400.0,           # for the 1M-event replay, and each history command
    "history_ingest_events_per_s": 100_000.0,
    "history_reingest_events_per_s": 500_000.0,
    "history_replay_events_per_s": 250_000.0,
    "consolidate_lines_per_s": 200_000.0,   # GL lines into the plant ledger, one machine
}


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "MISSED")


def _num(x, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def render(result: dict) -> str:
    out = []
    sizes = result.get("sizes", {})
    if sizes:
        out.append("gateway bench " + ("--quick " if sizes.get("quick") else "") +
                   f"(plant: {sizes.get('items')} items, BOM depth {sizes.get('depth')}; "
                   f"{sizes.get('events'):,} events)")
        out.append("")
    kernels = result.get("kernels") or []
    if kernels:
        rows = [(k["name"], f"{k['events']:,}", f"{k['numba_s']:.3g}", f"{k['reference_s']:.3g}",
                 _num(k["ratio"], 1), _mark(k["ratio"] is not None and
                                            k["ratio"] >= TARGETS["kernel_ratio"]))
                for k in kernels]
        out += ["kernels (numba vs plain-Python reference, same input; target ≥ 30×)",
                table(("kernel", "events", "numba s", "reference s", "ratio", "target"), rows,
                      right=(1, 2, 3, 4)), ""]
    rp = result.get("replay")
    if rp:
        ok = rp["events_per_s"] >= TARGETS["replay_events_per_s"]
        rows = [("events", f"{rp['events']:,}", ""), ("seconds", f"{rp['seconds']:.2f}", ""),
                ("events/s", _num(rp["events_per_s"]), f"≥ 1,000,000  {_mark(ok)}")]
        if "journal_lines" in rp:
            rows += [("journal lines posted", f"{rp['journal_lines']:,}", ""),
                     ("rejected", str(rp["rejected"]), "0 expected"),
                     ("ledger imbalance", str(rp["ledger_imbalance"]), "0 expected")]
        st = rp.get("startup")
        if st:
            ok = st["from_snapshot_s"] <= TARGETS["startup_s"]
            rows += [("journal ready by a full replay s", f"{st['full_replay_s']:.2f}", ""),
                     ("journal ready from a snapshot s", f"{st['from_snapshot_s']:.2f}",
                      f"≤ 3  {_mark(ok)}"),
                     ("  snapshot written s / MB",
                      f"{st['snapshot_write_s']:.2f} / {st['snapshot_mb']:.0f}", "")]
        out += ["replay, engine only (decode + cost + post from the journal, nothing written)",
                table(("", "value", "target"), rows, right=(1,)), ""]
    out += _history(result.get("history"))
    out += _fifo_peer(result.get("fifo_peer"))
    out += _ingest([result.get(k) for k in ("ingest", "ingest_devices", "ingest_stock",
                                            "ingest_devices_stock")], result.get("burst"))
    out += _consolidate(result.get("consolidate"))
    rows = []
    if result.get("cold_start_s") is not None:
        rows.append(("cold start to first reading s", f"{result['cold_start_s']:.2f}",
                     f"≤ 3  {_mark(result['cold_start_s'] <= TARGETS['cold_start_s'])}"))
    if result.get("peak_rss_mb") is not None:
        rows.append(("peak RSS of the engine-only replay MB", f"{result['peak_rss_mb']:.0f}",
                     f"≤ 400  {_mark(result['peak_rss_mb'] <= TARGETS['peak_rss_mb'])}"))
    if rows:
        out += [table(("", "value", "target"), rows, right=(1,)), ""]
    if result.get("seconds") is not None:
        out.append(f"bench took {result['seconds']:.1f} s")
    return "\n".join(out).rstrip() + "\n"


def _history(h: dict | None) -> list[str]:
    if not h:
        return []
    rows = []
    for key, label in (("ingest", "gateway ingest"), ("reingest", "gateway ingest again"),
                       ("replay", "gateway replay")):
        fig = h[key]
        goal = TARGETS[f"history_{key}_events_per_s"]
        rows.append((f"{label} events/s", _num(fig["events_per_s"]),
                     f"≥ {goal:,.0f}  {_mark(fig['events_per_s'] >= goal)}"))
        rows.append(("  peak RSS MB", _num(fig["peak_rss_mb"]),
                     f"≤ 400  {_mark(fig['peak_rss_mb'] <= TARGETS['peak_rss_mb'])}"))
    rows.append(("journal bytes per event", _num(h["bytes_per_event"]), "reported"))
    for name, per in h.get("bytes_per_event_by_table", {}).items():
        rows.append((f"  {name}", _num(per), ""))
    return [f"journal commands over {h['events']:,} events (each its own process, wall time"
            " from start to exit)", table(("", "value", "target"), rows, right=(1,)), ""]


def _fifo_peer(f: dict | None) -> list[str]:
    if not f:
        return []
    rows = [("plain-Python FIFO movements/s", _num(f["plain_per_s"]), ""),
            ("engine (apply_many) movements/s", _num(f["engine_per_s"]), ""),
            ("  × the plain FIFO", _num(f["engine_ratio"], 1),
             f"≥ {f['engine_target']:,.0f}  {_mark(f['engine_ratio'] >= f['engine_target'])}"),
            ("gateway ingest movements/s", _num(f["ingest_per_s"]), ""),
            ("  × the plain FIFO", _num(f["ingest_ratio"], 2),
             f"≥ {f['ingest_target']:,.0f}  {_mark(f['ingest_ratio'] >= f['ingest_target'])}"),
            ("ending values agree to the cent", "yes" if f["values_agree"] else "NO", "")]
    return [f"FIFO peer: {f['movements']:,} receipts and shipments over {f['items']} FIFO"
            " items", table(("", "value", "target"), rows, right=(1,)), ""]


def _ingest(runs: list[dict | None], burst: dict | None) -> list[str]:
    """Live ingest of each kind of message on the site broker and on the stock one, side
    by side, then the burst."""
    runs = [r for r in runs if r]
    if not runs:
        return []
    goal_rate, goal_p99 = TARGETS["ingest_readings_per_s"], TARGETS["ingest_p99_ms"]

    def cells(fn) -> list[str]:
        return [fn(r) for r in runs]

    rows = [
        ("sustained readings/s", *cells(lambda r: _num(r["readings_per_s"])),
         f"≥ {goal_rate:,.0f}"),
        ("offered for latency /s", *cells(lambda r: _num(r.get("achieved_offered_per_s"))),
         f"{_num(runs[0]['offered_per_s'])} asked"),
        ("p50 publish→commit ms", *cells(lambda r: _num(r["p50_ms"], 1)), ""),
        ("p99 publish→commit ms", *cells(lambda r: _num(r["p99_ms"], 1)), f"≤ {goal_p99:.0f}"),
        ("gateway CPU µs/reading", *cells(lambda r: _num(r["gateway_cpu_us_per_reading"], 1)),
         "reported"),
        ("lost (published − journaled)", *cells(lambda r: _num(r["lost"])), "0"),
        ("met", *cells(lambda r: _mark(r["readings_per_s"] >= goal_rate and r["lost"] == 0
                                       and r["p99_ms"] is not None and r["p99_ms"] <= goal_p99)),
         ""),
    ]
    heads = [f"{r.get('broker', '?')}: {r.get('kind', 'events')}" for r in runs]
    out = ["live ingest (MQTT publisher → Mosquitto → gateway → committed journal); site = the"
           " settings of config/mosquitto.conf, stock = Mosquitto's defaults; events ="
           " canonical events on the events topic, devices = device readings on device"
           " topics through the mapping",
           table(("", *heads, "target"), rows, right=tuple(range(1, len(runs) + 1))), ""]
    if burst:
        rows = [("published at full speed", _num(burst["published"]), ""),
                ("offered /s", _num(burst.get("flood_offered_per_s")), ""),
                ("journaled", _num(burst["journaled"]), ""),
                ("lost", _num(burst["lost"]), f"0  {_mark(burst['lost'] == 0)}"),
                ("redelivered, kept once", _num(burst["duplicate"]), "")]
        out += ["burst on the stock broker (counted in the journal)",
                table(("", "value", "target"), rows, right=(1,)), ""]
    return out


def _consolidate(c: dict | None) -> list[str]:
    if not c:
        return []
    goal = TARGETS["consolidate_lines_per_s"]
    rows = [("GL lines/s consolidated", _num(c["lines_per_s"]),
             f"≥ {goal:,.0f}  {_mark(c['lines_per_s'] >= goal)}"),
            ("batches/s", _num(c["batches_per_s"], 1), ""),
            ("offered for lag, lines/s", _num(c["offered_lines_per_s"]),
             f"achieved {_num(c['achieved_offered_lines_per_s'])}"),
            ("p50 created→committed ms", _num(c["lag_p50_ms"], 1), "reported"),
            ("p99 created→committed ms", _num(c["lag_p99_ms"], 1), "reported"),
            ("quarantined", str(c["quarantined"]), "0 expected")]
    return [f"plant consolidation ({c['gateways']} gateways x {c['batches'] // c['gateways']} batches"
            f" of {c['lines_per_batch']} lines → nats-server → {c['consolidators']} × gateway"
            " consolidate → PostgreSQL)", table(("", "value", "target"), rows, right=(1,)), ""]
