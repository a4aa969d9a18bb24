"""The alerts page over a journal whose alerts a real AlertBook judged: a supervisor
acknowledges and resolves through the gateway's act seam, a viewer is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.actions import make_act
from gateway.alerts import AlertsSection
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
