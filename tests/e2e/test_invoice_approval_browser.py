"""A held supplier invoice approved on the dashboard in headless Chromium, through the
gateway's own actions on a real journal: a controller approves it and it posts; a
viewer, and a supervisor, are refused and nothing posts.

The small plant (tests/gateway/plant.py): r1 receives 100 A at 2.10 on PO-1; INV-7 bills
10 A at 2.30, 9.52 % over PO-1's 2.10 (tolerance 2 %), and is held. Approved: GRNI Dr
10 x 2.10 = 21.00, AP Cr 10 x 2.30 = 23.00, invoice price variance Dr 2.00.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp.test_utils import TestServer

from gateway.actions import make_act
from gateway.audit import AuditLog
from gateway.commands._common import load_plant, open_journal
from gateway.dashboard import DashboardSettings, DashboardState, create_app
from gateway.mapping import Mapper
from gateway.metrics import Metrics
from gateway.users import UserStore
from tests.e2e.test_dashboard_browser import browser, shot  # noqa: F401 (a fixture)
from tests.gateway.plant import ev, gateway, write_events, write_plant

pytestmark = pytest.mark.browser

PASSWORDS = {"carla": "carla-controls-1", "sam": "sam-supervises-1", "vic": "vic-only-looks-1"}


@pytest.fixture
async def site(tmp_path):
    cfg = write_plant(tmp_path)
    gateway("ingest", "-c", str(cfg), str(write_events(tmp_path / "day.jsonl", [
        ev("r1", "receipt", item="A", qty=100, location="L1", unit_price=2.10, po="PO-1"),
        ev("iv1", "supplier_invoice", invoice="INV-7", po="PO-1", item="A", qty=10,
           unit_price=2.30, supplier="Acme")])), check=True)
    plant = load_plant(argparse.Namespace(config=str(cfg)))
    journal = open_journal(plant, lazy=True)
    users = UserStore(tmp_path / "users.toml")
    for name, role in (("carla", "controller"), ("sam", "supervisor"), ("vic", "viewer")):
        users.add(name, role, PASSWORDS[name])
    writer = ThreadPoolExecutor(1)  # the gateway's single journal thread

    async def on_journal_thread(fn):
        return await asyncio.get_running_loop().run_in_executor(writer, fn)

    act = make_act(journal, Mapper(plant.config, plant.master, lambda line: None),
                   on_journal_thread)
    audit = AuditLog(plant.db)
    state = DashboardState(db_path=plant.db, users=users, metrics=Metrics(), devices=list,
                           act=act, audit=audit,
                           settings=DashboardSettings(secure_cookies=False,
                                                      accounts=plant.config.accounts.by_key()))
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}", plant.db
    await server.close()
    audit.close()
    writer.shutdown()
    journal.close()


async def log_in(browser, base: str, name: str):  # noqa: F811 (browser: the fixture)
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    await page.goto(base + "/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    await page.goto(base + "/exceptions")
    return ctx, page


def _lines(db: str, event_id: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute("SELECT account, debit, credit FROM journal_lines"
                                   " WHERE event_id=?", (event_id,)).fetchall())
    finally:
        conn.close()


async def _forge_approve(page) -> list:
    """The POST a controller's button sends, with this session's own token."""
    token = await page.locator("input[name=csrf]").first.get_attribute("value")
    exc_id = (await page.locator("article.exc").first.get_attribute("id")).split("-")[1]
    return await page.evaluate(
        """async ([token, id]) => {
             const r = await fetch(`/exceptions/${id}/approve`,
                                   {method: "POST", body: new URLSearchParams({csrf: token})});
             return [r.status, await r.text()];
           }""", [token, exc_id])


async def test_a_controller_approves_a_held_invoice_and_it_posts(site, browser):  # noqa: F811
    from playwright.async_api import expect

    base, db = site
    ctx, page = await log_in(browser, base, "carla")
    card = page.locator("article.exc-open").first
    await expect(card).to_contain_text("price 2.30 is 9.52 % over PO-1's 2.10 (tolerance 2 %)")
    await shot(page, "exceptions-controller")
    await card.locator("text=Approve price").click()
    await expect(page.locator(".flash-ok")).to_contain_text("supplier_invoice iv1 booked")
    await expect(page.locator("article.exc-open")).to_have_count(0)
    assert _lines(db, "iv1") == [("2000", 0, 2300), ("2100", 2100, 0), ("5215", 200, 0)]
    await page.goto(base + "/exceptions?status=resolved")
    await expect(page.locator("article.exc-resolved").first).to_contain_text(
        "Resolved by carla")
    await ctx.close()


async def test_a_viewer_and_a_supervisor_are_refused(site, browser):  # noqa: F811
    base, db = site
    for name, role in (("vic", "viewer"), ("sam", "supervisor")):
        ctx, page = await log_in(browser, base, name)
        assert await page.locator("text=Approve price").count() == 0
        if name == "sam":
            assert await page.locator("text=A controller approves an invoice price.").count() == 1
        status, text = await _forge_approve(page)
        assert status == 403 and f"{name} is a {role}" in text, (status, text)
        await ctx.close()
    assert _lines(db, "iv1") == []
