"""The item page on a journal the real Journal wrote from a hand-made stream
(tests/gateway/trace_plant.py), its figures worked out by hand:

  A (steel, standard 2.00): r1 receipt +100 at std    +200.00 -> 100   200.00
                            c1 WO-S 10 frames x 2 A   -40.00  ->  80   160.00
  S (frame, std 9.00):      c1 completion WO-S +10    +90.00  ->  10    90.00
                            c2 WO-F 5 widgets x 1 S   -45.00  ->   5    45.00
  F (widget) = S 9.00 + 3 C x 0.50 + 1 B x 1.00 + WC2 0.2 h x 50 + WC3 0.5 h x 80 = 61.50
  S          = 2 A x 2.00 + WC1 0.1 h x (30 + 20)                                  =  9.00
"""

from __future__ import annotations

import re
import shutil

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.config import load_config
from gateway.dashboard import DashboardSettings, DashboardState, create_app
from gateway.masterdata import load_master
from gateway.users import UserStore
from tests.gateway import trace_plant

from .conftest import Dashboard
from .test_pages import cells


@pytest.fixture
async def site(tmp_path, users_template):
    cfg = load_config(trace_plant.build(tmp_path))
    shutil.copy(users_template, tmp_path / "users.toml")
    state = DashboardState(db_path=tmp_path / cfg.gateway.db,
                           users=UserStore(tmp_path / "users.toml"),
                           settings=DashboardSettings(gateway_id="trace-plant",
                                                      secure_cookies=False),
                           master=load_master(cfg))
    client = TestClient(TestServer(create_app(state), host="127.0.0.1"))
    await client.start_server()
    d = Dashboard(client, state)
    assert (await d.login("vic")).status == 303
    yield d
    await client.close()


async def text(d, path: str, status: int = 200) -> str:
    resp = await d.client.get(path)
    assert resp.status == status, path
    return await resp.text()


def section(html: str, ident: str) -> str:
    m = re.search(rf'<section class="card" id="{ident}">(.*?)</section>', html, re.S)
    assert m, ident
    return m.group(1)


def rows(html: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    return [cells(r) for r in re.findall(r"<tr.*?</tr>", body, re.S)]


async def test_movements_carry_a_running_quantity_and_value(site):
    html = await text(site, "/items/A")
    assert [r[2:] for r in rows(section(html, "item-moves"))] == [
        ["receipt", "LOT-A1", "2026-11-20 08:00:00", "100", "+200.00", "100", "200.00"],
        ["completion", "WO-S", "2026-11-20 08:40:00", "\u221220", "\u221240.00", "80", "160.00"]]
    assert rows(section(html, "item-stock")) == [["L1", "available", "LOT-A1", "80", "160.00"]]
    html = await text(site, "/items/S")
    assert [(r[2], r[5], r[6], r[7], r[8]) for r in rows(section(html, "item-moves"))] == [
        ("completion", "10", "+90.00", "10", "90.00"),
        ("completion", "\u22125", "\u221245.00", "5", "45.00")]
    assert re.search(r'data-live="item_value">45\.00<', html)


async def test_standard_cost_shows_the_bom_and_routing_that_build_it(site):
    html = await text(site, "/items/F")
    tree = section(html, "item-cost")
    nodes = re.findall(r'<li class="node" data-depth="(\d)" data-kind="(\w+)">(.*?)</li>', tree,
                       re.S)
    got = [(int(depth), kind, " ".join(re.sub(r"<[^>]+>", " ", body).split()).split(" ")[0],
            " ".join(re.sub(r"<[^>]+>", " ", body).split()).split(" ")[-1])
           for depth, kind, body in nodes]
    assert got == [(0, "item", "F", "61.5000"),
                   (1, "component", "S", "9.0000"),  # op 10: 1 S at 9.00
                   (2, "component", "A", "4.0000"),  # 2 A x 2.00 inside S
                   (2, "step", "op", "5.0000"),      # WC1 0.1 h x 50
                   (1, "component", "C", "1.5000"),  # 3 C x 0.50
                   (1, "component", "B", "1.0000"),  # op 20, issued by hand
                   (1, "step", "op", "10.0000"),     # WC2 0.2 h x 50
                   (1, "step", "op", "40.0000")]     # WC3 0.5 h x 80
    assert sum(float(a) for d, k, _, a in got if d == 1) == 61.5
    assert 'href="/items/S"' in tree
    assert re.search(r'data-live="item_std">61\.5000<', html)


async def test_linked_from_stock_and_orders_and_unknown_items_get_the_error_page(site):
    assert 'href="/items/F"' in await text(site, "/stock")
    assert 'href="/items/F"' in await text(site, "/orders/WO-F")
    assert 'href="/items/F"' in await text(site, "/orders")
    html = await text(site, "/items/NOPE", 404)
    assert "No item NOPE in the journal or the master data." in html
