"""What a first-time user tripped over: names of accounts, the 404 page, the favicon,
overproduction, the stock page's quantity total and its stale banner."""

from __future__ import annotations

import re
import sqlite3

import pytest

from gateway.account_names import names_by_code

from .test_pages import cells, page


@pytest.fixture
async def viewer(dashboard):
    d = await dashboard()
    assert (await d.login("vic")).status == 303
    return d


def test_account_names_come_from_role_defaults_and_config_overrides():
    names = names_by_code({"wip": "1400", "ar": "1200", "scrap": "5400", "rounding": "5400"},
                          {"1200": "Debtors"})
    assert names == {"1400": "Work in process", "1200": "Debtors",
                     "5400": "Scrap expense / Rounding differences"}


async def test_unknown_route_gets_the_styled_404_page(viewer):
    resp = await viewer.client.get("/orders/NOPE/nothing-here")
    assert resp.status == 404
    html = await resp.text()
    assert '<nav class="nav">' in html and "Not found" in html
    assert "There is no page at /orders/NOPE/nothing-here." in html
    assert "404: Not Found" not in html


async def test_favicon_is_served_without_login(dashboard):
    d = await dashboard()
    resp = await d.client.get("/favicon.ico", allow_redirects=False)
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/svg+xml"
    assert (await resp.text()).startswith("<svg")


async def test_overproduction_is_flagged(viewer, db_path):
    html = await page(viewer, "/orders")
    assert "overproduction" not in html  # 120 of 500
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE work_orders SET planned = 40, good = 43 WHERE work_order = 'WO-1'")
    conn.close()
    html = await page(viewer, "/orders")
    wo1 = html[html.index('id="wo-WO-1"'):html.index('id="wo-WO-0"')]
    assert re.search(r">overproduction 108%<", wo1)
    assert "overproduction" not in html[html.index('id="wo-WO-0"'):]  # 100 of 100 is not


async def test_stock_totals_per_unit_of_measure_and_can_say_stale(dashboard):
    d = await dashboard(item_uoms={"RAW-STEEL": "kg", "FG-BRACKET": "ea"})
    assert (await d.login("vic")).status == 303
    html = await page(d, "/stock")
    by_status = html[html.index("<h2>By status</h2>"):html.index("</table>")]
    assert re.search(r'data-stale-key="stock_value" data-stale-value="12,238\.22"', html)
    c = cells(by_status)
    assert c[:4] == ["Status", "Lines", "Quantity by unit", "Value"]
    # available holds kilograms and pieces: two totals, never one sum of 1,024.5
    assert c[4:8] == ["available", "2", "120 ea · 904.5 kg", "12,043.22"]
    assert c[-4:] == ["Total", "", "123 ea · 916.5 kg", "12,238.22"]
    assert "1,024.5" not in html
    rm = html[html.index("<h2>RM"):]
    assert re.search(r'class="muted loc-qty"><span class="uom-total">916\.5 kg</span></p>', rm)
