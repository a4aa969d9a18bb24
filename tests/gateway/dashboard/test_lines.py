"""The overview's per-line chart (good / scrap per 15 minutes against the standard rate)
and its latest events, on the page and pushed over the live stream."""

from __future__ import annotations

import json
import re
import sqlite3

from costing.master import RoutingStep
from gateway.dashboard.lines import line_rates

from . import sample_plant
from .test_live_and_metrics import next_event
from .test_pages import page

RATES = {"WC-ASSY": {"FG-BRACKET": 20.0}}  # 0.05 h a unit: 5 a quarter hour


def _counts(db_path, rows) -> None:
    """Completions / scrap of WO-1 (on WC-ASSY) at the given times."""
    conn = sqlite3.connect(db_path)
    with conn:
        for seq, typ, ts, qty in rows:
            conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,NULL)",
                         (seq, f"n-{seq}", typ, ts, "plc-assy",
                          json.dumps({"work_order": "WO-1", "qty": qty}), ts))
    conn.close()


async def test_line_chart_has_a_column_per_quarter_and_the_plan(dashboard, db_path):
    _counts(db_path, [(50, "completion", "2026-11-22T06:02:00Z", 4),
                      (51, "scrap", "2026-11-22T06:10:00Z", 1),
                      (52, "completion", "2026-11-22T06:20:00Z", 6),
                      (53, "completion", "2026-11-22T06:50:00Z", 3)])
    d = await dashboard(line_rates=RATES)
    await d.login("vic")
    html = await page(d, "/")
    chart = html[html.index('id="line-WC-ASSY"'):]
    chart = chart[:chart.index("</section>")]
    goods = re.findall(r'class="bar bar-good"[^>]*><title>([^<]*)<', chart)
    assert goods == ["06:00: good 4", "06:15: good 6", "06:45: good 3"]
    assert re.findall(r'class="bar bar-scrap"[^>]*><title>([^<]*)<', chart)[0] == "06:00: scrap 1"
    assert re.search(r'class="plan-line"[^>]*><title>plan 5<', chart)


async def test_latest_events_and_the_line_chart_come_over_the_stream(dashboard, db_path):
    d = await dashboard(line_rates=RATES, chart_interval_s=0.0)
    await d.login("vic")
    resp = await d.client.get("/events")
    _, first = await next_event(resp)
    v = first["values"]
    assert re.match(r'<tr><td class="num"><a href="/trace/event/3">3</a>', v["html:recent"])
    assert "Nothing to draw yet" in v["html:line:WC-ASSY"]  # no completion names WO-1 yet
    sample_plant.add_events(db_path, 2)
    _counts(db_path, [(120, "completion", "2026-11-22T07:05:00Z", 7)])
    for _ in range(20):
        _, msg = await next_event(resp)
        if "good 7" in msg["values"].get("html:line:WC-ASSY", ""):
            break
    assert "07:00: good 7" in msg["values"]["html:line:WC-ASSY"]
    assert msg["values"]["html:recent"].startswith(
        '<tr><td class="num"><a href="/trace/event/120">120</a>')
    resp.close()
    html = await page(d, "/")
    assert 'data-live-html="html:recent"' in html and 'data-live-html="html:line:WC-ASSY"' in html


def test_line_rate_adds_the_steps_an_item_takes_at_one_work_center():
    class Master:
        routings = (RoutingStep("SA", 10, "WELD", 0.5, 0.05), RoutingStep("SA", 20, "WELD", 0.25, 0.05),
                    RoutingStep("FG", 10, "ASSY", 1.0, 0.08))
    assert line_rates(Master) == {"WELD": {"SA": 10.0}, "ASSY": {"FG": 12.5}}
