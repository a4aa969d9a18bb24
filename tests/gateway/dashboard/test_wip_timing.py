"""Negative WIP on a running order is timing under standard costing, by hand: F's
completions relieve WIP at its full standard (61.50) while B is issued by hand and WC3's
labor is reported, so both reach WIP later (tests/gateway/plant.py has the roll-up).

  per unit F:  backflushed at completion  S 9.00 + 3 C 1.50 + WC2 0.2 h x 50 = 20.50
               charged later              B 1.00 + WC3 0.5 h x (50 + 30)    = 41.00
  2 completed: 2 x 20.50 - 2 x 61.50                                         = -82.00
  issue 2 B at 1.00:                                                -82.00 + 2.00 = -80.00
  report 1 h at WC3:                                                -80.00 + 80.00 = 0.00
"""

from __future__ import annotations

import re

import pytest

from gateway.config import load_config
from gateway.dashboard.wip import charged_later
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from tests.gateway.plant import ev, write_plant

from .test_pages import cells, page

BEFORE = [ev("r2", "receipt", item="B", qty=50, location="L2", unit_price=1.0),
          ev("r3", "receipt", item="C", qty=500, location="L2", unit_price=0.5),
          ev("rS", "receipt", item="S", qty=20, location="L2", unit_price=9.0),
          ev("rel", "wo_release", work_order="WO-F", item="F", qty=5, line="WC2"),
          ev("c1", "completion", work_order="WO-F", qty=2, location="FG")]
LATER = [ev("i1", "issue", work_order="WO-F", item="B", qty=2, location="L2"),
         ev("l1", "labor", work_order="WO-F", operation=20, hours=1.0)]


def _journal(tmp_path, events) -> tuple[list[int], object]:
    cfg = load_config(write_plant(tmp_path))
    master = load_master(cfg)
    j = Journal(str(cfg.gateway.db), master)
    wips = []
    try:
        for e in events:
            [res] = j.submit([Submission(e, source="erp")])
            assert res.status == "applied", res
            (wip,) = j.conn.execute("SELECT coalesce(sum(wip), 0) FROM work_orders").fetchone()
            wips.append(wip)
    finally:
        j.close()
    return wips, master


def test_relief_ahead_of_issue_and_labor_is_the_standard_still_to_come(tmp_path):
    wips, master = _journal(tmp_path, BEFORE + LATER)
    assert wips[-3:] == [-8200, -8000, 0]
    assert charged_later(master) == {"F": ("B issues", "WC3 labor")}


@pytest.fixture
def db_path(tmp_path):
    """The running order after its completions, before the issue and the labor."""
    _journal(tmp_path, BEFORE)
    return tmp_path / "var" / "gateway.db"


@pytest.fixture
async def viewer(dashboard):
    d = await dashboard(charged_later={"F": ("B issues", "WC3 labor")})
    assert (await d.login("vic")).status == 303
    return d


async def test_order_page_splits_wip_and_says_why_it_is_negative(viewer):
    html = await page(viewer, "/orders/WO-F")
    split = html[html.index('id="wip-split"'):]
    assert cells(split)[5:10] == ["21.00", "16.00", "4.00",
                                  "\u2212123.00", "\u221282.00"]
    assert ("Negative because 2 units were relieved at standard ahead of their B issues and "
            "WC3 labor: charges still to come") in split
    orders = await page(viewer, "/orders")
    assert "ahead of their B issues and WC3 labor" in orders
    overview = await page(viewer, "/")
    card = overview[overview.rindex('<a class="stat', 0, overview.index('id="card-wip"')):]
    card = card[:card.index("</a>")]
    assert re.search(r'title="charged: material 21\.00, labor 16\.00, overhead 4\.00; '
                     r'relieved at standard 123\.00\. WO-F: Negative because 2 units', card)
    assert "charged 41.00 \u2212 relieved 123.00 \u00b7 charges still to come" in card
