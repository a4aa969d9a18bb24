"""The alerts page over a journal whose alerts a real AlertBook judged: a supervisor
acknowledges and resolves through the gateway's act seam, a viewer is refused."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from gateway.actions import make_act
from gateway.alerts import AlertsSection
from gateway.alerts.rules import issue_standards
from gateway.config import load_config
from gateway.masterdata import load_master
from tests.gateway.alerts.conftest import Plant
from tests.gateway.alerts.test_rules import STOCK, good, release, scrap
from tests.gateway.plant import write_plant

KEY = "scrap_rate:WO-1:op10"


@pytest.fixture
def plant(tmp_path):
    (tmp_path / "plant").mkdir()
    master = load_master(load_config(write_plant(tmp_path / "plant")))
    p = Plant(tmp_path / "alerts.db", master, AlertsSection())
    p.send(STOCK, release(), good(18), scrap(3))
    yield p
    p.journal.close()


@pytest.fixture
def db_path(plant) -> Path:
    return Path(plant.path)


@pytest.fixture
def act(plant):
    return make_act(plant.journal, None, lambda fn: asyncio.to_thread(fn))


def _state(plant) -> tuple:
    return plant.journal.conn.execute(
        "SELECT state, acked_by, ack_note, resolved_by FROM alerts WHERE key=?", (KEY,)).fetchone()


async def test_supervisor_acknowledges_then_resolves(dashboard, plant):
    d = await dashboard()
    assert (await d.login("sam")).status == 303
    page = await (await d.client.get("/alerts")).text()
    assert KEY in page and "scrap 14.3 % on WO-1 op 10 (3 of 21)" in page
    assert 'data-live="alerts_open">1<' in page and 'action="/alerts/ack"' in page
    token = await d.csrf("/alerts")
    resp = await d.post("/alerts/ack", {"key": KEY, "note": "die changed"}, token=token)
    assert resp.status == 303
    assert _state(plant) == ("acknowledged", "sam", "die changed", None)
    again = await d.post("/alerts/ack", {"key": KEY, "note": ""}, token=token)
    assert again.status == 303
    assert "is acknowledged, cannot be acknowledged" in await (await d.client.get("/alerts")).text()
    await d.post("/alerts/resolve", {"key": KEY, "note": "checked"}, token=token)
    assert _state(plant) == ("resolved", "sam", "die changed", "sam")
    assert "No alerts here." in await (await d.client.get("/alerts")).text()  # active only
    shown = await (await d.client.get("/alerts?state=resolved&rule=scrap_rate")).text()
    assert "resolved by sam" in shown and "checked" in shown


async def test_viewer_sees_but_is_refused(dashboard, plant):
    d = await dashboard()
    assert (await d.login("vic")).status == 303
    page = await (await d.client.get("/alerts")).text()
    assert KEY in page and "/alerts/ack" not in page and "only supervisors" in page
    token = await d.csrf("/alerts")
    resp = await d.post("/alerts/ack", {"key": KEY, "note": "x"}, token=token)
    assert resp.status == 403
    assert _state(plant) == ("open", None, None, None)


async def test_filters_are_checked(dashboard):
    d = await dashboard()
    await d.login("vic")
    resp = await d.client.get("/alerts?rule=nonsense")
    assert resp.status == 400 and "rule: 'nonsense'" in await resp.text()


async def test_the_header_badge_is_live(dashboard, plant):
    from gateway.dashboard.sse import snapshot

    d = await dashboard()
    assert (await snapshot(d.state))["alerts_open"] == "1"
    plant.send(good(30, minute=9))  # 3 of 51 = 5.9 %, still above 5 %
    plant.send(good(16, minute=10))  # 3 of 67 = 4.48 %, below 0.9 x 5 %: resolved
    assert (await snapshot(d.state))["alerts_open"] == "0"


def _points(page: str, series: str) -> list[str]:
    """The titles of one series' points: '<x label>: <series> <value>'."""
    return re.findall(rf'<circle class="pt pt-{series}"[^>]*><title>([^<]*)</title>', page)


async def test_a_scrap_alert_links_to_its_scrap_per_hour_chart(dashboard, plant):
    plant.send(good(17, minute=62), scrap(1, minute=63))
    d = await dashboard()
    await d.login("vic")
    listing = await (await d.client.get("/alerts")).text()
    [alert_id] = re.findall(r'href="/alerts/(\d+)#chart"', listing)
    page = await (await d.client.get(f"/alerts/{alert_id}")).text()
    assert KEY in page and page.count('<svg class="chart"') == 1
    # 08:00: 3 scrap of 21 units; 09:00: 1 of 18
    assert _points(page, "scrap_pct") == ["08:00: scrap_pct 14.3 %", "09:00: scrap_pct 5.6 %"]
    assert _points(page, "limit") == ["08:00: limit 5.0 %", "09:00: limit 5.0 %"]
    assert 'href="/orders/WO-1"' in page
    assert (await d.client.get("/alerts/999")).status == 404


async def test_a_consumption_alert_charts_issued_against_standard(dashboard, plant):
    standards = issue_standards(plant.journal.master)
    assert standards["F"] == {"B": 1.0}    # F takes 1 B a unit, hand-issued
    plant.send(("receipt", 0, {"item": "B", "qty": 50, "location": "L2", "unit_price": 1.0}),
               release("WO-F", "F", 8, "WC2"))
    plant.send(("issue", 2, {"work_order": "WO-F", "item": "B", "qty": 9.25, "location": "L2"}))
    plant.send(good(10, "WO-F", 4, "L2"))  # +15.6 % opened it (limit +8 %); 10 made resolve it
    d = await dashboard(issue_standards=standards)
    await d.login("vic")
    listing = await (await d.client.get("/alerts?state=all&rule=consumption")).text()
    [alert_id] = re.findall(r'href="/alerts/(\d+)#chart"', listing)
    page = await (await d.client.get(f"/alerts/{alert_id}")).text()
    # after the issue: 9.25 against 8 (the planned quantity); after 10 made: against 10
    assert _points(page, "issued") == ["08:02:00: issued 9.25", "08:04:00: issued 9.25"]
    assert _points(page, "standard") == ["08:02:00: standard 8", "08:04:00: standard 10"]
    assert _points(page, "limit") == ["08:02:00: limit 8.64", "08:04:00: limit 10.8"]


def test_scrap_per_hour_of_one_operation(plant):
    from gateway.dashboard.series import output

    plant.send(release("WO-F", "F", 8, "WC2"),
               ("scrap", 2, {"work_order": "WO-F", "qty": 1, "operation": 10}),
               ("scrap", 3, {"work_order": "WO-F", "qty": 3, "operation": 20}),
               good(6, "WO-F", 4, "L2"))
    conn = plant.journal.conn                 # 10 units made: 1 scrap at op 10, 3 at op 20
    assert [(p["scrap"], p["scrap_pct"]) for p in output(conn, 60, "WO-F", operation=20)] \
        == [(3.0, 30.0)]
    assert [(p["scrap"], p["scrap_pct"]) for p in output(conn, 60, "WO-F")] == [(4.0, 40.0)]
