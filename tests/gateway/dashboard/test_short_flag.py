"""An order released short of components is flagged on the orders list and its own
page, from its open `short_components` exception (the one record of the shortage): the
flag names each component and quantity, links to the exception, and goes when the
exception is dismissed. Journaled by the real Journal with the release check on warn.

  WO-F: 5 F on WC2 (L2) needs 5 S, 15 C and 5 B at L2; L2 holds 2 S, 500 C, no B
  WO-S: 10 S on WC1 (L1) needs 20 A at L1; L1 holds 100 A: not short
"""

from __future__ import annotations

import re
import sqlite3

import pytest

from gateway.config import load_config
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from gateway.release_check import Short, components_in, reason_of
from tests.gateway.plant import ev, write_plant

from .test_pages import page

STREAM = [ev("r1", "receipt", item="A", qty=100, location="L1", unit_price=2.0),
          ev("r2", "receipt", item="S", qty=2, location="L2", unit_price=9.0),
          ev("r3", "receipt", item="C", qty=500, location="L2", unit_price=0.5),
          ev("rel-S", "wo_release", work_order="WO-S", item="S", qty=10, line="WC1"),
          ev("rel-F", "wo_release", work_order="WO-F", item="F", qty=5, line="WC2")]
WO_F_SHORT = ["S at L2: needs 5, 2 available", "B at L2: needs 5, 0 available"]


@pytest.fixture
def db_path(tmp_path):
    cfg = load_config(write_plant(tmp_path))
    j = Journal(str(cfg.gateway.db), load_master(cfg), release_check="warn")
    try:
        for e in STREAM:
            [res] = j.submit([Submission(e, source="erp")])
            assert res.status == "applied", res
    finally:
        j.close()
    return tmp_path / "var" / "gateway.db"


@pytest.fixture
async def viewer(dashboard):
    d = await dashboard()
    assert (await d.login("vic")).status == 303
    return d


def _card(html: str, work_order: str) -> str:
    card = html[html.index(f'id="wo-{work_order}"'):]
    return card[:card.index("</section>")]


def _exception_id(db_path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        [(exc_id, reason)] = conn.execute(
            "SELECT id, reason FROM exceptions WHERE kind = 'short_components'").fetchall()
    finally:
        conn.close()
    assert components_in(reason) == WO_F_SHORT
    return exc_id


async def test_orders_list_and_page_flag_the_short_release_with_its_components(
        viewer, db_path):
    exc_id = _exception_id(db_path)
    orders = await page(viewer, "/orders")
    flagged = _card(orders, "WO-F")
    pill = re.search(r'<a class="pill" data-state="hold" href="/exceptions#exc-(\d+)" '
                     r'title="released short of components: ([^"]*)">short of components</a>',
                     flagged)
    assert pill and int(pill.group(1)) == exc_id
    assert pill.group(2) == "; ".join(WO_F_SHORT)
    assert re.findall(r"<li>([^<]*)</li>", flagged) == WO_F_SHORT
    assert "short of components" not in _card(orders, "WO-S")  # it had its 20 A
    order = await page(viewer, "/orders/WO-F")
    assert re.findall(r'<ul class="short-list">(.*?)</ul>', order, re.S) == [
        "".join(f"<li>{s}</li>" for s in WO_F_SHORT)]
    assert f'href="/exceptions#exc-{exc_id}">exception #{exc_id}</a>' in order
    assert "short of components" not in await page(viewer, "/orders/WO-S")


async def test_the_flag_goes_when_its_exception_is_dismissed(viewer, db_path):
    exc_id = _exception_id(db_path)
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE exceptions SET status = 'dismissed', resolution = 'stock arrived'"
                     " WHERE id = ?", (exc_id,))
    conn.close()
    assert "short of components" not in await page(viewer, "/orders")
    assert "short-list" not in await page(viewer, "/orders/WO-F")


def test_components_are_read_back_from_the_reason_the_journal_writes():
    short = [Short("A", "L1", 22.0, 19.0), Short("B-2", "L2", 5.5, 0.0)]
    assert components_in(reason_of("WO 1", short)) == [s.text() for s in short]
    assert components_in("unknown item 'X'") == []
