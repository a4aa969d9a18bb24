"""The alerts page in headless Chromium, over a journal whose alerts a real AlertBook
judged: a supervisor acknowledges an alert with a note; a viewer sees it and has no
button, and a hand-made POST from the viewer's session is refused."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer

from gateway.actions import make_act
from gateway.alerts import AlertsSection
from gateway.config import load_config
from gateway.dashboard import DashboardSettings, DashboardState, create_app
from gateway.masterdata import load_master
from gateway.metrics import Metrics
from gateway.users import UserStore
from tests.e2e.test_dashboard_browser import (PASSWORDS, assert_fits, browser,  # noqa: F401
                                              shot)
from tests.gateway.alerts.conftest import Plant
from tests.gateway.alerts.test_rules import STOCK, good, release, scrap
from tests.gateway.plant import write_plant

pytestmark = pytest.mark.browser
KEY = "scrap_rate:WO-1:op10"


@pytest.fixture
async def site(tmp_path):
    (tmp_path / "plant").mkdir()
    master = load_master(load_config(write_plant(tmp_path / "plant")))
    plant = Plant(tmp_path / "alerts.db", master, AlertsSection())
    plant.send(STOCK, release(), good(18), scrap(3))  # 3 of 21 scrapped: 14.3 % > 5 %
    users = UserStore(tmp_path / "users.toml")
    users.add("sam", "supervisor", PASSWORDS["sam"])
    users.add("vic", "viewer", PASSWORDS["vic"])
    state = DashboardState(
        db_path=tmp_path / "alerts.db", users=users, metrics=Metrics(),
        settings=DashboardSettings(gateway_id="alerts", secure_cookies=False,
                                   sse_interval_s=0.2),
        act=make_act(plant.journal, None, lambda fn: asyncio.to_thread(fn)))
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}", plant
    await server.close()
    plant.journal.close()


async def _login(browser, base: str, name: str):  # noqa: F811 - the fixture
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    await page.goto(base + "/login?next=/alerts")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/alerts")
    return ctx, page


def _state(plant) -> tuple:
    return plant.journal.conn.execute(
        "SELECT state, acked_by, ack_note FROM alerts WHERE key=?", (KEY,)).fetchone()


async def test_a_supervisor_acknowledges_an_alert_and_a_viewer_cannot(site, browser):  # noqa: F811
    from playwright.async_api import expect

    base, plant = site
    ctx, page = await _login(browser, base, "vic")
    card = page.locator(".card", has_text=KEY)
    await expect(card).to_contain_text("scrap 14.3 % on WO-1 op 10")
    await expect(card.locator("button")).to_have_count(0)  # nothing to press
    await expect(page.locator("text=You are logged in as a viewer")).to_be_visible()
    # the viewer's own valid CSRF token (the logout form carries it): refused by role
    token = await page.locator("input[name=csrf]").first.input_value()
    assert token
    status = await page.evaluate(
        """async ([key, csrf]) => (await fetch('/alerts/ack', {method: 'POST', body:
             new URLSearchParams({key, note: 'x', csrf})})).status""", [KEY, token])
    assert status == 403
    assert _state(plant) == ("open", None, None)
    await ctx.close()

    ctx, page = await _login(browser, base, "sam")
    card = page.locator(".card", has_text=KEY)
    await card.locator("form[action='/alerts/ack'] input[name=note]").fill("die changed")
    await card.locator("form[action='/alerts/ack'] button").click()
    await page.wait_for_url(base + "/alerts")
    await expect(page.locator(".card", has_text=KEY)).to_contain_text(
        "acknowledged by sam")
    assert _state(plant) == ("acknowledged", "sam", "die changed")
    await shot(page, "alerts")
    await ctx.close()


async def test_the_alert_pages_fit_a_tablet(site, browser):  # noqa: F811
    from playwright.async_api import expect

    base, _ = site
    ctx, page = await _login(browser, base, "sam")
    await page.set_viewport_size({"width": 800, "height": 1280})
    await page.reload()
    await assert_fits(page)
    await shot(page, "tablet-alerts-open")
    await page.locator(".card", has_text=KEY).locator("a[href^='/alerts/']").first.click()
    await page.wait_for_url(base + "/alerts/*")
    await expect(page.locator("svg.chart").first).to_be_visible()
    await assert_fits(page)
    await shot(page, "tablet-alert")
    await ctx.close()
