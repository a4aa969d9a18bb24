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
    "peak_rss_mb": 400.0,           # for the 1M-event replay, and each history command
    "history_ingest_events_per_s": 100_000.0,
    "history_reingest_events_per_s": 500_000.0,
    "history_replay_events_per_s": 250_000.0,
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
        out += ["replay, engine only (decode + cost + post from the journal, nothing written)",
                table(("", "value", "target"), rows, right=(1,)), ""]
    out += _history(result.get("history"))
    out += _fifo_peer(result.get("fifo_peer"))
    ing = result.get("ingest")
    if ing:
        rows = [("sustained readings/s", _num(ing["readings_per_s"]),
                 f"≥ 20,000  {_mark(ing['readings_per_s'] >= TARGETS['ingest_readings_per_s'])}"),
                ("offered for latency /s", _num(ing["offered_per_s"]),
                 f"achieved {_num(ing.get('achieved_offered_per_s'))}"),
                ("p50 publish→commit ms", _num(ing["p50_ms"], 1), ""),
                ("p99 publish→commit ms", _num(ing["p99_ms"], 1),
                 f"≤ 50  {_mark(ing['p99_ms'] is not None and ing['p99_ms'] <= 50)}")]
        out += ["live ingest (MQTT publisher → Mosquitto → gateway → committed journal)",
                table(("", "value", "target"), rows, right=(1,)), ""]
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
