"""The drill-down pages in headless Chromium, on a journal written by the real Journal
from a hand-made stream (tests/gateway/trace_plant.py): one work order's page with its
charts, events and lines; a GL line down to the raw reading; a lot's trace as a tree;
every page at a tablet's 800 px without horizontal scroll."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from gateway.config import load_config
from gateway.dashboard import DashboardSettings, DashboardState, create_app
from gateway.masterdata import load_master
from gateway.metrics import Metrics
from gateway.users import UserStore
import sqlite3

from gateway.upstream.batcher import Batcher
from tests.e2e.test_dashboard_browser import (PASSWORDS, assert_fits, browser,  # noqa: F401
                                              shot)
from tests.gateway import trace_plant

pytestmark = pytest.mark.browser


@pytest.fixture
async def site(tmp_path):
    cfg = load_config(trace_plant.build(tmp_path))
    master = load_master(cfg)
    conn = sqlite3.connect(tmp_path / cfg.gateway.db)  # the lines go upstream in a batch
    with conn:
        assert Batcher(conn, "trace-plant", "EUR", 2).run_once(force=True) == [1]
    conn.close()
    users = UserStore(tmp_path / "users.toml")
    users.add("sam", "supervisor", PASSWORDS["sam"])
    state = DashboardState(
        db_path=tmp_path / cfg.gateway.db, users=users, metrics=Metrics(),
        settings=DashboardSettings(
            gateway_id="trace-plant", secure_cookies=False, sse_interval_s=0.2,
            wip_account="1400", inventory_accounts=("1310", "1320", "1330"),
            work_center_locations={w.id: w.location for w in master.work_centers},
            account_names={"1320": "Semi-finished inventory"},
            line_rates={"WC1": {"S": 10.0}}, charged_later={"F": ("B issues", "WC3 labor")}),
        master=master)
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


DRAWN_AS_WRITTEN = """() => [...document.querySelectorAll('svg.chart rect.bar')].map(r => {
    // where the browser drew each bar against where its attributes put it (a style sheet
    // rule on .bar once stretched every chart bar to the chart's right edge, 28 px high)
    const m = r.ownerSVGElement.getScreenCTM(), b = r.getBoundingClientRect();
    const at = (x, y) => new DOMPoint(x, y).matrixTransform(m);
    const [x, y, w, h] = ['x', 'y', 'width', 'height'].map(k => r[k].baseVal.value);
    const p0 = at(x, y), p1 = at(x + w, y + h);
    const off = Math.max(Math.abs(b.left - p0.x), Math.abs(b.top - p0.y),
                         Math.abs(b.right - p1.x), Math.abs(b.bottom - p1.y));
    return off < 1 ? null : r.querySelector('title').textContent + ': drawn ' +
        [b.left, b.top, b.width, b.height].map(Math.round) + ', written ' +
        [p0.x, p0.y, p1.x - p0.x, p1.y - p0.y].map(Math.round);
  }).filter(Boolean)"""


async def _login(browser, base: str, width: int = 1280):  # noqa: F811 - the fixture
    ctx = await browser.new_context(viewport={"width": width, "height": 900})
    page = await ctx.new_page()
    await page.goto(base + "/login")
    await page.fill("input[name=name]", "sam")
    await page.fill("input[name=password]", PASSWORDS["sam"])
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/")
    return ctx, page


async def test_work_order_page_from_the_overview_with_its_events_lines_and_charts(
        site, browser):  # noqa: F811
    from playwright.async_api import expect

    ctx, page = await _login(browser, site)
    await page.click("text=WO-S")  # running on WC1: the overview links to its own page
    await page.wait_for_url(site + "/orders/WO-S")
    await page.goto(site + "/orders")  # and so does the list
    await page.click("#wo-WO-F h2 a")
    await page.wait_for_url(site + "/orders/WO-F")
    await expect(page.locator("h1")).to_contain_text("WO-F")
    ids = await page.locator("#order-events tbody tr td:nth-child(2)").all_inner_texts()
    assert ids == ["x1", "c2", "i1", "rel-F"]  # newest first, only this order's
    assert await page.locator("#order-lines tbody tr").count() == 2 + 10 + 6  # i1, c2, x1
    # cost build-up: one point per posting event (i1, c2) for charged and for standard
    assert await page.locator("#chart-build-up circle.pt-charged").count() == 2
    assert await page.locator("#chart-build-up circle.pt-standard").count() == 2
    assert await page.locator("#chart-variances rect.bar").count() == 4
    # labor efficiency at close: 0.5 h x 5 standard at WC3 not reported -> -125.00
    await expect(page.locator("#chart-variances rect.bar title").nth(2)).to_have_text(
        "Labor efficiency: \u2212125.00")
    # output: all 5 good in the 09:00 quarter (c2 at 09:10)
    await expect(page.locator("#chart-output rect.bar-good title")).to_have_text(
        ["09:00: good 5"])
    assert await page.evaluate(DRAWN_AS_WRITTEN) == []  # output and variance bars
    await shot(page, "order")
    await page.goto(site + "/orders/NOPE")
    await expect(page.locator("h1")).to_have_text("Not found")
    await expect(page.locator("main")).to_contain_text("No work order NOPE in the journal.")
    await ctx.close()


async def test_a_gl_line_drills_down_to_its_event_and_the_raw_reading(site, browser):  # noqa: F811
    from playwright.async_api import expect

    ctx, page = await _login(browser, site)
    await page.goto(site + "/ledger")  # line 14: c1's credit to WIP, from plc-assy's count
    await page.locator("#recent-lines a", has_text="14").first.click()
    await expect(page.locator("h1")).to_contain_text("Event #5")
    await expect(page.locator("tr.marked td").first).to_have_text("14")
    await expect(page.locator("#event")).to_contain_text("plc-assy")
    reading = page.locator("#reading")
    await expect(reading.locator("tr", has_text="attrs.node")).to_contain_text("ns=2;s=Assy.Good")
    await expect(reading.locator("tr", has_text="value")).to_contain_text("4512")
    await shot(page, "trace-event")
    # the order page's lines go to the same place
    await page.goto(site + "/orders/WO-S")
    assert await page.locator("#order-lines a", has_text="14").first.get_attribute(
        "href") == "/trace/event/5?line=14#line-14"
    # and an event no device caused says so
    await page.goto(site + "/trace/event/7")
    await expect(page.locator("#reading")).to_contain_text("did not come from a device reading")
    await ctx.close()


async def test_lot_trace_tree_shows_exactly_the_expected_nodes(site, browser):  # noqa: F811
    from playwright.async_api import expect

    ctx, page = await _login(browser, site)
    await page.goto(site + "/trace?q=LOT-A1")
    await page.wait_for_url(site + "/trace/lot/LOT-A1")
    nodes = page.locator("#lot-tree li.node")
    await expect(nodes).to_have_count(7)
    got = [(await n.get_attribute("data-depth"), (await n.locator(".strong").inner_text()))
           for n in await nodes.all()]
    assert got == [("0", "lot LOT-A1"), ("1", "received on PO-1"),
                   ("2", "backflushed into WO-S"), ("3", "WO-S produced S"),
                   ("4", "backflushed into WO-F"), ("5", "WO-F produced F"),
                   ("6", "shipped on SO-1")]
    assert await page.locator("#lot-tree li.possible").count() == 1
    await shot(page, "trace-lot")
    await page.goto(site + "/trace/shipment/SO-1")
    await expect(page.locator("#lot-tree li[data-type=receipt]")).to_have_count(3)
    await ctx.close()


async def test_charts_on_the_overview_and_ledger_have_a_point_per_quarter(
        site, browser):  # noqa: F811
    from playwright.async_api import expect

    ctx, page = await _login(browser, site)
    # WO-S runs on WC1: its 10 good at 08:40, one column, the plan 10/h = 2.5 a quarter
    await expect(page.locator("#line-WC1 rect.bar-good title")).to_have_text(["08:30: good 10"])
    await expect(page.locator("#line-WC1 line.plan-line title")).to_have_text("plan 2.5")
    assert await page.evaluate(DRAWN_AS_WRITTEN) == []
    # one quarter of 32 on the shift's axis: the bar is narrower than a 32nd of the chart
    bar = await page.locator("#line-WC1 rect.bar-good").bounding_box()
    chart = await page.locator("#line-WC1 svg.chart").bounding_box()
    assert 0 < bar["width"] < chart["width"] / 32
    await expect(page.locator("#latest-events tbody tr").first).to_contain_text("wo_close")
    await page.goto(site + "/ledger")
    # postings in six quarters: 08:00 08:15 08:30 09:00 09:15 09:30
    await expect(page.locator("#chart-values circle.pt-wip")).to_have_count(6)
    await expect(page.locator("#chart-values circle.pt-stock")).to_have_count(6)
    await shot(page, "ledger-chart")
    await page.goto(site + "/orders/WO-S")
    await expect(page.locator("#wip-split td").nth(4)).to_have_text("0.00")
    await ctx.close()


async def test_item_page_from_the_stock_page_with_its_moves_and_cost_tree(
        site, browser):  # noqa: F811
    from playwright.async_api import expect

    ctx, page = await _login(browser, site)
    await page.goto(site + "/stock")
    await page.locator("a.item-link", has_text="F").first.click()
    await page.wait_for_url(site + "/items/F")
    # made 5 on WO-F at 61.50 (307.50), shipped 3 at standard (184.50): 2 left, 123.00
    await expect(page.locator("#item-moves tbody tr td:nth-child(8)")).to_have_text(["5", "2"])
    await expect(page.locator("#item-moves tbody tr td:nth-child(9)")).to_have_text(
        ["307.50", "123.00"])
    await expect(page.locator("#cost-tree li.node")).to_have_count(8)
    # a component one level down is indented further than its parent line
    s_box = await page.locator('#cost-tree li[data-depth="1"]').first.bounding_box()
    a_box = await page.locator('#cost-tree li[data-depth="2"] .strong').first.bounding_box()
    s_text = await page.locator('#cost-tree li[data-depth="1"] .strong').first.bounding_box()
    assert a_box["x"] > s_text["x"] >= s_box["x"]
    await shot(page, "item")
    await page.click('#cost-tree a:text-is("S · op 10 · backflush")')
    await page.wait_for_url(site + "/items/S")
    await ctx.close()


@pytest.mark.parametrize("path", ["/", "/orders", "/orders/WO-F", "/trace/event/5",
                                  "/trace/lot/LOT-A1", "/trace/shipment/SO-1", "/ledger",
                                  "/stock", "/exceptions", "/alerts", "/items/F", "/items/A",
                                  "/money", "/audit", "/reconcile", "/trace",
                                  "/orders/WO-S", "/trace/batch/trace-plant-1"])
async def test_pages_fit_a_tablet_without_horizontal_scroll(site, browser, path):  # noqa: F811
    ctx, page = await _login(browser, site, width=800)
    resp = await page.goto(site + path)
    assert resp.status == 200, path
    # every page as the tests saw it at a tablet's width (test-artifacts/, see README)
    await shot(page, "tablet-" + (path.strip("/").replace("/", "-") or "overview"))
    await assert_fits(page)
    await ctx.close()
