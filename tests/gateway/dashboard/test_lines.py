"""The overview's per-line chart (good / scrap per 15 minutes against the standard rate)
and its latest events, on the page and pushed over the live stream."""

from __future__ import annotations

import json
import re
import sqlite3

from costing.master import RoutingStep
from gateway.dashboard import charts
from gateway.dashboard.lines import SHIFT_BUCKETS, line_rates

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


def _bars(chart: str) -> list[tuple[str, float, float, float, float, str]]:
    """(series, x, y, width, height, title) of every bar in one chart's markup."""
    return [(k, float(x), float(y), float(w), float(h), t) for k, x, y, w, h, t in re.findall(
        r'<rect class="bar bar-(\w+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
        r'height="([\d.]+)"><title>([^<]*)<', chart)]


def _line_chart(html: str, line: str) -> str:
    chart = html[html.index(f'id="line-{line}"'):]
    return chart[:chart.index("</section>")]


async def test_one_quarter_of_scrap_is_one_narrow_bar_at_its_time_not_the_whole_chart(
        dashboard, db_path):
    # the whole stream in one quarter hour, and that quarter only scrap
    _counts(db_path, [(50, "scrap", "2026-11-22T06:02:00Z", 2),
                      (51, "scrap", "2026-11-22T06:11:00Z", 1)])
    d = await dashboard(line_rates=RATES)
    await d.login("vic")
    bars = _bars(_line_chart(await page(d, "/"), "WC-ASSY"))
    assert [(k, t) for k, *_, t in bars] == [("scrap", "06:00: scrap 3")]  # one, no empties
    _, x, y, width, height, _ = bars[0]
    slot = (charts.W - charts.LEFT - charts.RIGHT) / SHIFT_BUCKETS  # 8 h of quarters
    assert width <= slot  # it was 70 % of the plot: one bucket drawn as the whole axis
    # the latest quarter of the journal's shift: the right-most slot, inside the frame
    assert charts.W - charts.RIGHT - slot <= x and x + width <= charts.W - charts.RIGHT
    assert charts.TOP <= y and y + height <= charts.H - charts.BOTTOM + 0.05


async def test_quarters_without_output_keep_their_place_on_the_axis(dashboard, db_path):
    _counts(db_path, [(50, "completion", "2026-11-22T06:02:00Z", 4),
                      (51, "completion", "2026-11-22T06:50:00Z", 3),
                      (52, "wo_release", "2026-11-22T07:20:00Z", 1)])  # the stream's "now"
    d = await dashboard(line_rates=RATES)
    await d.login("vic")
    bars = _bars(_line_chart(await page(d, "/"), "WC-ASSY"))
    assert [t for *_, t in bars] == ["06:00: good 4", "06:45: good 3"]
    slot = (charts.W - charts.LEFT - charts.RIGHT) / SHIFT_BUCKETS
    # 06:00 and 06:45 are three quarters apart; 06:45 is two before 07:15, the last slot
    assert abs((bars[1][1] - bars[0][1]) - 3 * slot) < 0.2
    assert abs((charts.W - charts.RIGHT - slot / 2) - (bars[1][1] + bars[1][3] / 2) - 2 * slot) < 0.2


def test_bar_chart_draws_a_bar_per_non_zero_value_inside_its_column():
    labels = [f"06:{m:02d}" for m in (0, 15, 30, 45)]
    svg = charts.bar_chart(labels, {"good": [4.0, 0.0, 6.0, 0.0], "scrap": [1.0, 2.0, 0.0, 0.0]},
                           lambda v: f"{v:g}", "t", plan=0.0)
    bars = _bars(svg)
    assert [t for *_, t in bars] == ["06:00: good 4", "06:00: scrap 1", "06:15: scrap 2",
                                     "06:30: good 6"]
    col = (charts.W - charts.LEFT - charts.RIGHT) / 4
    for k, x, y, w, h, t in bars:
        i = labels.index(t[:5])
        assert charts.LEFT + i * col <= x and x + w <= charts.LEFT + (i + 1) * col
        assert charts.TOP - 0.05 <= y and y + h <= charts.H - charts.BOTTOM + 0.05
    # scrap 1 sits on good 4: its bottom is good's top
    assert abs((bars[1][2] + bars[1][4]) - bars[0][2]) < 0.2
    assert 'class="plan-line"' in svg  # a plan of zero is drawn on the zero line, scale kept


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


async def test_a_running_orders_output_chart_comes_over_the_stream_to_its_page(
        dashboard, db_path):
    d = await dashboard(line_rates=RATES, chart_interval_s=0.0)
    await d.login("vic")
    html = await page(d, "/orders/WO-1")  # WO-1 runs on WC-ASSY
    assert 'data-live-html="html:order:WO-1:output"' in html
    resp = await d.client.get("/events")
    _, first = await next_event(resp)
    assert "Nothing to draw yet" in first["values"]["html:order:WO-1:output"]
    _counts(db_path, [(120, "completion", "2026-11-22T07:05:00Z", 7),
                      (121, "scrap", "2026-11-22T07:20:00Z", 2)])
    for _ in range(20):
        _, msg = await next_event(resp)
        if "scrap 2" in msg["values"].get("html:order:WO-1:output", ""):
            break
    bars = _bars(msg["values"]["html:order:WO-1:output"])
    assert [t for *_, t in bars] == ["07:00: good 7", "07:15: scrap 2"]
    # two quarters of output on the order's axis of at least eight: an eighth wide at most
    assert all(w <= (charts.W - charts.LEFT - charts.RIGHT) / 8 for *_, w, _, _ in bars)
    resp.close()
